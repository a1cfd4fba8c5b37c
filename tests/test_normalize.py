"""The skeleton folds every evasion form to the plain word, and offsets point at the original characters."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.scoring.evasion import PERTURBATIONS, perturb
from modbot.scoring.normalize import (
    SQUEEZE_ARRAY_FROM,
    _squeeze_array,
    _squeeze_int,
    normalize,
    normalize_variants,
    normalize_with_offsets,
    squeeze_raw,
)


@pytest.mark.parametrize(("text", "skeleton"), [
    ("Jews", "jews"),
    ("Јеԝѕ", "jews"),  # Cyrillic look-alikes
    ("ΚΙΚΕ", "kike"),  # Greek capitals
    ("ｊｅｗｓ", "jews"),  # fullwidth
    ("𝐣𝐞𝐰𝐬", "jews"),  # mathematical bold
    ("j\u200be\u200dw\u2060s", "jews"),  # zero-width space, joiner, word joiner
    ("jéwś", "jews"),  # diacritics
    ("j3w5", "jews"),
    ("z10n1$t", "zionist"),
    ("@ll", normalize("all")),
    ("z i o n i s t", "zionist"),
    ("j.e.w.s", "jews"),
    ("j-e-w-s", "jews"),
    ("jewwwws", "jews"),
    ("(((name)))", "(((name)))"),
    ("\u029dews", "jews"),  # J WITH CROSSED-TAIL (IPA), missing from the confusables table
    ("\u1d0a\u1d07\u1d21s", "jews"),  # small capitals J, E, W
    ("\u0249ew\u1e61", "jews"),  # J WITH STROKE, S WITH DOT ABOVE
])
def test_evasion_forms_fold_to_the_plain_word(text: str, skeleton: str) -> None:
    assert normalize(text) == skeleton


def test_article_before_spelled_out_word_stays_a_word() -> None:
    assert normalize("a k i k e") == "a kike"
    assert "isiam" in normalize_variants("i s l a m")  # the other reading is also matched


def test_plain_news_text_keeps_its_words() -> None:
    assert normalize("Idlib is controlled by terrorists.") == "idib is controied by terorists "


@pytest.mark.parametrize("kind", sorted(PERTURBATIONS))
def test_offsets_map_back_for_every_evasion_kind(kind: str) -> None:
    original = "They say the zionists control it."
    disguised = original.replace("zionists", perturb("zionists", kind, seed=3))
    norm = normalize_with_offsets(disguised)
    assert norm.text == normalize(disguised)
    at = norm.text.index("zionists")
    start, end = norm.span(at, at + len("zionists"))
    # The span covers exactly the disguised word, including the invisible characters inside it.
    assert disguised[start:end].rstrip("\u200b\u200c\u200d\u2060\ufeff") == perturb("zionists", kind, seed=3).rstrip(
        "\u200b\u200c\u200d\u2060\ufeff")
    assert disguised[:start].endswith("the ")


def test_stretched_letters_span_covers_whole_run() -> None:
    text = "the jewwwws again"
    norm = normalize_with_offsets(text)
    at = norm.text.index("jews")
    assert norm.span(at, at + 4) == (4, 11)


def test_expanding_characters_map_to_their_source() -> None:
    text = "ﬁne Straße"  # one ligature -> two letters; ß casefolds to ss
    norm = normalize_with_offsets(text)
    assert norm.text == normalize(text)
    assert norm.span(0, 2) == (0, 1)


def test_fast_and_offset_paths_agree_on_random_text() -> None:
    rng = random.Random(7)
    alphabet = "ab lo1|.-_*e3 zjw(()) \u200bаеѕΙ ｊé@$4\u00ad"
    for _ in range(400):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        for variant, skeleton in enumerate(normalize_variants(text)):
            norm = normalize_with_offsets(text, join_all=variant == 1)
            assert norm.text == skeleton, text
            assert all(0 <= s < e <= len(text) for s, e in zip(norm.starts, norm.ends, strict=True))


def _squeeze_reference(b: bytes) -> bytes:
    """squeeze_raw byte by byte: a space or a letter a-z equal to the byte before it is dropped."""
    out = bytearray()
    for i, c in enumerate(b):
        if i == 0 or c != b[i - 1] or not (c == 32 or 97 <= c <= 122):
            out.append(c)
    return bytes(out)


# Runs of spaces and letters, the batch separator 0x80, other ASCII and other high bytes; long enough to cross
# SQUEEZE_ARRAY_FROM, where squeeze_raw switches from big integers to numpy.
_RUNS = st.lists(st.tuples(st.sampled_from(b"  aabzz{`@.0\x80\x80\x7f\x81\xfe\x00"), st.integers(1, 5)), max_size=700)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_RUNS.map(lambda runs: bytes(c for c, k in runs for _ in range(k))), st.binary(max_size=2000)))
def test_squeeze_matches_reference(b: bytes) -> None:
    assert _squeeze_array(b) == _squeeze_reference(b) if b else True
    b = b.replace(b"\xff", b"")  # the big-integer way's delete mark: never in its input (ASCII and 0x80)
    want = _squeeze_reference(b)
    assert squeeze_raw(b) == want
    assert _squeeze_int(b) == want if len(b) >= 2 else True
    assert _squeeze_array(b) == want if b else True


def test_squeeze_both_ways_around_the_switch() -> None:
    text = b"ssoooo  nazziii \x80 \x80zz..." * (SQUEEZE_ARRAY_FROM // 30 + 2)
    for n in (2, 3, SQUEEZE_ARRAY_FROM - 1, SQUEEZE_ARRAY_FROM, SQUEEZE_ARRAY_FROM + 1, len(text)):
        want = _squeeze_reference(text[:n])
        assert squeeze_raw(text[:n]) == _squeeze_int(text[:n]) == _squeeze_array(text[:n]) == want
    assert squeeze_raw(b"a") == b"a" and squeeze_raw(b"") == b""
    assert squeeze_raw(b"aa\x80aa  \x80  b") == b"a\x80a \x80 b"  # 0x80 splits the runs on either side
