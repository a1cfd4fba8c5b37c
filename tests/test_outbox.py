"""Outbox delivery through the signed webhook against a real aiohttp server and a real Valkey."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
from datetime import UTC, datetime

import aiohttp
import pytest

from modbot.config import SinkSettings, WebhookSettings
from modbot.decisions import DecisionStore
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Action, Author, Comment, Decision, Match
from modbot.outbox import OutboxDeliverer
from modbot.retry import backoff
from modbot.sinks.webhook import SIGNATURE_HEADER, WebhookSink, verify

SECRET = "s3cret-for-tests"


def _decision(cid: str, action: Action = Action.HOLD) -> tuple[Comment, Decision]:
    comment = Comment(id=cid, text="hello", author=Author(id="u1"))
    decision = Decision(comment_id=cid, action=action, rule="r1", reason="because", scores={"toxicity": 0.1},
                        matches=(Match("conspiracy", "p1", 0, 5, "hello", 2),), versions={"rules": "abc"},
                        decided_at=datetime.now(UTC))
    return comment, decision


async def _deliverer(redis_client, prefix, platform, monkeypatch, **sink_kw) -> OutboxDeliverer:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MODBOT_TEST_SECRET", SECRET)
    session = aiohttp.ClientSession()
    sink = WebhookSink(WebhookSettings(url=platform.url, secret_env="MODBOT_TEST_SECRET"), session)
    settings = SinkSettings(backoff_base_s=0.01, backoff_max_s=0.05, **sink_kw)
    return OutboxDeliverer(redis_client, Keys(prefix), sink, settings, "c1", reclaim_idle_ms=100)


async def _run_until(deliverer: OutboxDeliverer, cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Run the deliverer until `cond()` (a plain or async predicate) holds, then stop it and close its session."""
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not (await result if inspect.isawaitable(result := cond()) else result):
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await deliverer.sink.session.close()  # type: ignore[attr-defined]


async def test_decisions_arrive_signed_with_idempotency_key(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    for i in range(3):
        await store.record(*_decision(f"c{i}"))
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(deliverer, lambda: len(platform.received) == 3)
    ids = []
    for headers, body in platform.received:
        assert verify(SECRET, body, headers)
        assert not verify("wrong", body, headers)
        assert not verify(SECRET, body + b" ", headers)
        assert not verify(SECRET, body, {**headers, "Idempotency-Key": "other"})  # no replay under a new key
        assert not verify(SECRET, body, headers, now=int(headers["X-Modbot-Timestamp"]) + 301)  # nor later
        assert not verify(SECRET, body, {**headers, SIGNATURE_HEADER: "sha256=\u00e9"})
        d = json.loads(body)
        assert headers["Idempotency-Key"].startswith(d["comment_id"] + "/")
        assert d["action"] == "hold" and d["reason"] == "because" and d["matches"][0]["category"] == "conspiracy"
        ids.append(d["comment_id"])
    assert ids == ["c0", "c1", "c2"]  # in order
    assert await redis_client.xlen(Keys(prefix).outbox) == 0  # delivered entries leave the outbox


async def test_retries_on_500_and_loses_nothing(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    for i in range(5):
        await store.record(*_decision(f"c{i}"))
    platform.fail_next = 7
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(deliverer, lambda: len(platform.received) == 5)
    assert [json.loads(b)["comment_id"] for _, b in platform.received] == [f"c{i}" for i in range(5)]
    assert platform.fail_next == 0


async def test_outbox_survives_restart_while_platform_down(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    await store.record(*_decision("c-down"))
    platform.fail_next = 10**6
    first = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(first, lambda: platform.fail_next < 10**6 - 3)
    # Still pending: nothing was acknowledged while the platform was down.
    pending = await redis_client.xpending(Keys(prefix).outbox, OUTBOX_GROUP)
    assert pending["pending"] == 1
    platform.fail_next = 0
    second = await _deliverer(redis_client, prefix, platform, monkeypatch)  # a new process, same consumer name
    await _run_until(second, lambda: len(platform.received) == 1)
    assert json.loads(platform.received[0][1])["comment_id"] == "c-down"


async def test_permanent_refusal_is_kept_in_failed_stream(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    await store.record(*_decision("c-bad"))
    platform.status_override = 422
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    keys = Keys(prefix)
    await _run_until(deliverer, lambda: redis_client.xlen(keys.outbox_failed))
    [(_, fields)] = await redis_client.xrange(keys.outbox_failed)
    assert b"422" in fields[b"error"]
    assert json.loads(fields[b"decision"])["comment_id"] == "c-bad"
    assert await redis_client.xlen(keys.outbox) == 0


def test_backoff_is_jittered_and_capped():
    values = [backoff(a, 0.5, 60) for a in range(40) for _ in range(5)]
    assert all(0 <= v <= 60 for v in values)
    assert len(set(values)) > 100
    assert max(backoff(1, 0.5, 60) for _ in range(200)) <= 1.0


def test_missing_secret_is_a_clear_error(monkeypatch):
    from modbot.errors import DeliveryError
    monkeypatch.delenv("NOPE_SECRET", raising=False)
    with pytest.raises(DeliveryError, match=r"\$NOPE_SECRET"):
        WebhookSink(WebhookSettings(url="http://x", secret_env="NOPE_SECRET"), None)  # type: ignore[arg-type]


async def test_max_attempts_parks_the_decision_and_keeps_order(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    for i in range(3):
        await store.record(*_decision(f"o{i}"))
    platform.fail_next = 3  # o0 fails three times: parked after max_attempts=3
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch, max_attempts=3)
    await _run_until(deliverer, lambda: len(platform.received) == 2)
    assert [json.loads(b)["comment_id"] for _, b in platform.received] == ["o1", "o2"]
    [(_, fields)] = await redis_client.xrange(Keys(prefix).outbox_failed)
    assert json.loads(fields[b"decision"])["comment_id"] == "o0" and b"gave up after 3" in fields[b"error"]


async def test_flush_stops_at_the_first_failure(redis_client, prefix, platform, monkeypatch):
    store = DecisionStore(redis_client, Keys(prefix))
    for i in range(3):
        await store.record(*_decision(f"f{i}"))
    platform.fail_next = 1
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    try:
        assert await deliverer.flush(timeout_s=5) == 0  # f0 failed: f1 and f2 must not overtake it
        assert platform.received == []
        assert await deliverer.flush(timeout_s=5) == 3
    finally:
        await deliverer.sink.session.close()  # type: ignore[attr-defined]
    assert [json.loads(b)["comment_id"] for _, b in platform.received] == ["f0", "f1", "f2"]


async def test_outbox_recreates_a_lost_group_and_acks_deleted_entries(redis_client, prefix, platform, monkeypatch):
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        await store.record(*_decision("g0"))
        async with asyncio.timeout(10):
            while len(platform.received) < 1:
                await asyncio.sleep(0.02)
        await redis_client.delete(keys.outbox)  # Redis lost the stream and its group
        await store.record(*_decision("g1"))
        async with asyncio.timeout(10):
            while len(platform.received) < 2:
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
        await deliverer.sink.session.close()  # type: ignore[attr-defined]
    # An entry deleted while pending is acknowledged, not left in the pending list for ever.
    await store.record(*_decision("g2"))
    await redis_client.xreadgroup(OUTBOX_GROUP, "other", {keys.outbox: ">"}, count=10)
    [(entry_id, _)] = await redis_client.xrange(keys.outbox)
    await redis_client.xdel(keys.outbox, entry_id)
    later = await _deliverer(redis_client, prefix, platform, monkeypatch)
    later.reclaim_idle_ms = 0
    try:
        assert await later.flush(timeout_s=2) == 0
    finally:
        await later.sink.session.close()  # type: ignore[attr-defined]
    assert (await redis_client.xpending(keys.outbox, OUTBOX_GROUP))["pending"] == 0


async def test_idempotency_key_survives_retry_failed(redis_client, prefix, platform, monkeypatch):
    from modbot.commands.status import retry_failed
    keys = Keys(prefix)
    await DecisionStore(redis_client, keys).record(*_decision("k1"))
    [(_, fields)] = await redis_client.xrange(keys.outbox)
    expected = "k1/" + hashlib.sha256(fields[b"decision"]).hexdigest()[:16]
    platform.status_override = 422
    first = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(first, lambda: redis_client.xlen(keys.outbox_failed))
    platform.status_override = None
    assert (await retry_failed(redis_client, keys)).moved == 1  # a new outbox entry, the same decision
    second = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(second, lambda: len(platform.received) == 1)
    assert platform.received[0][0]["Idempotency-Key"] == expected


async def _raw_entry(redis_client, keys: Keys, cid: str) -> None:  # type: ignore[no-untyped-def]
    """An outbox entry written as an older modbot (before the identifier contract) could have written it."""
    await redis_client.xadd(keys.outbox, {"decision": json.dumps(_decision(cid)[1].to_dict())})


@pytest.mark.parametrize("bad_id", ["evil\r\nX-Injected: 1", "nul\x00", "esc\x1b[2J", "del\x7f", " lead"])
async def test_an_entry_no_header_can_carry_is_parked_and_delivery_goes_on(redis_client, prefix, platform,
                                                                            monkeypatch, bad_id):
    keys = Keys(prefix)
    await _raw_entry(redis_client, keys, bad_id)
    await _raw_entry(redis_client, keys, "after-1")
    await _raw_entry(redis_client, keys, "after-2")
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(deliverer, lambda: len(platform.received) == 2)  # raises if the deliverer died
    assert [json.loads(b)["comment_id"] for _, b in platform.received] == ["after-1", "after-2"]
    [(_, fields)] = await redis_client.xrange(keys.outbox_failed)
    assert json.loads(fields[b"decision"])["comment_id"] == bad_id
    assert b"cannot be sent in an HTTP header" in fields[b"error"]
    assert await redis_client.xlen(keys.outbox) == 0


class _BrokenFor:
    """A sink whose request for one comment fails in a way no sink anticipated (not an outage)."""

    name = "broken-for-one"

    def __init__(self, inner: WebhookSink, comment_id: str) -> None:
        self.inner = inner
        self.comment_id = comment_id
        self.session = inner.session

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        if decision.comment_id == self.comment_id:
            raise RuntimeError("cannot build this request")
        await self.inner.deliver(decision, idempotency_key)

    async def close(self) -> None:
        return None


async def test_any_unexpected_error_for_one_entry_parks_it(redis_client, prefix, platform, monkeypatch):
    keys = Keys(prefix)
    for cid in ("u0", "u1", "u2"):
        await _raw_entry(redis_client, keys, cid)
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    deliverer.sink = _BrokenFor(deliverer.sink, "u0")  # type: ignore[arg-type]
    await _run_until(deliverer, lambda: len(platform.received) == 2)
    [(_, fields)] = await redis_client.xrange(keys.outbox_failed)
    assert fields[b"error"] == b"cannot be sent: RuntimeError: cannot build this request"


async def test_unreadable_entries_of_any_shape_are_parked(redis_client, prefix, platform, monkeypatch):
    keys = Keys(prefix)
    for raw in ("[1]", '"text"', '{"comment_id": "x", "action": "hold", "decided_at": 5}',
                '{"comment_id": "x", "action": "hold", "decided_at": "2026-01-01", "matches": [7]}',
                '{"comment_id": "\\ud800", "action": "hold", "decided_at": "2026-01-01"}',  # no Redis key
                '{"comment_id": 17, "action": "hold", "decided_at": "2026-01-01"}'):
        await redis_client.xadd(keys.outbox, {"decision": raw})
    await _raw_entry(redis_client, keys, "fine")
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(deliverer, lambda: len(platform.received) == 1)
    failed = await redis_client.xrange(keys.outbox_failed)
    assert len(failed) == 6 and all(f[b"error"].startswith(b"unreadable outbox entry") for _, f in failed)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_refused_not_followed(redis_client, prefix, platform, monkeypatch, status):
    keys = Keys(prefix)
    await DecisionStore(redis_client, keys).record(*_decision("r1"))
    platform.redirect_status = status
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(deliverer, lambda: redis_client.xlen(keys.outbox_failed))
    assert platform.followed == [] and deliverer.delivered == 0
    [(_, fields)] = await redis_client.xrange(keys.outbox_failed)
    assert f"webhook answered HTTP {status} redirecting to {platform.moved_url}".encode() in fields[b"error"]
    assert b"redirects are not followed" in fields[b"error"]


def _edited(cid: str, text: str) -> tuple[Comment, Decision]:
    comment = Comment(id=cid, text=text, author=Author(id="u1"))
    decision = Decision(comment_id=cid, action=Action.APPROVE, rule=None, reason=text, scores={}, matches=(),
                        versions={}, decided_at=datetime.now(UTC), text_sha256=comment.text_sha256)
    return comment, decision


async def test_a_decision_older_than_the_current_one_is_skipped(redis_client, prefix, platform, monkeypatch):
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    await store.record(*_edited("e1", "first version"))
    await store.record(*_edited("e1", "edited version"))  # both wait in the outbox (platform was down)
    deliverer = await _deliverer(redis_client, prefix, platform, monkeypatch)
    async def drained() -> bool:
        return await redis_client.xlen(keys.outbox) == 0 and bool(platform.received)

    await _run_until(deliverer, drained)
    assert [json.loads(b)["reason"] for _, b in platform.received] == ["edited version"]


async def test_retry_failed_never_resends_an_older_version_after_the_current(redis_client, prefix, platform,
                                                                              monkeypatch):
    from modbot.commands.status import retry_failed
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    await store.record(*_edited("e2", "first version"))
    platform.status_override = 422  # the first version is refused ...
    first = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(first, lambda: redis_client.xlen(keys.outbox_failed))
    platform.status_override = None
    await store.record(*_edited("e2", "edited version"))  # ... the edit goes through
    second = await _deliverer(redis_client, prefix, platform, monkeypatch)
    await _run_until(second, lambda: len(platform.received) == 1)
    retried = await retry_failed(redis_client, keys)
    assert (retried.moved, retried.superseded) == (0, 1)
    assert await redis_client.xlen(keys.outbox_failed) == 0 and await redis_client.xlen(keys.outbox) == 0
    assert [json.loads(b)["reason"] for _, b in platform.received] == ["edited version"]
