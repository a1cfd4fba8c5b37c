"""modbot.scoring.automaton finds every occurrence of every key, overlapping ones included, with slice offsets
(end exclusive) in the order of their ends, on str and on bytes alike: compared with a search of each key at every
position."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.scoring.automaton import Automaton


def reference(keys: list[str], text: str) -> list[tuple[int, int, int]]:
    """Every (key index, start, end) with text[start:end] == key."""
    return [(i, s, s + len(k)) for i, k in enumerate(keys) for s in range(len(text) - len(k) + 1)
            if text.startswith(k, s)]


def test_overlapping_hits_with_slice_offsets() -> None:
    auto = Automaton({" jew ": "a", "jews": "b", "ew": "c", " j": "d"})
    hits = auto.find(" jews jew ")
    assert sorted(hits) == sorted(reference([" jew ", "jews", "ew", " j"], " jews jew "))
    assert [(auto.values[k], " jews jew "[s:e]) for k, s, e in hits] == [
        ("d", " j"), ("c", "ew"), ("b", "jews"), ("d", " j"), ("c", "ew"), ("a", " jew ")]
    assert auto.find_bytes(b" jews jew ") == hits


def test_str_offsets_are_characters() -> None:
    auto = Automaton({"é b": 1, "b": 2})
    assert auto.find("xxé bé b") == [(0, 2, 5), (1, 4, 5), (0, 5, 8), (1, 7, 8)]


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Automaton({"": 1})


def test_no_keys_finds_nothing() -> None:
    assert Automaton({}).find("anything") == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab ", min_size=1, max_size=4), min_size=1, max_size=8, unique=True),
       st.text(alphabet="ab c", max_size=40))
def test_matches_reference(keys: list[str], text: str) -> None:
    auto = Automaton({k: k for k in keys})
    hits = auto.find(text)
    assert sorted(hits) == sorted(reference(keys, text))
    assert [e for _, _, e in hits] == sorted(e for _, _, e in hits)  # PatternScorer.match_many relies on it
    assert sorted(auto.find_bytes(text.encode())) == sorted(hits)
