"""What is waiting where, and for how long: input stream backlog and pending messages, dead letters (with the
latest reasons and how many the cap trimmed), the outbox with its delivery state (failures in a row, last
error, next try), what the platform refused, the review queues, and whether Redis lost modbot's data.
`--retry-failed` moves the decisions the platform refused back into the outbox (after the platform was
fixed), except those the comment's current decision replaced since; `--json` prints one object."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from modbot.commands.common import add_config_argument, settings_from_args
from modbot.config import keys_for
from modbot.connections import connect
from modbot.decisions import newer_decision
from modbot.delivery_state import read_state
from modbot.identity import read_marker
from modbot.ingest.stream import group_backlog
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Decision
from modbot.replies import as_str
from modbot.slots import summed

log = logging.getLogger("modbot.status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--last", type=int, default=5, help="how many recent dead letters to show (default 5)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="move decisions the platform refused back into the outbox for another try")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    keys = keys_for(settings)

    async def go() -> dict[str, Any]:
        # With no daemon running, the embedded server is started just to look (its data is on disk).
        conn = await connect(settings.redis)
        try:
            retried = await retry_failed(conn.redis, keys) if args.retry_failed else None
            # A daemon may already be delivering what was moved: the figures below are a snapshot.
            report = await status(conn.redis, keys, settings.stream.group, args.last, settings.sink.type)
            if retried is not None:
                report["retried_failed"] = retried.moved
                report["skipped_superseded"] = retried.superseded
            return report
        finally:
            await conn.close()

    report = asyncio.run(go())
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


async def status(redis: aioredis.Redis, keys: Keys, group: str, last: int, sink: str = "log") -> dict[str, Any]:
    """Every queue modbot keeps: how much waits, how long the oldest has waited, the delivery state, the
    latest dead letters with their reasons, and the data's identity (with the last loss, if any)."""
    dead: Any = await redis.xrevrange(keys.deadletter, count=last)
    refused = await _latest(redis, [p.outbox_failed for p in keys.parts], last)
    waiting, pending = await group_backlog(redis, keys.comments, group)
    outboxes = await _outboxes(redis, keys, now := time.time())
    delivery = await read_state(redis, keys.outbox_state(sink), sink)
    return {
        "redis": _identity(await read_marker(redis, keys), now),
        "input": {"stream": keys.comments, "waiting": waiting, "pending": pending,
                  **await _input_ages(redis, keys.comments, group, now)},
        "deadletter": {"length": await redis.xlen(keys.deadletter),
                       "trimmed": int(await redis.get(keys.deadletter_trimmed) or 0),
                       "oldest_age_s": _age(await _first_id(redis, keys.deadletter), now),
                       "latest": [{"at": _text(f, b"at"), "comment_id": _comment_id(f.get(b"raw", b"")),
                                   "reason": _text(f, b"reason")} for _, f in dead]},
        "decisions": await summed(redis, "xlen", [p.decisions for p in keys.parts]),
        "outbox": {"waiting": sum(o["waiting"] for o in outboxes),
                   "pending": sum(o["pending"] for o in outboxes),
                   "oldest_age_s": max((o["oldest_age_s"] for o in outboxes if o["oldest_age_s"] is not None),
                                       default=None),
                   "sink": delivery.sink, "failures_in_a_row": delivery.failures,
                   "last_error": delivery.last_error, "last_error_at": _iso(delivery.last_error_at),
                   "next_attempt_in_s": (None if delivery.next_attempt_at is None or not delivery.failures
                                         else round(max(0.0, delivery.next_attempt_at - now), 1)),
                   "last_delivered_at": _iso(delivery.last_ok_at),
                   "failed": await summed(redis, "xlen", [p.outbox_failed for p in keys.parts]),
                   "latest_failed": [{"at": _text(f, b"at"), "comment_id": _comment_id(f.get(b"decision", b""),
                                                                                     "comment_id"),
                                      "error": _text(f, b"error")} for _, f in refused],
                   "partitions": outboxes},
        "review": {"held": await summed(redis, "zcard", [p.review for p in keys.parts]),
                   "escalated": await summed(redis, "zcard", [p.review_escalated for p in keys.parts]),
                   # verdicts inside their undo window: out of the queues, not yet sent (review.undo_seconds)
                   "pending": await summed(redis, "zcard", [p.review_pending for p in keys.parts])},
    }


async def _outboxes(redis: aioredis.Redis, keys: Keys, now: float) -> list[dict[str, Any]]:
    """Each partition's outbox: how much waits, since when, and which daemon holds its delivery lease."""
    out = []
    for n, part in enumerate(keys.parts):
        lease = await redis.get(keys.lease(n))
        out.append({"partition": n, "waiting": await redis.xlen(part.outbox),
                    "pending": (await group_backlog(redis, part.outbox, OUTBOX_GROUP))[1],
                    "oldest_age_s": _age(await _first_id(redis, part.outbox), now),
                    "deliverer": as_str(lease) if lease is not None else None})
    return out


async def _latest(redis: aioredis.Redis, streams: list[str], last: int) -> list[tuple[Any, Any]]:
    """The `last` newest entries of several streams together, newest first (stream ids are times)."""
    found: list[tuple[Any, Any]] = []
    for stream in streams:
        entries: Any = await redis.xrevrange(stream, count=last)
        found += entries
    return sorted(found, key=lambda e: _id_key(as_str(e[0])), reverse=True)[:last]


def _id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _identity(marker: dict[str, str], now: float) -> dict[str, Any]:
    """The data's identity, its age, and the last loss the daemons noticed (None when none)."""
    created = float(marker["created"]) if marker.get("created") else None
    lost = {k.removeprefix("lost_"): v for k, v in marker.items() if k.startswith("lost_")}
    return {"identity": marker.get("id", ""), "since": _iso(created),
            "age_s": None if created is None else round(now - created, 1), "lost": lost or None}


async def _input_ages(redis: aioredis.Redis, stream: str, group: str, now: float) -> dict[str, float | None]:
    """How long the oldest unread comment and the oldest one being decided have waited (stream ids are times)."""
    try:
        groups: Any = await redis.xinfo_groups(stream)
    except ResponseError:  # no stream yet
        return {"oldest_waiting_age_s": None, "oldest_pending_age_s": None}
    mine = next((g for g in groups if g["name"] in (group, group.encode())), None)
    after = as_str(mine["last-delivered-id"]) if mine else "0-0"
    unread: Any = await redis.xrange(stream, min=f"({after}", count=1) if after != "0-0" else \
        await redis.xrange(stream, count=1)
    summary: Any = await redis.xpending(stream, group) if mine else {"pending": 0}
    return {"oldest_waiting_age_s": _age(as_str(unread[0][0]) if unread else None, now),
            "oldest_pending_age_s": _age(as_str(summary["min"]) if summary["pending"] else None, now)}


async def _first_id(redis: aioredis.Redis, stream: str) -> str | None:
    first: Any = await redis.xrange(stream, count=1)
    return as_str(first[0][0]) if first else None


def _age(stream_id: str | None, now: float) -> float | None:
    """Seconds since a stream entry was added (its id starts with the time in milliseconds)."""
    if stream_id is None:
        return None
    return round(max(0.0, now - int(stream_id.split("-")[0]) / 1000), 1)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _text(fields: Any, key: bytes) -> str:
    return bytes(fields.get(key, b"")).decode("utf-8", "replace")


def _comment_id(raw: bytes, key: str = "id") -> str:
    """The comment id inside a stored JSON message, when it can be read at all."""
    try:
        value = json.loads(raw).get(key)
    except (ValueError, AttributeError):
        return ""
    return str(value) if isinstance(value, str | int) else ""


@dataclass(frozen=True)
class Retried:
    """What `--retry-failed` did: decisions moved back into the outbox, and older ones dropped because the
    comment has a newer decision (sending them would leave the platform with a stale copy)."""

    moved: int
    superseded: int


async def retry_failed(redis: aioredis.Redis, keys: Keys) -> Retried:
    """Move the entries of outbox:failed back into the outbox, oldest first, except decisions the comment's
    current decision has replaced: those are removed (they stay in the decisions history) and logged."""
    moved = superseded = 0
    for part in keys.parts:  # each partition's back into its own outbox, where its comments' order is kept
        entries: Any = await redis.xrange(part.outbox_failed)
        for entry_id, fields in entries:
            newer = await _newer(redis, keys, fields.get(b"decision", b""))
            async with redis.pipeline(transaction=True) as pipe:
                if newer is None:
                    pipe.xadd(part.outbox, {b"decision": fields[b"decision"]})
                pipe.xdel(part.outbox_failed, entry_id)
                await pipe.execute()
            if newer is None:
                moved += 1
            else:
                superseded += 1
                log.info("not retried: the comment has a newer decision",
                         extra={"comment_id": newer.comment_id, "current_decided_at": newer.decided_at.isoformat()})
    return Retried(moved, superseded)


async def _newer(redis: aioredis.Redis, keys: Keys, raw: bytes) -> Decision | None:
    """The comment's newer current decision, if any; an unreadable entry is moved anyway (the deliverer parks
    it again with its reason)."""
    try:
        decision = Decision.from_dict(json.loads(raw))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    return await newer_decision(redis, keys, decision)


def render(r: dict[str, Any]) -> str:
    lines = []
    if "retried_failed" in r:
        lines.append(f"moved {r['retried_failed']} refused decision(s) back into the outbox")
        if r.get("skipped_superseded"):
            lines.append(f"removed {r['skipped_superseded']} older decision(s) the comment's current decision "
                         "replaced (kept in the decisions history)")
    i, o, d = r["input"], r["outbox"], r["deadletter"]
    lines += _render_identity(r["redis"])
    lines += [
        f"input      {i['stream']}: {i['waiting']} waiting{_waited(i['oldest_waiting_age_s'])}, "
        f"{i['pending']} being decided{_waited(i['oldest_pending_age_s'])}",
        f"decisions  {r['decisions']} in the history stream",
        f"outbox     {o['waiting']} waiting for delivery{_waited(o['oldest_age_s'])} ({o['pending']} in progress), "
        f"{o['failed']} refused by the platform or given up",
    ]
    if len(o["partitions"]) > 1:
        lines.append("  " + _render_partitions(o["partitions"]))
    if o["failures_in_a_row"]:
        nxt = "" if o["next_attempt_in_s"] is None else f"; next try in {o['next_attempt_in_s']:g} s"
        lines.append(f"  {o['sink']}: {o['failures_in_a_row']} failed tries in a row{nxt}; "
                     f"last error at {o['last_error_at']}: {o['last_error']}")
    elif o["last_delivered_at"]:
        lines.append(f"  {o['sink']}: delivering; last delivery at {o['last_delivered_at']}")
    lines += [
        f"review     {r['review']['held']} held, {r['review']['escalated']} escalated, "
        f"{r['review']['pending']} verdict(s) waiting out the undo window",
        f"deadletter {d['length']} rejected message(s)"
        + ("" if d["oldest_age_s"] is None else f", the oldest {d['oldest_age_s']:g} s old")
        + (f", {d['trimmed']} older one(s) trimmed (stream.deadletter_maxlen)" if d["trimmed"] else ""),
    ]
    lines += [f"  {x['at']}  {x['comment_id'] or '(no id)'}: {x['reason']}" for x in d["latest"]]
    if o["latest_failed"]:
        lines.append("refused or given up (latest first; `--retry-failed` sends them again):")
        lines += [f"  {x['at']}  {x['comment_id']}: {x['error']}" for x in o["latest_failed"]]
    return "\n".join(lines)


def _render_partitions(parts: list[dict[str, Any]]) -> str:
    """Who delivers how many partitions, and the partitions nobody delivers now."""
    by: dict[str, int] = {}
    for p in parts:
        if p["deliverer"]:
            by[p["deliverer"]] = by.get(p["deliverer"], 0) + 1
    free = [str(p["partition"]) for p in parts if not p["deliverer"]]
    who = ", ".join(f"{name} {n}" for name, n in sorted(by.items())) or "nobody"
    return (f"{len(parts)} partitions, delivered by: {who}"
            + (f"; without a deliverer: {', '.join(free)}" if free else ""))


def _render_identity(ident: dict[str, Any]) -> list[str]:
    if not ident["identity"]:
        return ["redis      no identity marker: no daemon has run on this Redis yet, or Redis lost its data "
                "since (a running daemon marks it within seconds)"]
    lines = [f"redis      data since {ident['since']} (identity {ident['identity'][:8]})"]
    lost = ident["lost"]
    if lost:
        lines.append(f"  DATA LOST at {lost.get('at')}: the data since {lost.get('previous_created')} is gone, with "
                     f"{lost.get('undelivered', '?')} undelivered decision(s), {lost.get('input_waiting', '?')} "
                     f"comment(s) waiting and {lost.get('input_pending', '?')} being decided, "
                     f"{lost.get('review_held', '?')} held for review (last ids: comments "
                     f"{lost.get('last_comment_id') or '-'}, outbox {lost.get('last_outbox_id') or '-'}); "
                     "see docs/operations.md, persistence")
    return lines


def _waited(age_s: float | None) -> str:
    return "" if age_s is None else f" (the oldest for {age_s:g} s)"
