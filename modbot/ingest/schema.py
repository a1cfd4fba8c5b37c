"""The comment schema: parse and validate one JSON comment, or raise InvalidComment with the reason.

A comment is a JSON object:

    {"id": "c-1001",                       # required identifier (string or integer), see below
     "text": "Nice article!",              # required string, <= max_text_chars characters
     "author": {"id": "u-7",               # required object; id required
                "name": "Ann",             # optional
                "account_age_days": 12.5,  # optional number >= 0
                "approved_count": 3,       # optional integer >= 0
                "flags": ["trusted"]},     # optional list of strings ("moderator" exempts from rules)
     "thread_id": "post-42",               # optional string: the article or post
     "thread_url": "https://...",          # optional string: link shown in the review page
     "site": "example.com",                # optional: selects per-site thresholds
     "created_at": "2026-11-25T10:00:00Z", # optional ISO 8601 time
     "metadata": {}}                       # optional object, kept as it is

Identifiers (`id`, `author.id`, `thread_id`, `site`) travel on into Redis keys, log lines and HTTP headers
(the webhook's Idempotency-Key), so each one is a printable string of at most 200 characters: no control
characters (Unicode category Cc: CR, LF, NUL, ESC, DEL ...), no format characters (Cf: bidi overrides such
as U+202E, zero-width spaces), no line or paragraph separators, no space other than U+0020, and no leading or
trailing whitespace. Anything else is refused as a whole class, not character by character, so a comment
id can never smuggle a header line or hide what it is.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from modbot.errors import InvalidComment
from modbot.models import Author, Comment

DEFAULT_MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 200
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_KNOWN_KEYS = {"id", "text", "author", "thread_id", "thread_url", "site", "created_at", "metadata"}


def decode_message(raw: bytes | str, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> Comment:
    """Decode the bytes of a stream message's `comment` field into a Comment."""
    if isinstance(raw, bytes):
        # Checked before parsing so that a huge message fails fast with a clear reason.
        if len(raw) > max_text_chars * 4 + 65_536:
            raise InvalidComment(f"message is {len(raw)} bytes, larger than allowed for {max_text_chars} characters")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidComment(f"message is not valid UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidComment(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidComment("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts (sys.get_int_max_str_digits)
        raise InvalidComment(f"malformed JSON: {exc}") from None
    return parse_comment(data, max_text_chars)


def parse_comment(data: Any, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, *, check_ids: bool = True) -> Comment:
    """Validate a decoded JSON value as a comment.

    `check_ids=False` is for reading back what modbot stored itself: a comment stored before the identifier
    contract existed must stay readable (review page, backtest) rather than break the page that lists it."""
    if not isinstance(data, Mapping):
        raise InvalidComment(f"comment must be a JSON object, got {_kind(data)}")
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise InvalidComment(f"unknown field(s) {sorted(unknown)}; put extra data under 'metadata'")
    cid = data.get("id")
    if isinstance(cid, int) and not isinstance(cid, bool):
        cid = str(cid)
    if not isinstance(cid, str) or not cid.strip():
        raise InvalidComment("'id' is required and must be a non-empty string")
    if check_ids:
        check_identifier(cid, "id")
    if "text" not in data:
        raise InvalidComment("'text' is required")
    text = data["text"]
    if not isinstance(text, str):
        raise InvalidComment(f"'text' must be a string, got {_kind(text)}")
    if len(text) > max_text_chars:
        raise InvalidComment(f"'text' has {len(text)} characters, more than the limit of {max_text_chars}")
    _check_unicode(data, "")
    return Comment(
        id=cid,
        text=text,
        author=_author(data.get("author"), check_ids),
        thread_id=_opt_id(data, "thread_id", check_ids) or "",
        thread_url=_opt_str(data, "thread_url"),
        site=_opt_id(data, "site", check_ids),
        created_at=_time(data.get("created_at")),
        metadata=_metadata(data.get("metadata")),
    )


def comment_to_dict(comment: Comment) -> dict[str, Any]:
    """The inverse of parse_comment: a JSON-ready dict in the documented schema."""
    a = comment.author
    out: dict[str, Any] = {
        "id": comment.id,
        "text": comment.text,
        "author": {"id": a.id, "name": a.name, "approved_count": a.approved_count, "flags": sorted(a.flags)},
        "thread_id": comment.thread_id,
        "metadata": dict(comment.metadata),
    }
    if a.account_age_days is not None:
        out["author"]["account_age_days"] = a.account_age_days
    for key in ("thread_url", "site"):
        if getattr(comment, key) is not None:
            out[key] = getattr(comment, key)
    if comment.created_at is not None:
        out["created_at"] = comment.created_at.isoformat()
    return out


def check_identifier(value: str, field: str) -> str:
    """Return `value` if it is a valid identifier (see the module docstring), else raise InvalidComment
    naming the field and the first offending character. Also used for ids from the WordPress poller."""
    if not value:
        raise InvalidComment(f"'{field}' must not be empty")
    if len(value) > MAX_ID_CHARS:
        raise InvalidComment(f"'{field}' is longer than {MAX_ID_CHARS} characters")
    if value != value.strip():
        raise InvalidComment(f"'{field}' has leading or trailing whitespace")
    # str.isprintable is False exactly for Unicode's "Other" (Cc, Cf, Cs, Co, Cn) and "Separator" (Zs, Zl,
    # Zp) categories, ASCII space excepted: the whole class of characters that hide, reorder or split text.
    for position, char in enumerate(value):
        if not char.isprintable():
            name = unicodedata.name(char, unicodedata.category(char))
            raise InvalidComment(f"'{field}' contains U+{ord(char):04X} ({name}) at position {position}; "
                                 "identifiers must be printable (no control, format or separator characters)")
    return value


def _check_unicode(value: Any, where: str) -> None:
    """JSON's \\ud800 escapes can smuggle lone surrogates into any string; they cannot be stored or sent on."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidComment(f"'{where or 'text'}' contains unpaired surrogates (not valid Unicode)") from None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_unicode(key, where)
            _check_unicode(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item, where)


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, int | float) else type(value).__name__)


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidComment(f"'{key}' must be a string, got {_kind(value)}")
    return value


def _opt_id(data: Mapping[str, Any], key: str, check: bool) -> str | None:
    """An optional identifier: absent, null and "" mean none; anything else must pass check_identifier."""
    value = _opt_str(data, key)
    return check_identifier(value, key) if value and check else value


def _author(value: Any, check_ids: bool) -> Author:
    if value is None:
        raise InvalidComment("'author' is required (an object with at least 'id')")
    if not isinstance(value, Mapping):
        raise InvalidComment(f"'author' must be an object, got {_kind(value)}")
    aid = _opt_str(value, "id")
    if not aid:
        raise InvalidComment("'author.id' is required")
    if check_ids:
        check_identifier(aid, "author.id")
    age = value.get("account_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float) or not math.isfinite(age)
                            or age < 0):
        raise InvalidComment("'author.account_age_days' must be a number >= 0")
    approved = value.get("approved_count", 0)
    if isinstance(approved, bool) or not isinstance(approved, int) or approved < 0:
        raise InvalidComment("'author.approved_count' must be an integer >= 0")
    flags = value.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise InvalidComment("'author.flags' must be a list of strings")
    return Author(id=aid, name=_opt_str(value, "name") or "", account_age_days=None if age is None else float(age),
                  approved_count=approved, flags=frozenset(flags))


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidComment(f"'created_at' must be an ISO 8601 string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidComment(f"'created_at' is not an ISO 8601 time: {value[:40]!r}") from None
    # The review queue orders by age: a time far in the past or future would jump the queue.
    if not _EARLIEST <= parsed <= datetime.now(UTC) + timedelta(days=1):
        raise InvalidComment(f"'created_at' {value[:40]!r} is outside 2000-01-01 .. tomorrow")
    return parsed


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidComment(f"'metadata' must be an object, got {_kind(value)}")
    return dict(value)
