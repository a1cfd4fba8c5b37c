"""`modbot run` as a user runs it: a real process, real Valkey, a real HTTP platform, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from modbot.sinks.webhook import SIGNATURE_HEADER, verify
from tests.helpers import DATA, ROOT, scrape_metrics, write_config

pytestmark = pytest.mark.slow
SECRET = "daemon-test-secret"


def _env() -> dict[str, str]:
    env = dict(os.environ, MODBOT_TEST_SECRET=SECRET, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    env.pop("MODBOT_REDIS_URL", None)
    return env


def modbot(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modbot", *args], cwd=cwd, env=_env(), input=input,
                          capture_output=True, text=True, timeout=120)


async def _wait(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.05)


def _start(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "modbot", "run", "--config", str(config), *extra],
                            cwd=config.parent, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _stop(proc: subprocess.Popen[str]) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return proc.returncode, lines


async def test_daemon_moderates_enqueued_comments_and_delivers_signed(tmp_path, redis_url, prefix, platform):
    config = write_config(tmp_path, redis_url, prefix, sink_url=platform.url)
    seed = (DATA / "seed_comment.txt").read_text(encoding="utf-8").strip()
    lines = [{"id": "seed", "text": seed, "author": {"id": "u9", "name": "Baroc Bordello"}},
             {"id": "nice", "text": "Thanks, a clear report on Idlib.", "author": {"id": "u2"}}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n")
    proc = _start(config)
    try:
        out = modbot("enqueue", "--config", str(config), str(tmp_path / "in.jsonl"), cwd=tmp_path)
        assert "added 2 comment(s)" in out.stdout, out.stderr
        assert "in.jsonl:3: skipped: malformed JSON" in out.stderr  # bad lines are named, not added
        await _wait(lambda: len(platform.received) == 2)
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    got = {}
    for headers, body in platform.received:
        assert verify(SECRET, body, headers) and SIGNATURE_HEADER in headers
        d = json.loads(body)
        got[d["comment_id"]] = d
    assert got["seed"]["action"] == "hold" and "antisemitic" in got["seed"]["reason"].lower()
    assert got["nice"]["action"] == "approve"
    assert all(set(line) >= {"time", "level", "logger", "msg"} for line in logs)  # JSON logs
    assert any(line.get("comment_id") == "seed" and line["msg"] == "decided" for line in logs)
    assert logs[-1]["msg"] == "stopped"


async def test_embedded_valkey_keeps_data_and_enqueue_finds_it(tmp_path, prefix):
    config = write_config(tmp_path, None, prefix)
    proc = _start(config)
    try:
        await _wait(lambda: (tmp_path / "data" / "modbot-valkey.url").exists())
        url = (tmp_path / "data" / "modbot-valkey.url").read_text().strip()
        out = modbot("enqueue", "--config", str(config), "-", cwd=tmp_path,
                     input=json.dumps({"id": "e1", "text": "hello", "author": {"id": "u"}}) + "\n")
        assert "added 1 comment(s)" in out.stdout, out.stderr
        import redis
        client = redis.Redis.from_url(url)
        await _wait(lambda: client.exists(f"{prefix}decision:e1"))
        client.close()
    finally:
        code, logs = _stop(proc)
    assert code == 0
    started = next(line for line in logs if line["msg"] == "started embedded Valkey")
    assert started["data_dir"] == str((tmp_path / "data").resolve()) and started["appendonly"] is True
    assert list((tmp_path / "data").rglob("*.aof*"))  # append-only file on disk
    # Restart on the same data dir: the decision is still there.
    proc = _start(config)
    try:
        await _wait(lambda: (tmp_path / "data" / "modbot-valkey.url").exists())
        import redis
        client = redis.Redis.from_url((tmp_path / "data" / "modbot-valkey.url").read_text().strip())
        assert client.exists(f"{prefix}decision:e1")
        client.close()
    finally:
        code, _ = _stop(proc)
    assert code == 0


def test_invalid_rules_refused_at_start_with_line(tmp_path, redis_url, prefix):
    config = write_config(tmp_path, redis_url, prefix)
    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n  - id: r1\n    action: obliterate\n")
    out = modbot("run", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert "rules.yaml:4" in out.stderr and "obliterate" in out.stderr


def test_check_json_explains(tmp_path, redis_url, prefix):
    config = write_config(tmp_path, redis_url, prefix)
    seed = (DATA / "seed_comment.txt").read_text(encoding="utf-8").strip()
    out = modbot("check", "--config", str(config), "--scorers", "patterns", "--json", seed, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"action", "rule", "reason", "scores", "matches"} <= set(result)
    assert result["action"] == "hold"
    m = next(m for m in result["matches"] if m["category"] == "antisemitic_conspiracy")
    assert seed[m["start"]:m["end"]] == m["text"] and {"pattern", "start", "end", "text"} <= set(m)
    text = modbot("check", "--config", str(config), seed, cwd=tmp_path).stdout
    assert "action: hold" in text and "antisemitic_conspiracy" in text


async def test_daemon_with_local_detoxify_checkpoint(tmp_path, redis_url, prefix, platform):
    from modbot.scoring.tiny_checkpoint import build_tiny_checkpoint

    ckpt, config_dir = build_tiny_checkpoint(tmp_path / "model", "bert")
    config = write_config(tmp_path, redis_url, prefix, sink_url=platform.url, scorers="patterns, toxicity",
                          extra="")
    text = config.read_text().replace(
        "scorers:\n  enabled: [patterns, toxicity]\n",
        f"scorers:\n  enabled: [patterns, toxicity]\n  toxicity:\n    checkpoint: {ckpt}\n"
        f"    config_dir: {config_dir}\n    threads: 1\n")
    config.write_text(text)
    (tmp_path / "in.jsonl").write_text("\n".join(
        json.dumps({"id": f"t{i}", "text": f"comment number {i}", "author": {"id": "u"}}) for i in range(6)))
    proc = _start(config)
    try:
        out = modbot("enqueue", "--config", str(config), str(tmp_path / "in.jsonl"), cwd=tmp_path)
        assert "added 6 comment(s)" in out.stdout, out.stderr
        await _wait(lambda: len(platform.received) == 6)
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    for _, body in platform.received:
        d = json.loads(body)
        assert set(d["scores"]) >= {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
        assert d["versions"]["toxicity"].startswith("detoxify:") and d["versions"]["patterns"]


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_daemon_serves_review_page_and_refuses_a_busy_port(tmp_path, redis_url, prefix):
    import socket
    import urllib.request

    port = _free_port()
    config = write_config(tmp_path, redis_url, prefix)
    config.write_text(config.read_text().replace("review:\n  enabled: false\n",
                                                 f"review:\n  enabled: true\n  port: {port}\n"))
    proc = _start(config)
    try:
        async def up() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).status == 200
            except OSError:
                return False
        async with asyncio.timeout(60):
            while not await up():
                await asyncio.sleep(0.1)
    finally:
        code, logs = _stop(proc)
    assert code == 0
    assert any(line["msg"] == "no moderators yet: add one with `modbot moderators add NAME`" for line in logs)

    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the daemon's old connections may linger
        busy.bind(("127.0.0.1", port))
        busy.listen()
        out = modbot("run", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "review.port" in out.stderr


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie nobody has reaped yet."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


async def test_restart_after_kill_9_stops_the_orphaned_valkey(tmp_path, prefix):
    import redis

    config = write_config(tmp_path, None, prefix)
    url_file = tmp_path / "data" / "modbot-valkey.url"
    proc = _start(config)
    await _wait(lambda: url_file.exists())
    client = redis.Redis.from_url(url_file.read_text().strip())
    orphan_pid = int(client.info("server")["process_id"])
    client.set(f"{prefix}kept", "1")
    client.close()
    proc.kill()  # kill -9: no clean shutdown, the embedded server lives on
    proc.communicate(timeout=30)
    assert _alive(orphan_pid)  # still running

    stale = url_file.stat().st_mtime_ns
    proc = _start(config)
    try:
        await _wait(lambda: url_file.exists() and url_file.stat().st_mtime_ns != stale)
        client = redis.Redis.from_url(url_file.read_text().strip())
        assert int(client.info("server")["process_id"]) != orphan_pid
        assert client.get(f"{prefix}kept") == b"1"  # the orphan flushed its append-only file
        client.close()
        assert not _alive(orphan_pid)
    finally:
        code, logs = _stop(proc)
    assert code == 0
    assert any("did not exit cleanly" in line["msg"] for line in logs)


async def test_prometheus_metrics(tmp_path, redis_url, prefix):

    port = _free_port()
    config = write_config(tmp_path, redis_url, prefix, extra=f"metrics:\n  enabled: true\n  port: {port}\n")
    proc = _start(config)

    def scrape() -> str:
        return scrape_metrics(port)

    try:
        await _wait(lambda: "modbot_queue_length" in scrape())
        lines = "\n".join(json.dumps({"id": f"m{i}", "text": t, "author": {"id": "u"}})
                          for i, t in enumerate(["fine article", "the media is controlled by the jews"]))
        out = modbot("enqueue", "--config", str(config), "-", cwd=tmp_path, input=lines + "\n{bad\n")
        assert "added 2 comment(s)" in out.stdout
        await _wait(lambda: 'modbot_comments_total{outcome="decided"} 2.0' in scrape())
        text = scrape()
    finally:
        code, _ = _stop(proc)
    assert code == 0
    assert 'modbot_decisions_total{action="hold",rule="antisemitic-conspiracy"} 1.0' in text
    assert 'modbot_decisions_total{action="approve",rule="(default)"} 1.0' in text
    assert 'modbot_deliveries_total{result="ok"}' in text
    assert "modbot_batch_seconds_count" in text and 'modbot_scorer_seconds_count{scorer="patterns"}' in text
    assert 'modbot_rules_info{version="' in text
