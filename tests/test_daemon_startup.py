"""`modbot run` while it starts: health endpoints from the first moment, a SIGTERM during start-up exits 0."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import write_config
from tests.test_daemon import _free_port, _start, _stop

pytestmark = [pytest.mark.slow, pytest.mark.fault]


def _with_tiny_model(config: Path, tmp_path: Path) -> None:
    """Turn on the toxicity scorer with a tiny local checkpoint: loading it (torch, transformers) takes seconds."""
    from modbot.scoring.tiny_checkpoint import build_tiny_checkpoint

    ckpt, config_dir = build_tiny_checkpoint(tmp_path / "model", "bert")
    config.write_text(config.read_text().replace(
        "scorers:\n  enabled: [patterns, toxicity]\n",
        f"scorers:\n  enabled: [patterns, toxicity]\n  toxicity:\n    checkpoint: {ckpt}\n"
        f"    config_dir: {config_dir}\n    threads: 1\n"))


def _read_until(proc: subprocess.Popen[str], msg: str) -> list[dict]:  # type: ignore[type-arg]
    """Log lines from stderr up to and including the first with `msg`."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        if line.startswith("{"):
            seen.append(json.loads(line))
            if seen[-1]["msg"] == msg:
                return seen
    raise AssertionError(f"the daemon ended before logging {msg!r}: {seen[-5:]}")


def test_sigterm_while_the_model_loads_exits_0(tmp_path, redis_url, prefix):
    config = write_config(tmp_path, redis_url, prefix, scorers="patterns, toxicity")
    _with_tiny_model(config, tmp_path)
    proc = _start(config)
    try:
        _read_until(proc, "starting")  # logged before the scorers load (and torch is imported)
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    assert logs[-1]["msg"] == "stopped"


async def test_health_endpoints_follow_the_start(tmp_path, redis_url, prefix):
    port = _free_port()
    config = write_config(tmp_path, redis_url, prefix, scorers="patterns, toxicity",
                          extra=f"health:\n  enabled: true\n  port: {port}\n")
    _with_tiny_model(config, tmp_path)

    def get(path: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    proc = _start(config)
    try:
        _read_until(proc, "health endpoints")
        assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
        async with asyncio.timeout(90):
            while (status := (await asyncio.to_thread(get, "/readyz"))[0]) != 200:
                assert status == 503
                await asyncio.sleep(0.2)
        _, body = await asyncio.to_thread(get, "/readyz")
        assert body == {"ready": True, "checks": {"scorers": "ok", "rules": "ok", "redis": "ok", "daemon": "ok"}}
    finally:
        code, _ = _stop(proc)
    assert code == 0
