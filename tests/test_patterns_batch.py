"""The batch path (`PatternScorer.match_many`, what the daemon's `score` runs) gives exactly what `match` gives on
each text: on every functional-suite case, in batches of the stream's size, and on generated batches built to
break the joined skeleton (separators and spelled-out letters at the joins, long runs, HTML, non-ASCII)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.models import Author, Comment
from modbot.scoring.evasion import PERTURBATIONS, perturb
from modbot.scoring.functional import load_suite
from modbot.scoring.patterns import PatternScorer

ROOT = Path(__file__).resolve().parent.parent
SUITES = sorted((ROOT / "tests" / "functional").glob("*.yaml"))


@pytest.fixture(scope="module")
def scorer() -> PatternScorer:
    return PatternScorer.from_file(ROOT / "config" / "patterns.yaml")


def _suite_texts() -> list[str]:
    return [c.text for path in SUITES for c in load_suite(path)]


def _assert_same(scorer: PatternScorer, batch: list[str]) -> None:
    assert scorer.match_many(batch) == [tuple(scorer.match(t)) for t in batch], batch


def test_batches_of_suite_cases_equal_match(scorer: PatternScorer) -> None:
    texts = _suite_texts()
    assert sum(1 for t in texts if scorer.match(t)) > 500  # the comparison covers matching texts, not only clean
    for size in (1, 7, 32):
        for k in range(0, len(texts), size):
            _assert_same(scorer, texts[k:k + size])


def test_batches_of_disguised_and_shuffled_suite_cases_equal_match(scorer: PatternScorer) -> None:
    rng = random.Random(11)
    texts = _suite_texts()
    disguised = [perturb(t, kind, rng.randrange(1000))
                 for t in rng.sample(texts, 150) for kind in sorted(PERTURBATIONS)]
    rng.shuffle(disguised)
    for k in range(0, len(disguised), 32):
        _assert_same(scorer, disguised[k:k + 32])


@pytest.mark.parametrize("batch", [
    ["j e", "w s are evil"], ["they are j", "e w s"], ["z i o n i s t"], ["jews", "", "control the banks"],
    ["", "", ""], ["a", "b"], ["jew", "s control the media"], ["the jews control", "the media"],
    ["jewwwwwwww", "wwwws control the media"], ["(((", "them)))"], ["<b>the jews</b>", "control the banks"],
    ["jеws control the banks", "the jews control the banks"], ["j.e.w.s", ".", "s.a.m"],
    ["the jews control the banks\n", "\nthe jews control the banks"], ["1 4", "8 8"], ["k i k", "e"],
])
def test_joins_never_merge_texts(scorer: PatternScorer, batch: list[str]) -> None:
    _assert_same(scorer, batch)


_SCORER = PatternScorer.from_file(ROOT / "config" / "patterns.yaml")  # hypothesis tests take no fixtures
_PIECES = ["jews", "j e w s", "j.e.w.s", "control", "the banks", "the media", "kike", "k i k e", "(((them)))",
           "zionist", "money", "first", "no", "not", "they say", "a", "i", "s", "e", " ", ".", "-", "\n", "  ",
           "<p>", "&amp;", "é", "ј", "\u200b", "wwwwwwwwww", "eeeeeee", "14/88", "#", "%"]
_TEXT = st.one_of(
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
    st.lists(st.sampled_from(_PIECES), max_size=12).map(" ".join),
    st.text(alphabet="jewskiz .-\n<&aé", max_size=30),
    st.text(max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=40))
def test_generated_batches_equal_match(batch: list[str]) -> None:
    _assert_same(_SCORER, batch)


def test_score_uses_the_batch_path(scorer: PatternScorer) -> None:
    texts = ["the jews control the banks", "a nice day at the lake", "j e w s control the media"]
    comments = [Comment(str(i), t, Author("a")) for i, t in enumerate(texts)]
    outs = asyncio.run(scorer.score(comments))
    assert [o.matches for o in outs] == scorer.match_many(texts)
    assert outs[0].matches and not outs[1].matches
