"""Fault: a hostile rules file reaches the running daemon through hot reload (issue 9, fault 2).

The real daemon, real Valkey: an alias bomb written over rules.yaml is refused in milliseconds, the daemon keeps
deciding with the rules it had, and a later valid file is still picked up.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import pytest

from modbot.decisions import DecisionStore
from modbot.keys import Keys
from tests.helpers import comment_json, write_config
from tests.test_daemon import _start, _stop
from tests.test_yaml_limits import rules_bomb

pytestmark = [pytest.mark.fault, pytest.mark.slow]

HOLD_SPAM = "version: 1\nrules:\n  - id: hold-spam\n    action: hold\n    when: {text: [spam]}\n"
REJECT_SPAM = "version: 1\nrules:\n  - id: reject-spam\n    action: reject\n    when: {text: [spam]}\n"


def replace(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()  # a visible mtime change even on coarse-timestamp filesystems
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


async def test_alias_bomb_via_hot_reload_keeps_old_rules_and_daemon_deciding(tmp_path, redis_url, prefix,
                                                                             redis_client):
    config = write_config(tmp_path, redis_url, prefix)
    rules = tmp_path / "rules.yaml"
    rules.write_text(HOLD_SPAM)
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    decided: dict[str, str | None] = {}

    async def decide(cid: str, timeout: float = 30.0) -> str | None:
        await redis_client.xadd(keys.comments, {"comment": comment_json(cid, "spam, " + cid)})
        async with asyncio.timeout(timeout):
            while (d := await store.get(cid)) is None:
                await asyncio.sleep(0.05)
        decided[cid] = d.rule
        return d.rule

    proc = _start(config)
    try:
        assert await decide("before") == "hold-spam"
        replace(rules, rules_bomb())
        start = time.monotonic()
        proc.send_signal(signal.SIGHUP)  # SIGHUP and the file watcher both try it
        # Comments keep being decided, with the old rules, while (and after) the bomb is looked at.
        for i in range(5):  # over the watcher's two polls (1 s apart) that load a settled change
            assert await decide(f"during-{i}", timeout=10.0) == "hold-spam"
            await asyncio.sleep(0.5)
        assert time.monotonic() - start < 20
        replace(rules, REJECT_SPAM)  # the watcher is still alive and takes a valid file
        deadline = time.monotonic() + 30
        n = 0
        while decided.get(f"after-{n - 1}") != "reject-spam" and time.monotonic() < deadline:
            await decide(f"after-{n}")
            n += 1
            await asyncio.sleep(0.3)
        assert decided.get(f"after-{n - 1}") == "reject-spam", decided
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    refused = [line for line in logs if line.get("event") == "rules_reload_failed"]
    assert refused and all("aliases expand to more than" in line["error"] for line in refused), refused
    assert str(rules) in refused[0]["error"]
    assert any(line.get("event") == "rules_reloaded" for line in logs)
    assert json.dumps(logs)  # every log line was one JSON object
