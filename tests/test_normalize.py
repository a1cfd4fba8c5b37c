"""The skeleton folds every evasion form to the plain word, and offsets point at the original characters."""

from __future__ import annotations

import random

import pytest

from modbot.scoring.evasion import PERTURBATIONS, perturb
from modbot.scoring.normalize import normalize, normalize_variants, normalize_with_offsets


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
