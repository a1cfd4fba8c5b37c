"""Issue 9, as an attacker and an unlucky operator meet it: the real daemon (`modbot run` as a process), real
Valkey, a real aiohttp platform. No single comment or outbox entry may stop delivery or the daemon; a redirect
is never counted as delivered; a retried old version never lands after the current one."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Action, Decision
from tests.helpers import comment_json, write_config
from tests.test_daemon import _start, _stop, _wait, modbot

pytestmark = [pytest.mark.fault, pytest.mark.slow]
EVIL_ID = "evil\r\nX-Injected: 1"
GOOD_TEXT = "A fair point about the council budget."


@pytest.fixture
def r(redis_url: str):  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _bodies(platform) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return [json.loads(body) for _, body in platform.received]


async def test_a_header_breaking_comment_id_is_dead_lettered_and_the_rest_delivered(
        tmp_path: Path, redis_url: str, prefix: str, platform, r) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(prefix)
    proc = _start(write_config(tmp_path, redis_url, prefix, sink_url=platform.url))
    try:
        r.xadd(keys.comments, {"comment": comment_json(EVIL_ID, "hello")})
        r.xadd(keys.comments, {"comment": comment_json(" lead", "hello")})  # could never be signed
        for i in range(3):
            r.xadd(keys.comments, {"comment": comment_json(f"good-{i}", GOOD_TEXT)})
        await _wait(lambda: proc.poll() is not None or len(platform.received) == 3)
        assert proc.poll() is None, "the daemon exited"
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    assert [b["comment_id"] for b in _bodies(platform)] == ["good-0", "good-1", "good-2"]
    assert not any("X-Injected" in headers for headers, _ in platform.received)
    dead = [f[b"reason"].decode() for _, f in r.xrange(keys.deadletter)]
    assert len(dead) == 2 and "'id' contains U+000D" in dead[0] and "leading or trailing whitespace" in dead[1]
    assert r.xlen(keys.outbox_failed) == 0


def _entry(cid: str) -> dict[str, str]:
    decision = Decision(comment_id=cid, action=Action.REJECT, rule="r", reason="old", scores={}, matches=(),
                        versions={}, decided_at=datetime.now(UTC))
    return {"decision": json.dumps(decision.to_dict())}


async def test_bad_ids_already_in_the_outbox_are_parked_and_later_entries_delivered(
        tmp_path: Path, redis_url: str, prefix: str, platform, r) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(prefix)
    # Written by a modbot from before the identifier contract; the first was being delivered by a daemon that
    # crashed on it, so it is pending with a consumer that is gone (reclaimed after stream.reclaim_idle_ms).
    r.xadd(keys.outbox, _entry(EVIL_ID))
    r.xgroup_create(keys.outbox, OUTBOX_GROUP, id="0")
    r.xreadgroup(OUTBOX_GROUP, "crashed-daemon", {keys.outbox: ">"}, count=1)
    r.xadd(keys.outbox, _entry("esc\x1b[2Jid"))
    r.xadd(keys.outbox, _entry(" lead"))
    r.xadd(keys.outbox, _entry("later-1"))
    proc = _start(write_config(tmp_path, redis_url, prefix, sink_url=platform.url))
    try:
        r.xadd(keys.comments, {"comment": comment_json("later-2", GOOD_TEXT)})
        await _wait(lambda: proc.poll() is not None or (len(platform.received) == 2
                                                         and r.xlen(keys.outbox_failed) == 3))
        assert proc.poll() is None, "the daemon exited"
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    assert sorted(b["comment_id"] for b in _bodies(platform)) == ["later-1", "later-2"]
    failed = {json.loads(f[b"decision"])["comment_id"]: f[b"error"].decode() for _, f in r.xrange(keys.outbox_failed)}
    assert set(failed) == {EVIL_ID, "esc\x1b[2Jid", " lead"}
    assert all("cannot be sent in an HTTP header" in error for error in failed.values())
    parked = [line for line in logs if line["msg"].startswith("refused for good")]
    assert {line["comment_id"] for line in parked} == set(failed)  # logged with the comment id


async def test_a_redirecting_platform_is_a_refusal_not_a_delivery(
        tmp_path: Path, redis_url: str, prefix: str, platform, r) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(prefix)
    platform.redirect_status = 302
    proc = _start(write_config(tmp_path, redis_url, prefix, sink_url=platform.url))
    try:
        r.xadd(keys.comments, {"comment": comment_json("moved-1", GOOD_TEXT)})
        await _wait(lambda: proc.poll() is not None or r.xlen(keys.outbox_failed) == 1)
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    [(_, fields)] = r.xrange(keys.outbox_failed)
    assert json.loads(fields[b"decision"])["comment_id"] == "moved-1"
    assert f"answered HTTP 302 redirecting to {platform.moved_url}".encode() in fields[b"error"]
    assert platform.followed == [] and platform.received == []
    assert logs[-1]["msg"] == "stopped" and logs[-1]["delivered"] == 0


def _config(tmp_path: Path, redis_url: str, prefix: str, url: str, deliver: bool, reclaim_ms: int) -> Path:
    config = write_config(tmp_path, redis_url, prefix, sink_url=url)
    text = config.read_text().replace("reclaim_idle_ms: 500", f"reclaim_idle_ms: {reclaim_ms}")
    config.write_text(text.replace("  backoff_base_s:", f"  deliver: {str(deliver).lower()}\n  backoff_base_s:"))
    return config


async def test_retry_failed_leaves_the_current_version_as_the_platforms_last_copy(
        tmp_path: Path, redis_url: str, prefix: str, platform, r) -> None:  # type: ignore[no-untyped-def]
    keys = Keys(prefix)
    first, edited = "First version of my comment.", "Edited version of my comment."
    current_sha = hashlib.sha256(edited.encode()).hexdigest()

    # 1. Both versions are decided while nothing is delivered.
    proc = _start(_config(tmp_path, redis_url, prefix, platform.url, deliver=False, reclaim_ms=500))
    try:
        r.xadd(keys.comments, {"comment": comment_json("e1", first)})
        await _wait(lambda: r.exists(keys.decision("e1")))
        r.xadd(keys.comments, {"comment": comment_json("e1", edited)})
        await _wait(lambda: json.loads(r.get(keys.decision("e1")) or "{}").get("text_sha256") == current_sha)
    finally:
        code, _ = _stop(proc)
    assert code == 0 and r.xlen(keys.outbox) == 2

    # 2. A daemon took the first version and crashed; the next one refuses the edit first and the first version
    #    once it reclaims it (before the fix both were parked, the older last; now the older one is skipped).
    r.xgroup_create(keys.outbox, OUTBOX_GROUP, id="0")
    [[_, [(v1_id, _)]]] = r.xreadgroup(OUTBOX_GROUP, "crashed-daemon", {keys.outbox: ">"}, count=1)
    platform.status_override = 422
    proc = _start(_config(tmp_path, redis_url, prefix, platform.url, deliver=True, reclaim_ms=4000))
    try:
        async def edit_refused() -> bool:
            r.xclaim(keys.outbox, OUTBOX_GROUP, "crashed-daemon", 0, [v1_id])  # still "in progress" there
            return proc.poll() is not None or r.xlen(keys.outbox_failed) == 1
        await _wait_async(edit_refused)
        await _wait(lambda: proc.poll() is not None or r.xlen(keys.outbox) == 0)  # the first version done with
        failed = [json.loads(f[b"decision"])["text_sha256"] for _, f in r.xrange(keys.outbox_failed)]
        assert failed[0] == current_sha

        # 3. The platform is fixed; the operator retries what failed while the daemon runs.
        platform.status_override = None
        out = modbot("status", "--config", str(tmp_path / "modbot.yaml"), "--retry-failed", "--json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        await _wait(lambda: proc.poll() is not None or (platform.received and r.xlen(keys.outbox) == 0))
    finally:
        code, logs = _stop(proc)
    assert code == 0, logs[-5:]
    assert _bodies(platform)[-1]["text_sha256"] == current_sha  # the platform's last copy is the current text
    assert [b["text_sha256"] for b in _bodies(platform)] == [current_sha]
    assert any(line["msg"] == "skipped: the comment has a newer decision" and line["comment_id"] == "e1"
               for line in logs)


async def _wait_async(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """_wait for an async condition."""
    async with asyncio.timeout(timeout):
        while not await cond():
            await asyncio.sleep(0.1)
