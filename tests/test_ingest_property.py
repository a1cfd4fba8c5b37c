"""Property: whatever arrives on the input stream, the real daemon decides it or dead-letters it with a reason,
and keeps running. Hypothesis generates the messages (random bytes, wrong JSON types, control and bidi
characters, huge and deeply nested values, ids that break the identifier contract); they are pushed in bulk
into real Valkey and read by `modbot run` with pattern-only scoring.

Hypothesis draws the messages 50 to an example; each example is pushed with one pipeline and the test does
not wait for the daemon between examples (a round trip per message would make 10,000 take minutes). Once all
are in, each message is checked on its own, so a failure names the message and what happened to it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from modbot.errors import InvalidComment
from modbot.ingest.schema import decode_message
from modbot.keys import Keys
from tests.helpers import write_config
from tests.test_daemon import _env

pytestmark = [pytest.mark.fault, pytest.mark.slow]
MESSAGES = 10_000
GROUP = "modbot"

# Characters that have broken things before: header injection, terminal escapes, bidi tricks, zero width.
NASTY = "\r\n\x00\x1b\x7f\t\x85\u202e\u200b\ufeff\u2028\u00a0 \ud800\"\\é中😀"
nasty_text = st.text(alphabet=st.sampled_from(list(NASTY + "abc-19")), max_size=24)
good_ids = st.text(alphabet="abcdefghijk-0123456789", min_size=1, max_size=12)
bad_ids = st.one_of(
    nasty_text, st.integers(min_value=-(10**30), max_value=10**30), st.booleans(), st.none(), st.floats(),
    st.sampled_from(["evil\r\nX-Injected: 1", " lead", "trail ", "a\u202eb", "z" * 201, ""]),
    st.lists(st.integers(), max_size=2))
scalars = st.none() | st.booleans() | st.integers() | st.floats() | nasty_text | st.just([]) | st.just({})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | nasty_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3),
    max_leaves=6)
texts = st.one_of(
    st.text(max_size=80), nasty_text,
    st.sampled_from(["Great piece, thanks.", "The (((globalists))) control the banks.", "j3ws run the media",
                     "buy cheap pills at http://spam.example", "You idiot.", "x" * 20_000, "x" * 20_001]))


def _comment(cid: Any, text: Any, author: Any, extra: dict[str, Any]) -> dict[str, Any]:
    return {"id": cid, "text": text, "author": author, **extra}


extras = st.fixed_dictionaries({}, optional={
    "thread_id": st.one_of(good_ids, bad_ids), "site": st.one_of(good_ids, bad_ids),
    "thread_url": scalars, "metadata": json_values, "colour": scalars,
    "created_at": st.one_of(st.datetimes().map(lambda d: d.isoformat()), scalars)})
# Mostly well-formed with nasty content, so that many are decided; then anything at all in any field.
plausible = st.builds(_comment, good_ids, texts, st.builds(lambda a: {"id": a}, good_ids), st.just({}))
hostile = st.builds(_comment, st.one_of(good_ids, bad_ids), st.one_of(texts, scalars),
                    st.one_of(st.fixed_dictionaries({"id": st.one_of(good_ids, bad_ids)},
                                                    optional={"name": scalars, "account_age_days": scalars,
                                                              "approved_count": scalars, "flags": scalars}),
                              scalars),
                    extras)


def _dumps(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


messages = st.one_of(
    st.tuples(plausible, st.booleans()).map(lambda c: {b"comment": _dumps(*c)}),
    st.tuples(plausible, st.booleans()).map(lambda c: {b"comment": _dumps(*c)}),  # twice as likely
    st.tuples(hostile, st.booleans()).map(lambda c: {b"comment": _dumps(*c)}),
    st.tuples(hostile, st.booleans()).map(lambda c: {b"comment": _dumps(*c)}),
    st.binary(max_size=100).map(lambda b: {b"comment": b}),
    json_values.map(lambda v: {b"comment": _dumps(v, True)}),
    st.binary(max_size=10).map(lambda b: {b"not_comment": b or b"x"}),
)
# A few huge ones, not left to chance (and not thousands of them: the test would be about bandwidth).
HUGE = [{b"comment": b"[" * 100_000}, {b"comment": b'{"a":' * 50_000}, {b"comment": b" " * 200_000},
        {b"comment": b'{"id": "big", "text": "' + b"y" * 200_000 + b'", "author": {"id": "u"}}'},
        {b"comment": b'{"id": ' + b"9" * 5000 + b', "text": "t", "author": {"id": "u"}}'},
        {b"comment": json.dumps({"id": "deep", "text": "t", "author": {"id": "u"},
                                 "metadata": {"m": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}}).encode()}]


def _generate_and_push(r: redis.Redis, stream: str) -> tuple[list[dict[bytes, bytes]], list[bytes]]:
    """Generate the messages and push each example's batch with one pipeline as soon as it is drawn, so the
    daemon works while the rest is generated. Returns the messages and their stream ids, in order."""
    sent: list[dict[bytes, bytes]] = []
    ids: list[bytes] = []

    def push(batch: list[dict[bytes, bytes]]) -> None:
        with r.pipeline(transaction=False) as pipe:
            for fields in batch:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            ids.extend(pipe.execute())
        sent.extend(batch)

    @settings(max_examples=MESSAGES // 50 + 5, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.lists(messages, min_size=50, max_size=50))
    def collect(batch: list[dict[bytes, bytes]]) -> None:
        push(batch)

    collect()
    push(HUGE)
    return sent, ids


def _fate(raw: bytes | None, max_text_chars: int = 20_000) -> str | None:
    """The comment id a message must be decided under, or None when it must be dead-lettered."""
    if raw is None:
        return None
    try:
        return decode_message(raw, max_text_chars).id
    except InvalidComment:
        return None


async def test_every_message_is_decided_or_dead_lettered_and_the_daemon_survives(
        tmp_path: Path, redis_url: str, prefix: str, platform: Any) -> None:
    keys = Keys(prefix)
    # Decisions go to a real webhook, so an id that breaks an HTTP header would reach aiohttp.
    config = write_config(tmp_path, redis_url, prefix, sink_url=platform.url)
    config.write_text(config.read_text().replace("log_level: debug", "log_level: warning"))
    r = redis.Redis.from_url(redis_url)
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "modbot", "run", "--config", str(config)],
                                cwd=tmp_path, env=_env(), stdout=log, stderr=log)
    try:
        # In a thread: the platform's aiohttp server shares this event loop and must keep answering meanwhile.
        generated, ids = await asyncio.to_thread(_generate_and_push, r, keys.comments)
        assert len(generated) >= MESSAGES
        deadline = time.monotonic() + 180
        while not (_all_read(r, keys, ids[-1]) and r.xlen(keys.outbox) == 0):
            assert proc.poll() is None, "the daemon exited: " + (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the daemon did not get through the messages"
            await asyncio.sleep(0.2)
        assert proc.poll() is None, "the daemon exited"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 60)
    assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]

    dead = {f[b"source_id"].decode(): f[b"reason"].decode() for _, f in r.xrange(keys.deadletter)}
    for message_id, fields in zip(ids, generated, strict=True):
        mid, raw = message_id.decode(), fields.get(b"comment")
        comment_id = _fate(raw)
        if comment_id is None:
            assert dead.get(mid), f"not dead-lettered with a reason: {raw!r:.300}"
        else:
            assert mid not in dead, f"valid but dead-lettered ({dead[mid]}): {raw!r:.300}"
            assert r.exists(keys.decision(comment_id)), f"no decision for {comment_id!r}: {raw!r:.300}"
    assert platform.received and not any("X-Injected" in headers for headers, _ in platform.received)
    r.close()


def _all_read(r: redis.Redis, keys: Keys, last_id: bytes) -> bool:
    """Every message was read by the group and none is still pending (all decided or dead-lettered)."""
    groups: Any = r.xinfo_groups(keys.comments)
    group = next((g for g in groups if g["name"] == GROUP.encode()), None)
    if group is None:
        return False
    return bool(group["last-delivered-id"] == last_id and group["pending"] == 0)
