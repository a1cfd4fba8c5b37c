"""The fast paths of the pattern stage give exactly what the plain ones give: the windowed search around anchor
words (modbot.scoring.anchors) finds the same matches, spans and stances as a search of the whole skeleton on
every functional-suite case, and the skeleton and its offset map equal a straightforward per-character
reference implementation on random and adversarial text."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.scoring.anchors import AnchorSites
from modbot.scoring.evasion import PERTURBATIONS, perturb
from modbot.scoring.functional import load_suite
from modbot.scoring.normalize import (
    _JOIN,
    _SPACES,
    _SPLIT_LETTERS,
    _TABLE,
    _join_region,
    normalize_variants,
    normalize_with_offsets,
)
from modbot.scoring.patterns import PatternScorer

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted((ROOT / "tests" / "functional").glob("*.yaml"))


@pytest.fixture(scope="module")
def scorers() -> tuple[PatternScorer, PatternScorer]:
    """(whole-skeleton search, windowed search on every comment, however short)."""
    whole = PatternScorer.from_file(ROOT / "config" / "patterns.yaml")
    whole.windowed_from = 10**9
    windowed = PatternScorer(whole.lexicon)
    windowed.windowed_from = 0
    windowed.always_windows = True  # even where anchor words are dense enough to make the whole search cheaper
    return whole, windowed


def _suite_texts() -> list[str]:
    return [c.text for path in SUITES for c in load_suite(path)]


def test_windowed_search_equals_whole_search_on_every_suite_case(scorers: tuple[PatternScorer, PatternScorer]) -> None:
    whole, windowed = scorers
    texts = _suite_texts()
    matched = 0
    for text in texts:
        expected = whole.match(text)
        assert windowed.match(text) == expected, text
        matched += bool(expected)
    assert matched > len(texts) // 3  # the comparison covers matches, not only empty lists


def test_windowed_search_equals_whole_search_on_disguised_and_long_text(
        scorers: tuple[PatternScorer, PatternScorer]) -> None:
    whole, windowed = scorers
    texts = _suite_texts()
    rng = random.Random(11)
    sample = rng.sample(texts, 150)
    cases = [perturb(t, kind, i) for i, t in enumerate(sample) for kind in PERTURBATIONS]
    # Long comments with many tropes: windows merge, overlap and meet matches at their edges.
    cases += [" ".join(rng.choice(texts) for _ in range(rng.randint(5, 60))) for _ in range(12)]
    cases += ["\n\n".join(rng.choice(texts) for _ in range(20)).replace(" ", "  ")]
    cases += ["jews " * 300, "Jews control the media. " * 80, "j e w s " * 100, "(((them))) run (((it))) " * 50]
    for text in cases:
        assert windowed.match(text) == whole.match(text), text[:200]


def test_dense_anchor_words_fall_back_to_the_whole_search() -> None:
    scorer = PatternScorer.from_file(ROOT / "config" / "patterns.yaml")
    text = "jews " * 400 + "control the media"
    dense = AnchorSites(scorer.lexicon.sites, normalize_variants(text)[0], 1)
    assert dense.sites is None  # too many anchor words to list them
    assert [m.pattern for m in scorer.match(text)] == [m.pattern for m in scorer.match(text[-40:])]


def test_windowed_search_is_used_for_long_comments() -> None:
    scorer = PatternScorer.from_file(ROOT / "config" / "patterns.yaml")
    text = ("The weather was fine and the council met again. " * 40) + "Jews control the media."
    skeleton = normalize_variants(text)[0]
    assert len(skeleton) > scorer.windowed_from
    [m] = scorer.match(text)
    assert text[m.start:m.end].startswith("Jews control")
    entry = next(e for e in scorer.lexicon.entries if e.id == m.pattern)
    windows = AnchorSites(scorer.lexicon.sites, skeleton, 1).windows(entry)
    assert windows is not None and sum(hi - lo for lo, hi in windows) < len(skeleton) // 10


# --- the skeleton and its offsets against a per-character reference ---------------------------------------------

def _reference_skeleton(text: str, join_all: bool) -> str:
    """Steps 1-4 of modbot.scoring.normalize written the plain way (as the module first did)."""
    s = text.translate(_TABLE)
    s = _SPLIT_LETTERS.sub(_JOIN[join_all], s)
    s = _SPACES.sub(" ", s.replace(".", " "))
    return re.sub(r"([a-z])(?=\1)", "", s)


def _reference_offsets(text: str, join_all: bool) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
    """The offset map built character by character, deleting indices one at a time."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        for out in _TABLE[ord(ch)]:
            chars.append(out)
            starts.append(i)
            ends.append(i + 1)

    def drop(indices: set[int]) -> str:
        keep = [i for i in range(len(chars)) if i not in indices]
        chars[:] = [chars[i] for i in keep]
        starts[:] = [starts[i] for i in keep]
        ends[:] = [ends[i] for i in keep]
        return "".join(chars)

    s = "".join(chars)
    joined: set[int] = set()
    for m in _SPLIT_LETTERS.finditer(s):
        a, b = _join_region(m, join_all)
        joined.update(i for i in range(m.start() + a, m.start() + b) if not s[i].isalnum())
    drop(joined)
    chars[:] = [" " if c == "." else c for c in chars]
    s = "".join(chars)
    s = drop({i for m in _SPACES.finditer(s) for i in range(m.start() + 1, m.end())})
    repeats = set()
    for m in re.finditer(r"([a-z])(?=\1)", s):
        starts[m.start() + 1] = starts[m.start()]
        repeats.add(m.start())
    s = drop(repeats)
    return s, tuple(starts), tuple(ends)


# Letters, leet, separators, spaces and the disguises writers use: look-alikes, fullwidth, mathematical letters,
# ligatures, zero-width and bidi characters, combining marks, letters whose lower case is two characters.
_ADVERSARIAL = ("aeiljkoswz AEILS 013457@$|.-_*~+·•  \n\t,;:!?'\"()/%#&<>"
                "аеіјоѕκηтвЈΚΙ ｊｅｗ𝐣𝐞𝐰ﬁﬂ\u200b\u200c\u200d\u2060\ufeff\u202e\u00ad\u0301\u0308ßİǄéñ")


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(alphabet=_ADVERSARIAL, max_size=60), st.text(max_size=40)), st.booleans())
def test_skeleton_and_offsets_equal_the_reference(text: str, join_all: bool) -> None:
    s, starts, ends = _reference_offsets(text, join_all)
    mapped = normalize_with_offsets(text, join_all)
    assert (mapped.text, mapped.starts, mapped.ends) == (s, starts, ends)
    variants = normalize_variants(text)
    assert variants[0] == _reference_skeleton(text, False)
    if join_all:
        assert _reference_skeleton(text, True) in (variants[-1], variants[0])


@pytest.mark.parametrize("kind", sorted(PERTURBATIONS))
def test_skeleton_and_offsets_equal_the_reference_on_disguised_suite_cases(kind: str) -> None:
    for i, text in enumerate(_suite_texts()[::7]):
        disguised = perturb(text, kind, i)
        for join_all in (False, True):
            s, starts, ends = _reference_offsets(disguised, join_all)
            mapped = normalize_with_offsets(disguised, join_all)
            assert (mapped.text, mapped.starts, mapped.ends) == (s, starts, ends), disguised
        assert normalize_variants(disguised)[0] == _reference_skeleton(disguised, False)
