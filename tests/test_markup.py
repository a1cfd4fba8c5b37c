"""Markup decoding: the plain text a reader sees, every character mapped back to the original exactly,
plain text untouched, and no input (malformed, adversarial, random) makes it raise or take long."""

from __future__ import annotations

import html
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.scoring.markup import Decoded, decode, has_markup

RLO, PDF, PDI = "\u202e", "\u202c", "\u2069"


def origins(text: str, d: Decoded) -> list[str]:
    """Per plain character, the original characters it came from."""
    assert d.starts is not None and d.ends is not None
    return [text[a:b] for a, b in zip(d.starts, d.ends, strict=True)]


@pytest.mark.parametrize("text", ["Jews own the banks", "Jewish food, über-good; 5 > 3", "", "naïve café ☕"])
def test_plain_text_is_untouched_with_the_identity_map(text: str) -> None:
    d = decode(text)
    assert not has_markup(text)
    assert d.identity and d.text is text
    assert d.span(3, 7) == (3, 7)
    assert d.quoted_ranges == ()


@pytest.mark.parametrize("text", ["Q&A with AT&T", "x < y & y > z", "<3 & <<"])
def test_text_whose_markup_characters_decode_to_themselves_keeps_the_identity_map(text: str) -> None:
    d = decode(text)
    assert has_markup(text)
    assert d.identity and d.text is text


@pytest.mark.parametrize(("text", "plain", "entity"), [
    ("the b&#97;nks", "the banks", "&#97;"),
    ("the b&#x61;nks", "the banks", "&#x61;"),
    ("the b&#X61nks", "the banks", "&#X61"),  # hex without ";"
    ("the b&#97nks", "the banks", "&#97"),  # decimal without ";"
    ("caf&eacute; owners", "café owners", "&eacute;"),
    ("caf&eacute owners", "café owners", "&eacute"),  # legacy name without ";"
    ("Tom&nbsp;Jerry", "Tom\xa0Jerry", "&nbsp;"),
    ("fish &amp; chips", "fish & chips", "&amp;"),
    ("&ampfoo", "&foo", "&amp"),  # a legacy name glued to a word, as a browser reads it
    ("a&NotNestedGreaterGreater;b", "a\u2aa2\u0338b", "&NotNestedGreaterGreater;"),  # two characters
])
def test_character_references_decode_and_point_at_the_whole_reference(text: str, plain: str, entity: str) -> None:
    d = decode(text)
    assert d.text == plain
    at = text.index(entity)
    decoded = [k for k, o in enumerate(origins(text, d)) if o == entity]
    assert decoded, "the reference's characters map to the whole reference"
    assert all(d.starts and d.starts[k] == at for k in decoded)
    assert d.span(decoded[0], decoded[-1] + 1) == (at, at + len(entity))


@pytest.mark.parametrize(("text", "plain"), [
    ("&foo; & bar &", "&foo; & bar &"),  # not references: kept
    ("&#xZZ;", "&#xZZ;"),
    ("&#;", "&#;"),
    ("&#99999999;", "\ufffd"),  # out of Unicode's range
    ("&#" + "9" * 5000 + ";", "\ufffd"),  # past int()'s digit limit: must not raise
    ("&#x" + "0" * 5000 + "41;", "A"),  # leading zeros are fine
    ("&#0;", "\ufffd"),
    ("&#xD800;", "\ufffd"),  # a lone surrogate
    ("&#128;", "\u20ac"),  # Windows-1252 fix-up, as browsers do
    ("&lt;b&gt;Jews&lt;/b&gt;", "<b>Jews</b>"),  # escaped markup is text, not tags
])
def test_odd_and_broken_references(text: str, plain: str) -> None:
    assert decode(text).text == plain


@pytest.mark.parametrize(("text", "plain"), [
    ("Roth<b>schilds</b> control", "Rothschilds control"),
    ("Roth<SPAN class='x'>schilds</SPAN>", "Rothschilds"),
    ('see <a href="https://x.test/?a=1&b=2" rel="nofollow ugc">this</a>', "see this"),
    ('<a title="x > y">link</a>', "link"),  # ">" inside a quoted value does not end the tag
    ("one<br>two<br/>three<p>four</p>five", "one\ntwo\nthree\nfour\nfive"),
    ("<div>a</div><li>b</li><h2>c</h2><td>d</td>", "\na\n\nb\n\nc\n\nd\n"),
    ("a<!-- b -->c<!---->d<!-->e", "acde"),
    ("<!DOCTYPE html><?xml x?>text", "text"),
    ("a<script>var x = '<b>jews</b>';</script>b<style>p { }</style>c", "abc"),
    ("a<SCRIPT>x</Script >b", "ab"),
    ("a < b and <3 and <<= and </> x", "a < b and <3 and <<= and  x"),
    ("Roth<custom-tag>schilds</custom-tag>", "Rothschilds"),  # unknown elements are inline
])
def test_tags(text: str, plain: str) -> None:
    assert decode(text).text == plain


@pytest.mark.parametrize(("text", "plain"), [
    ("<b", "<b"),
    ("Jews own <b the banks", "Jews own <b the banks"),
    ('x <a href="unclosed>banks', 'x <a href="unclosed>banks'),
    ("x <!-- never closed banks", "x <!-- never closed banks"),
    ("x <script>never closed", "x <script>never closed"),
    ("<b>unclosed <i>tags", "unclosed tags"),
])
def test_a_construct_left_open_at_the_end_stays_text(text: str, plain: str) -> None:
    """A browser hides it; keeping it means the matcher never sees less than a reader might."""
    assert decode(text).text == plain


def test_tag_offsets_are_exact() -> None:
    text = "Roth<b>schilds</b><p>x"
    d = decode(text)
    assert d.text == "Rothschilds\nx"
    assert origins(text, d) == list("Rothschilds") + ["<p>", "x"]
    assert d.span(0, 11) == (0, 14)  # "Roth<b>schilds": the closing tag after it is not part of it
    assert d.span(13, 13) == (len(text), len(text))


def test_quotations_are_reported() -> None:
    text = "<blockquote><p>Jews own the banks</p></blockquote>No they do not. He said <q>they <q>lie</q></q>!"
    d = decode(text)
    ranges = [d.text[a:b] for a, b in d.quoted_ranges]
    assert ranges == ["\nJews own the banks\n", "they lie"]
    unclosed = decode("ok <q>to the end")
    assert [unclosed.text[a:b] for a, b in unclosed.quoted_ranges] == ["to the end"]
    assert decode("stray </q> close").quoted_ranges == ()


def test_right_to_left_override_runs_are_put_in_display_order() -> None:
    text = f"x {RLO}sknab eht nwo sweJ{PDF} y"
    d = decode(text)
    assert d.text == "x Jews own the banks y"
    a = d.text.index("Jews")
    assert d.span(a, a + len("Jews own the banks")) == (text.index("s"), text.index(PDF))
    assert origins(text, d)[a:a + 4] == list("Jews")


def test_an_override_ends_at_the_line_or_block_end_and_may_come_from_a_reference() -> None:
    assert decode(f"{RLO}cba\ndef").text == "abc\ndef"
    assert decode("&#8238;sknab eht nwo sweJ<br>ok").text == "Jews own the banks\nok"
    assert decode("&#x202E;cba&#x202C;def").text == "abcdef"


def test_overrides_nest_like_the_bidi_algorithm() -> None:
    """A pop closes the innermost embedding, not the override around it; an isolate's pop closes what was
    opened inside it."""
    assert decode(f"{RLO}\u202a{PDF}sknab eht nwo sweJ").text == "Jews own the banks"
    assert decode(f"{RLO}\u2066\u202a{PDI}sknab eht nwo sweJ").text == "Jews own the banks"
    assert decode(f"{RLO}\u202dabc{PDF}fed").text == "abcdef"  # inside a left-to-right override: kept


def test_other_bidi_and_format_controls_are_dropped() -> None:
    text = "J\u202aews\u202c o\u2066w\u2069n \u200ethe\u200f ban\u061cks \u202d!"
    assert decode(text).text == "Jews own the banks !"


@pytest.mark.parametrize("text", [
    "<" * 100_000,
    "<a " * 35_000,
    '<a x="' * 20_000,
    '<a x="' * 20_000 + ">",
    "<!--" * 25_000,
    "</" * 50_000,
    "&#" * 50_000,
    "&" + "a" * 100_000,
    "<b>" * 33_000,
    RLO * 50_000 + "a" * 50_000,
    "\u2066" * 50_000 + "a" * 50_000,  # isolates nest no deeper than the bidi algorithm allows
    "<a " + "b=c " * 25_000 + ">",
])
def test_adversarial_input_is_bounded_in_time(text: str) -> None:
    start = time.perf_counter()
    d = decode(text)
    # Linear: under half a second even on a loaded machine; a quadratic path would take minutes here.
    assert time.perf_counter() - start < 10.0
    assert d.identity or len(d.starts or ()) == len(d.text)


# Characters that make markup, plus a few letters, so random strings hit every tokenizer state.
_ALPHABET = st.sampled_from(list("<>&#;/=!-?\"' abxX09\n") + ["amp", "lt", "script", "q", "br", "p", RLO, PDF,
                                                                "\u2066", "\u200f", "é", "\U0001f600"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join))
def test_decode_never_raises_and_every_offset_is_in_the_text(text: str) -> None:
    d = decode(text)
    if d.identity:
        assert d.text == text
        return
    assert d.starts is not None and d.ends is not None
    assert len(d.starts) == len(d.ends) == len(d.text)
    for k, (a, b) in enumerate(zip(d.starts, d.ends, strict=True)):
        assert 0 <= a < b <= len(text)
        if b - a == 1 and text[a] not in (RLO, PDF):
            assert d.text[k] == text[a]  # a character taken as is is the original character
    if RLO not in text and "8238" not in text and "202e" not in text.lower():
        assert list(d.starts) == sorted(d.starts)  # outside reversed runs, offsets never go back
    for a, b in d.quoted_ranges:
        assert 0 <= a < b <= len(d.text)


_REFERENCE_ALPHABET = st.sampled_from(list("&#;xX0123456789abcdefz ") + [
    "amp", "lt", "notit", "eacute", "NotNestedGreaterGreater", "nbsp", "128", "x80", "0000000065"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_REFERENCE_ALPHABET, max_size=40).map("".join))
def test_references_decode_exactly_as_the_standard_library_does(text: str) -> None:
    """Without tags, the plain text is what `html.unescape` gives (the browser's rules), "&" for "&"."""
    assert decode(text).text == html.unescape(text)
