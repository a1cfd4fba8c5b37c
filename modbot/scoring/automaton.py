"""Every occurrence of a fixed set of keys in a text, each key carrying a value: one Aho–Corasick pass.

A thin wrapper over `ahocorasick_rs` (Rust, its DFA: about twice as fast as pyahocorasick on the lexicon's anchor
words), so that the lexicon and its callers depend on this shape only: hits are (key index, start, end) with `end`
exclusive, as in slicing, and the key's value is `values[index]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from ahocorasick_rs import AhoCorasick, BytesAhoCorasick, Implementation, MatchKind

V = TypeVar("V")


class Automaton(Generic[V]):
    """All occurrences of the keys of a mapping, overlapping ones included, in the order of their ends.

    `find` searches a str (offsets in characters); `find_bytes` searches bytes with the keys encoded as UTF-8, so
    on ASCII bytes its offsets are those `find` gives on the same text decoded."""

    def __init__(self, keys: Mapping[str, V]) -> None:
        if any(not k for k in keys):
            raise ValueError("an automaton key must not be empty")
        words = list(keys)
        self.values: tuple[V, ...] = tuple(keys[k] for k in words)
        kind, impl = MatchKind.Standard, Implementation.DFA  # Standard: every match, so overlapping ones too
        self._str = AhoCorasick(words, matchkind=kind, store_patterns=False, implementation=impl)
        self._bytes = BytesAhoCorasick([w.encode() for w in words], matchkind=kind, implementation=impl)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """(key index, start, end) of every occurrence in `text`, ordered by end."""
        return self._str.find_matches_as_indexes(text, overlapping=True)

    def find_bytes(self, data: bytes) -> list[tuple[int, int, int]]:
        """`find` over bytes: offsets in bytes."""
        return self._bytes.find_matches_as_indexes(data, overlapping=True)
