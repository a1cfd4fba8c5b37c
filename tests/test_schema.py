"""The comment schema: valid comments parse; every kind of bad input gets a clear reason."""

from __future__ import annotations

import json

import pytest

from modbot.errors import InvalidComment
from modbot.ingest.schema import comment_to_dict, decode_message, parse_comment


def test_full_comment_round_trips():
    data = {"id": "c1", "text": "Hello", "author": {"id": "u1", "name": "Ann", "account_age_days": 3.5,
                                                    "approved_count": 2, "flags": ["trusted"]},
            "thread_id": "t1", "thread_url": "https://x/t1", "site": "x", "created_at": "2026-01-01T10:00:00Z",
            "metadata": {"ip_country": "DE"}}
    c = parse_comment(data)
    assert c.author.flags == frozenset({"trusted"}) and c.created_at is not None
    assert parse_comment(comment_to_dict(c)) == c


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[1, 2]", "must be a JSON object"),
    (b'{"id": "", "text": "t", "author": {"id": "u"}}', "'id' is required"),
    (b'{"id": "a", "text": "t"}', "'author' is required"),
    (b'{"id": "a", "text": "t", "author": {"name": "x"}}', "'author.id' is required"),
    (b'{"id": "a", "text": "t", "author": {"id": "u", "account_age_days": -1}}', "account_age_days"),
    (b'{"id": "a", "text": "t", "author": {"id": "u", "approved_count": 1.5}}', "approved_count"),
    (b'{"id": "a", "text": "t", "author": {"id": "u", "flags": "mod"}}', "flags"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "created_at": "yesterday"}', "ISO 8601"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "colour": "red"}', "unknown field"),
    (b'{"id": "a", "text": "\\ud800", "author": {"id": "u"}}', "surrogates"),
    (b"\xc3\x28", "not valid UTF-8"),
])
def test_bad_input_reasons(raw, reason):
    with pytest.raises(InvalidComment, match=reason):
        decode_message(raw)


def test_text_limit_is_configurable():
    raw = json.dumps({"id": "a", "text": "x" * 101, "author": {"id": "u"}})
    with pytest.raises(InvalidComment, match="more than the limit of 100"):
        decode_message(raw, max_text_chars=100)
    assert decode_message(raw, max_text_chars=101).text == "x" * 101


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"id": "\\ud800", "text": "t", "author": {"id": "u"}}', "'id' contains unpaired surrogates"),
    (b'{"id": "a", "text": "t", "author": {"id": "u", "name": "\\udfff"}}', "'author.name' contains unpaired"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "metadata": {"k": ["\\ud800"]}}', "'metadata.k'"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "created_at": "0001-01-01T00:00:00+14:00"}',
     "not an ISO 8601 time|outside"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "created_at": "9999-12-31T00:00:00Z"}', "outside"),
])
def test_inputs_that_could_crash_later_are_refused_here(raw, reason):
    with pytest.raises(InvalidComment, match=reason):
        decode_message(raw)
