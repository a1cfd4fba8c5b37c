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
    (b'{"id": "\\ud800", "text": "t", "author": {"id": "u"}}', r"'id' contains U\+D800"),  # the identifier contract
    (b'{"id": "a", "text": "t", "author": {"id": "u", "name": "\\udfff"}}', "'author.name' contains unpaired"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "metadata": {"k": ["\\ud800"]}}', "'metadata.k'"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "created_at": "0001-01-01T00:00:00+14:00"}',
     "not an ISO 8601 time|outside"),
    (b'{"id": "a", "text": "t", "author": {"id": "u"}, "created_at": "9999-12-31T00:00:00Z"}', "outside"),
])
def test_inputs_that_could_crash_later_are_refused_here(raw, reason):
    with pytest.raises(InvalidComment, match=reason):
        decode_message(raw)


def _with(**fields: object) -> bytes:
    data: dict[str, object] = {"id": "a", "text": "t", "author": {"id": "u"}}
    data.update(fields)
    return json.dumps(data).encode()


@pytest.mark.parametrize("bad", [
    "evil\r\nX-Injected: 1", "a\nb", "nul\x00", "esc\x1b[31m", "del\x7f", "tab\there", "c1\x85",  # Cc
    "rlo\u202egnp.exe", "zero\u200bwidth", "bom\ufeff", "soft\u00adhyphen",  # Cf: bidi, zero-width, BOM
    "line\u2028sep", "nb\u00a0sp", "private\ue000", " lead", "trail ", "\u3000wide", "x" * 201,
])
@pytest.mark.parametrize("field", ["id", "author.id", "thread_id", "site"])
def test_identifiers_must_be_printable_and_bounded(field, bad):
    raw = _with(author={"id": bad}) if field == "author.id" else _with(**{field: bad})
    with pytest.raises(InvalidComment, match=f"'{field}' (contains U\\+|has leading|is longer)"):
        decode_message(raw)


def test_identifier_errors_name_the_character():
    with pytest.raises(InvalidComment, match=r"'id' contains U\+000D \(Cc\) at position 4"):
        decode_message(_with(id="evil\r\nX-Injected: 1"))
    with pytest.raises(InvalidComment, match=r"U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"):
        decode_message(_with(id="a\u202eb"))


@pytest.mark.parametrize("good", ["c-1001", "42", "Ünïcode-ид-评论", "a b", "x" * 200, "emoji-\U0001f600"])
def test_printable_identifiers_are_kept(good):
    c = decode_message(_with(id=good, author={"id": good}, thread_id=good, site=good))
    assert (c.id, c.author.id, c.thread_id, c.site) == (good, good, good, good)


def test_integer_ids_and_huge_integers():
    assert decode_message(_with(id=12345)).id == "12345"
    with pytest.raises(InvalidComment, match="malformed JSON"):
        decode_message(b'{"id": ' + b"9" * 5000 + b', "text": "t", "author": {"id": "u"}}')


def test_stored_comments_from_before_the_contract_stay_readable():
    data = {"id": " old\x1bid", "text": "t", "author": {"id": "u\r\n"}}
    assert parse_comment(data, check_ids=False).id == " old\x1bid"
