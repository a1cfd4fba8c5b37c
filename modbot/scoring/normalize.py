"""Fold a comment to a matching skeleton that survives evasion, keeping a map back to the original text.

The skeleton is what the lexicon is matched against; lexicon entries are folded by the same function,
so both sides always agree. Steps, in order:

1. Per character (cached table, applied with `str.translate` on the fast path):
   zero-width and joiner characters are dropped; Unicode NFKC (fullwidth, mathematical alphanumerics,
   ligatures); case folding; diacritics removed (NFD, combining marks dropped); look-alike letters folded
   to Latin with the Unicode confusables table (UTS #39) shipped by the `confusable-homoglyphs` package
   (Cyrillic, Greek, Armenian, Cherokee, ... look-alikes of a-z and 0-9); leetspeak digits and signs
   (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s |->i); every other punctuation mark becomes a space.
   "i", "l", "1" and "|" all fold to "i" because writers swap them freely ("1srael", "b1ood", "lsrael").
2. Runs of spaces collapse to one space.
3. Three or more single letters separated by spaces join into a word ("z i o n i s t", "j.e.w.s" ->
   "zionist", "jews"; dots and dashes became spaces in step 1).
4. Runs of a repeated letter collapse to one letter ("jewwws" -> "jews", "kill" -> "ki").

The skeleton is not meant to be read: it only has to be equal for a word and its disguised forms.
`normalize` builds it fast without offsets; `normalize_with_offsets` builds the same string plus, for each
skeleton character, the [start, end) range of original characters it came from, so a match can be
reported on the characters the reader sees.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from confusable_homoglyphs import confusables

# Characters a writer can slip between letters without a visible trace.
_INVISIBLE = frozenset(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # zero-width space, ZWNJ, ZWJ, LRM, RLM
    + list(range(0x202A, 0x202F))  # bidi embeddings and overrides
    + list(range(0x2060, 0x2070))  # word joiner, invisible operators, bidi isolates
    + list(range(0xFE00, 0xFE10))  # variation selectors
)

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "|": "i", "l": "i"}

# Symbols kept in the skeleton because lexicon entries use them: echo parentheses, "14/88", "13%", "#tag".
_KEPT_SYMBOLS = frozenset("()/%#&")


def _build_confusables() -> dict[str, str]:
    """Map each non-ASCII look-alike of an ASCII letter or digit to that letter/digit (lower case)."""
    table: dict[str, str] = {}
    data = confusables.confusables_data
    # Lower-case letters first so a glyph that resembles both "o" and "0" becomes the letter.
    targets = sorted((k for k in data if len(k) == 1 and k.isascii() and k.isalnum()),
                     key=lambda k: (not k.islower(), k.isdigit(), k))
    for target in targets:
        for alt in data[target]:
            glyph = alt["c"].strip("\u200e\u200f")
            if len(glyph) == 1 and not glyph.isascii() and glyph not in table:
                table[glyph] = target.lower()
    return table


_CONFUSABLES = _build_confusables()


def _fold_ascii(ch: str) -> str:
    if ch in _LEET:
        return _LEET[ch]
    if ch.isalnum() or ch in _KEPT_SYMBOLS:
        return ch
    return " "


@lru_cache(maxsize=None)
def fold_char(ch: str) -> str:
    """Step 1 for one character: the skeleton characters it becomes (possibly none, possibly several)."""
    if ord(ch) in _INVISIBLE:
        return ""
    if ch.isascii():
        return _fold_ascii(ch.lower())
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.category(d) == "Mn" or ord(d) in _INVISIBLE:
                continue  # diacritics and combining marks
            d = _CONFUSABLES.get(d, d)
            out.append(_fold_ascii(d) if d.isascii() else (d if d.isalnum() else " "))
    return "".join(out)


class _FoldTable(dict[int, str]):
    """`str.translate` table that fills itself from `fold_char` on first sight of a code point."""

    def __missing__(self, key: int) -> str:
        value = fold_char(chr(key))
        self[key] = value
        return value


_TABLE = _FoldTable()
_SPACES = re.compile(" {2,}")
_SPLIT_LETTERS = re.compile(r"\b[a-z](?: [a-z]){2,}\b")
_REPEATS = re.compile(r"([a-z])\1+")


def _first_letter(m: re.Match[str]) -> str:
    return m.group(1)


def _join_letters(m: re.Match[str]) -> str:
    return m.group().replace(" ", "")


def normalize(text: str) -> str:
    """The matching skeleton of `text` (no offsets; the fast path used before any match is known)."""
    s = text.translate(_TABLE)
    if "  " in s:
        s = _SPACES.sub(" ", s)
    s = _SPLIT_LETTERS.sub(_join_letters, s)
    return _REPEATS.sub(_first_letter, s)


@dataclass(frozen=True)
class Normalized:
    """A skeleton and, per skeleton character, the original [start, end) it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a skeleton span [start, end) to the original text's span."""
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def _drop(chars: list[str], starts: list[int], ends: list[int], drop: set[int]) -> None:
    """Delete the given indices from the three parallel lists, in place."""
    keep = [i for i in range(len(chars)) if i not in drop]
    chars[:] = [chars[i] for i in keep]
    starts[:] = [starts[i] for i in keep]
    ends[:] = [ends[i] for i in keep]


def normalize_with_offsets(text: str) -> Normalized:
    """Same skeleton as `normalize(text)`, with offsets back into `text`."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        for out in _TABLE[ord(ch)]:
            chars.append(out)
            starts.append(i)
            ends.append(i + 1)
    s = "".join(chars)
    drop: set[int] = set()
    for m in _SPACES.finditer(s):
        drop.update(range(m.start() + 1, m.end()))
    if drop:
        _drop(chars, starts, ends, drop)
        s = "".join(chars)
    drop = set()
    for m in _SPLIT_LETTERS.finditer(s):
        drop.update(i for i in range(m.start(), m.end()) if s[i] == " ")
    if drop:
        _drop(chars, starts, ends, drop)
        s = "".join(chars)
    drop = set()
    for m in _REPEATS.finditer(s):
        ends[m.start()] = ends[m.end() - 1]  # the kept letter covers the whole stretched run
        drop.update(range(m.start() + 1, m.end()))
    if drop:
        _drop(chars, starts, ends, drop)
        s = "".join(chars)
    return Normalized(s, tuple(starts), tuple(ends))
