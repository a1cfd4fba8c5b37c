"""Reading new WordPress comments into the input stream.

Each poll asks for the comments WordPress holds for moderation, oldest first:

    GET {site}/wp-json/wp/v2/comments?status=hold&context=edit&after=<cursor>&orderby=date_gmt&order=asc
        &per_page=100&page=N            (pages 1 .. X-WP-TotalPages)

`context=edit` returns the raw comment text (what the reader typed, not the rendered HTML); it needs the
`moderate_comments` capability, the same Application Password the WordPress sink uses.

Where it left off lives in {p}wp:cursor: the newest `date_gmt` seen and the ids seen near it. WordPress
compares `after` with the comment's date in the site's local time zone, and a page can shift while the sink
changes statuses, so each poll asks again from `overlap_s` before the cursor (default 14 hours, the largest
time zone offset) and skips the ids it has already written. Comments and the new cursor are written in one
transaction per page, so a crash can neither lose nor duplicate a comment.

A comment WordPress sends malformed (no id, an id that breaks the identifier contract of
modbot/ingest/schema.py, an unreadable date, no text) goes to the dead-letter stream
{p}deadletter in that same transaction, and the rest of the page is written: one bad row must not stop the
poller. While Redis is unreachable the poller waits and tries again (modbot.retry.pause_after_outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.config import WordPressSettings
from modbot.errors import DeliveryError, InvalidComment, ModbotError
from modbot.ingest.schema import check_identifier
from modbot.keys import Keys
from modbot.retry import pause_after_outage
from modbot.sinks.base import check_status
from modbot.sinks.wordpress import api_root, basic_auth
from modbot.slots import is_cluster

log = logging.getLogger("modbot.wordpress")

PER_PAGE = 100
DEFAULT_OVERLAP_S = 14 * 3600
_WP_TIME = "%Y-%m-%dT%H:%M:%S"


class PollError(ModbotError):
    """WordPress refused or garbled a poll. `retryable` is False when only a settings change can help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        self.retryable = retryable
        super().__init__(message)


class MalformedComment(ModbotError):
    """One comment in WordPress's answer cannot be read; it is dead-lettered and the others are written."""


def to_comment(wp: Any, site: str | None) -> dict[str, Any]:
    """A WordPress comment (context=edit) as a comment in modbot's schema (see modbot/ingest/schema.py).

    Raises MalformedComment for a comment that cannot be read, PollError when the text is missing because
    the user lacks the capability (that holds for every comment, so only a settings change helps)."""
    if not isinstance(wp, dict):
        raise MalformedComment(f"a {type(wp).__name__} where a comment object belongs")
    wp_id = wp.get("id")
    if isinstance(wp_id, bool) or not isinstance(wp_id, int | str) or not str(wp_id).strip():
        raise MalformedComment(f"the comment has no usable id ({wp_id!r})")
    content = wp.get("content")
    if isinstance(content, dict) and "raw" not in content:
        raise PollError("WordPress sent no raw comment text: the user needs the moderate_comments capability "
                        "(context=edit)", retryable=False)
    if not isinstance(content, dict) or not isinstance(content.get("raw"), str):
        raise MalformedComment("the comment has no text (content.raw)")
    author_id = wp.get("author") or 0
    if author_id:
        aid = str(author_id)
    else:
        # Guests have no user id; a hash of their e-mail keeps one guest's comments together without storing it.
        email = str(wp.get("author_email") or "").strip().lower()
        aid = "guest:" + (hashlib.sha256(email.encode()).hexdigest()[:16] if email else "anonymous")
    thread_id = str(wp.get("post") or "")
    _check_ids(("id", str(wp_id)), ("author", aid), ("post", thread_id))
    out: dict[str, Any] = {
        "id": str(wp_id),
        "text": content["raw"],
        "author": {"id": aid, "name": str(wp.get("author_name") or "")},
        "thread_id": thread_id,
        "metadata": {"source": "wordpress", "post": wp.get("post"), "parent": wp.get("parent"),
                     "wp_status": wp.get("status")},
    }
    if isinstance(wp.get("link"), str) and wp["link"]:
        out["thread_url"] = wp["link"]
    if site:
        out["site"] = site
    date_gmt = wp.get("date_gmt")
    if date_gmt is not None and date_gmt != "":
        if not isinstance(date_gmt, str):
            raise MalformedComment(f"date_gmt {date_gmt!r} is not a date")
        try:
            out["created_at"] = _parse(date_gmt).isoformat()
        except ValueError:
            raise MalformedComment(f"date_gmt {date_gmt!r} is not a date") from None
    return out


def _check_ids(*named: tuple[str, str]) -> None:
    """The stream's identifier contract (modbot.ingest.schema): these ids end up in Redis keys and HTTP headers."""
    try:
        for field, value in named:
            if value:
                check_identifier(value, field)
    except InvalidComment as exc:
        raise MalformedComment(str(exc)) from None


def _seen_key(wp: Any) -> str:
    """The cursor's name for a WordPress item: its id, or for an item without one a hash of its JSON, so that
    a malformed item the overlap returns again is not dead-lettered again."""
    if isinstance(wp, dict) and isinstance(wp.get("id"), int | str) and not isinstance(wp.get("id"), bool):
        return str(wp["id"])
    return "sha:" + hashlib.sha256(_raw(wp).encode()).hexdigest()[:16]


def _raw(wp: Any) -> str:
    return json.dumps(wp, ensure_ascii=False, sort_keys=True, default=str)


class Cursor:
    """The newest date_gmt written and the ids written within the overlap window before it."""

    def __init__(self, after: str | None = None, seen: dict[str, str] | None = None) -> None:
        self.after = after
        self.seen = seen or {}

    @classmethod
    def load(cls, raw: bytes | str | None) -> Cursor:
        if raw is None:
            return cls()
        data = json.loads(raw)
        return cls(data.get("after"), dict(data.get("seen", {})))

    def dump(self) -> str:
        return json.dumps({"after": self.after, "seen": self.seen}, sort_keys=True)

    def query_after(self, overlap_s: float) -> str | None:
        if self.after is None:
            return None  # first poll: everything WordPress holds
        return (_parse(self.after) - timedelta(seconds=overlap_s)).strftime(_WP_TIME)

    def add(self, wp_id: str, date_gmt: str) -> None:
        self.seen[wp_id] = date_gmt
        if self.after is None or _parse(date_gmt) > _parse(self.after):
            self.after = date_gmt

    def add_unreadable(self, key: str, now: str) -> None:
        """Remember a malformed item without moving `after`: its date, if any, cannot be trusted."""
        self.seen[key] = self.after or now

    def prune(self, overlap_s: float) -> None:
        if self.after is None:
            return
        # A little more than the query window, so nothing the next query returns has been forgotten.
        oldest = _parse(self.after) - timedelta(seconds=overlap_s + 3600)
        self.seen = {k: v for k, v in self.seen.items() if _parse(v) >= oldest}


def _parse(date_gmt: str) -> datetime:
    return datetime.fromisoformat(date_gmt[:19]).replace(tzinfo=UTC)


class WordPressPoller:
    """Polls WordPress for held comments and writes them to the input stream (field `comment` = JSON)."""

    def __init__(self, settings: WordPressSettings, redis: aioredis.Redis, keys: Keys,
                 session: aiohttp.ClientSession | None = None, overlap_s: float = DEFAULT_OVERLAP_S) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.url = api_root(settings.url) + "/comments"
        self.site = urlsplit(settings.url).hostname
        self.auth = basic_auth(settings)
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self.overlap_s = overlap_s
        self._session = session
        self._own_session = session is None

    async def poll_once(self) -> int:
        """Write every held comment not written before; return how many were written."""
        cursor = Cursor.load(await self.redis.get(self.keys.wp_cursor))
        after = cursor.query_after(self.overlap_s)
        written = 0
        page, total_pages = 1, 1
        while page <= total_pages:
            comments, total_pages = await self._fetch(page, after)
            now = datetime.now(UTC)
            entries: list[dict[str, Any]] = []
            dead: list[dict[str, str]] = []
            for c in comments:
                key = _seen_key(c)
                if key in cursor.seen:
                    continue
                try:
                    entry = to_comment(c, self.site)
                except MalformedComment as exc:
                    dead.append({"reason": f"malformed WordPress comment: {exc}", "raw": _raw(c),
                                 "source_id": "wordpress:" + (key if not key.startswith("sha:") else "?"),
                                 "at": now.isoformat()})
                    cursor.add_unreadable(key, now.strftime(_WP_TIME))
                    continue
                entries.append(entry)
                cursor.add(key, str(c.get("date_gmt") or now.strftime(_WP_TIME)))
            cursor.prune(self.overlap_s)
            # On a cluster these keys lie in different slots, so no transaction: a crash before the cursor is
            # written polls the same comments again, which the decision step acknowledges as already decided.
            async with self.redis.pipeline(transaction=not is_cluster(self.redis)) as pipe:
                for entry in entries:
                    pipe.xadd(self.keys.comments, {"comment": json.dumps(entry, ensure_ascii=False)})
                for fields in dead:
                    pipe.xadd(self.keys.deadletter, fields)  # type: ignore[arg-type]
                pipe.set(self.keys.wp_cursor, cursor.dump())
                await pipe.execute()
            for entry in entries:
                log.info("comment from WordPress", extra={"comment_id": entry["id"]})
            for fields in dead:
                log.warning("dead-lettered", extra={"source_id": fields["source_id"], "reason": fields["reason"]})
            written += len(entries)
            page += 1
        return written

    async def _fetch(self, page: int, after: str | None) -> tuple[list[dict[str, Any]], int]:
        params = {"status": "hold", "context": "edit", "orderby": "date_gmt", "order": "asc",
                  "per_page": str(PER_PAGE), "page": str(page)}
        if after is not None:
            params["after"] = after
        try:
            async with self.session.get(self.url, params=params, timeout=self.timeout,
                                        headers={"Authorization": self.auth}) as resp:
                body = await resp.text(errors="replace")
                try:
                    check_status(resp.status, body, "WordPress (comments query)")
                except DeliveryError as exc:  # the sinks' rule, so reading and writing agree on what to retry
                    raise PollError(str(exc), retryable=exc.retryable) from None
                header = resp.headers.get("X-WP-TotalPages", "1") or "1"
                try:
                    total_pages = int(header)
                except ValueError:
                    # A proxy or plugin garbled it; the next poll may get a good one.
                    raise PollError(f"WordPress sent X-WP-TotalPages {header[:40]!r}, not a whole number") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise PollError(f"WordPress unreachable: {type(exc).__name__}: {exc}") from None
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            raise PollError(f"WordPress sent something other than JSON: {body[:120]!r}") from None
        if not isinstance(data, list):
            raise PollError("WordPress sent a JSON value that is not a list of comments")
        return data, total_pages

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `poll_interval_s` until `stop` is set. Failures are logged and retried at the next poll;
        while Redis is unreachable, polls wait and retry with backoff instead."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    n = await self.poll_once()
                    failures = 0
                    if n:
                        log.info("polled WordPress", extra={"written": n})
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    failures += 1
                    await pause_after_outage(exc, failures, stop, log)
                    continue
                except PollError as exc:
                    level = logging.WARNING if exc.retryable else logging.ERROR
                    log.log(level, "WordPress poll failed", extra={"error": str(exc), "retryable": exc.retryable})
                except Exception:  # noqa: BLE001 - a poller that dies takes the daemon down; log it and poll again
                    log.exception("WordPress poll failed unexpectedly; trying again at the next poll")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.poll_interval_s)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
