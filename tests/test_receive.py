"""`modbot receive`, the reference webhook receiver, as a real process: a replay is refused after a restart too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from modbot.sinks.webhook import KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.helpers import ROOT
from tests.test_daemon import _free_port

pytestmark = [pytest.mark.slow, pytest.mark.fault]
SECRET = "receiver-test-secret"


def _start(port: int, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, MODBOT_WEBHOOK_SECRET=SECRET, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "modbot", "receive", "--port", str(port), *extra], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on"), (line, proc.stderr.read() if proc.stderr else "")
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return out


async def _post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.post(f"http://127.0.0.1:{port}/modbot", data=body,
                                                          headers=headers) as resp:
        return resp.status, await resp.text()


async def test_a_replayed_request_is_refused_after_a_restart(tmp_path):
    body = json.dumps({"comment_id": "c-1", "action": "hold", "rule": "r", "reason": "why"}).encode()
    timestamp, key = str(int(time.time())), "c-1/0123456789abcdef"
    headers = {TIMESTAMP_HEADER: timestamp, KEY_HEADER: key, SIGNATURE_HEADER: sign(SECRET, timestamp, key, body),
               "Content-Type": "application/json"}
    port = _free_port()
    proc = _start(port, tmp_path)
    try:
        assert (await _post(port, body, headers))[0] == 204
    finally:
        first = _stop(proc)
    assert "c-1: HOLD" in first
    assert (tmp_path / "modbot-receive-seen.jsonl").exists()  # the default --state, in the current folder

    proc = _start(port, tmp_path)
    try:
        assert await _post(port, body, headers) == (200, "duplicate")  # the same signed request, captured
    finally:
        second = _stop(proc)
    assert "c-1" not in second  # not processed again


async def test_keys_older_than_the_replay_window_are_dropped_from_the_state_file(tmp_path):
    state = tmp_path / "seen.jsonl"
    now = int(time.time())
    state.write_text(json.dumps([now - 3600, "old"]) + "\n" + json.dumps([now, "recent"]) + "\n" + '[12, "cut')
    port = _free_port()
    _stop(_start(port, tmp_path, "--state", str(state)))
    kept = [json.loads(line)[1] for line in state.read_text().splitlines()]
    assert kept == ["recent"]
