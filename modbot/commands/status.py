"""What is waiting where: input stream backlog and pending messages, dead letters (with the latest reasons),
the outbox and what the platform refused, and the review queues. `--retry-failed` moves the decisions the
platform refused back into the outbox (after the platform was fixed), except those the comment's current
decision replaced since; `--json` prints one object."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from modbot.commands.common import add_config_argument, settings_from_args
from modbot.connections import connect
from modbot.decisions import newer_decision
from modbot.ingest.stream import group_backlog
from modbot.keys import OUTBOX_GROUP, Keys
from modbot.models import Decision

log = logging.getLogger("modbot.status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--last", type=int, default=5, help="how many recent dead letters to show (default 5)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="move decisions the platform refused back into the outbox for another try")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    keys = Keys(settings.redis.prefix, settings.stream.name)

    async def go() -> dict[str, Any]:
        # With no daemon running, the embedded server is started just to look (its data is on disk).
        conn = await connect(settings.redis)
        try:
            retried = await retry_failed(conn.redis, keys) if args.retry_failed else None
            # A daemon may already be delivering what was moved: the figures below are a snapshot.
            report = await status(conn.redis, keys, settings.stream.group, args.last)
            if retried is not None:
                report["retried_failed"] = retried.moved
                report["skipped_superseded"] = retried.superseded
            return report
        finally:
            await conn.close()

    report = asyncio.run(go())
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


async def status(redis: aioredis.Redis, keys: Keys, group: str, last: int) -> dict[str, Any]:
    """Counts of every queue modbot keeps, and the latest dead letters with their reasons."""
    dead: Any = await redis.xrevrange(keys.deadletter, count=last)
    refused: Any = await redis.xrevrange(keys.outbox_failed, count=last)
    waiting, pending = await group_backlog(redis, keys.comments, group)
    return {
        "input": {"stream": keys.comments, "waiting": waiting, "pending": pending},
        "deadletter": {"length": await redis.xlen(keys.deadletter),
                       "latest": [{"at": _text(f, b"at"), "comment_id": _comment_id(f.get(b"raw", b"")),
                                   "reason": _text(f, b"reason")} for _, f in dead]},
        "decisions": await redis.xlen(keys.decisions),
        "outbox": {"waiting": await redis.xlen(keys.outbox),
                   "pending": (await group_backlog(redis, keys.outbox, OUTBOX_GROUP))[1],
                   "failed": await redis.xlen(keys.outbox_failed),
                   "latest_failed": [{"at": _text(f, b"at"), "comment_id": _comment_id(f.get(b"decision", b""),
                                                                                     "comment_id"),
                                      "error": _text(f, b"error")} for _, f in refused]},
        "review": {"held": await redis.zcard(keys.review), "escalated": await redis.zcard(keys.review_escalated)},
    }


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
    entries: Any = await redis.xrange(keys.outbox_failed)
    for entry_id, fields in entries:
        newer = await _newer(redis, keys, fields.get(b"decision", b""))
        async with redis.pipeline(transaction=True) as pipe:
            if newer is None:
                pipe.xadd(keys.outbox, {b"decision": fields[b"decision"]})
            pipe.xdel(keys.outbox_failed, entry_id)
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
    lines += [
        f"input      {r['input']['stream']}: {r['input']['waiting']} waiting, {r['input']['pending']} being decided",
        f"decisions  {r['decisions']} in the history stream",
        f"outbox     {r['outbox']['waiting']} waiting for delivery ({r['outbox']['pending']} in progress), "
        f"{r['outbox']['failed']} refused by the platform or given up",
        f"review     {r['review']['held']} held, {r['review']['escalated']} escalated",
        f"deadletter {r['deadletter']['length']} rejected message(s)",
    ]
    lines += [f"  {d['at']}  {d['comment_id'] or '(no id)'}: {d['reason']}" for d in r["deadletter"]["latest"]]
    if r["outbox"]["latest_failed"]:
        lines.append("refused or given up (latest first; `--retry-failed` sends them again):")
        lines += [f"  {d['at']}  {d['comment_id']}: {d['error']}" for d in r["outbox"]["latest_failed"]]
    return "\n".join(lines)
