"""Fold a comment to a matching skeleton that survives evasion, keeping a map back to the original text.

The skeleton is what the lexicon is matched against; lexicon entries are folded by the same function,
so both sides always agree. Steps, in order:

1. Per character (cached table, applied with `str.translate` on the fast path):
   zero-width and joiner characters are dropped; Unicode NFKC (fullwidth, mathematical alphanumerics,
   ligatures); case folding; diacritics removed (NFD, combining marks dropped); look-alike letters folded
   to Latin with the Unicode confusables table (UTS #39) shipped by the `confusable-homoglyphs` package
   (Cyrillic, Greek, Armenian, Cherokee, ... look-alikes of a-z and 0-9, plus a few lower-case Greek and
   Cyrillic letters the table leaves out, and as a fallback any decorated Latin letter the table misses,
   by its Unicode name: "ʝ" LATIN SMALL LETTER J WITH CROSSED-TAIL -> "j", small capital "ᴇ" -> "e");
   leetspeak digits and signs (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s |->i); every other punctuation mark
   becomes a space.
   "i", "l", "1" and "|" all fold to "i" because writers swap them freely ("1srael", "b1ood", "lsrael").
   Spelling separators (. - _ * ~ + and middle dots) become "." for the next step.
2. Three or more single letters split by the same separator join into a word ("z i o n i s t", "j.e.w.s"
   -> "zionist", "jews"); a spaced run's leading/trailing "a" or "i" stays a word ("a k i k e" -> "a kike").
3. The remaining separators become spaces; runs of spaces collapse to one.
4. Runs of a repeated letter collapse to one letter ("jewwws" -> "jews", "kill" -> "ki").

The skeleton is not meant to be read: it only has to be equal for a word and its disguised forms.
`normalize` builds it fast without offsets; `normalize_with_offsets` builds the same string plus, for each
skeleton character, the [start, end) range of original characters it came from, so a match can be
reported on the characters the reader sees.

Speed: nearly every comment is ASCII, and for ASCII text steps 1-4 run on bytes (a byte table for step 1, a
class-string search that rules out step 2, one pass over the bytes for steps 3-4, `squeeze_raw`: big integers
for one comment, numpy for a batch), with no Python work per character; other text takes the `str.translate`
table and the regexes. Both give the same skeleton (tests/test_patterns_fast.py checks them against a
per-character reference).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
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
# Marks used to spell a word out letter by letter ("j.e.w.s", "k-i-k-e", "n*a*z*i"); kept as "." until the
# letters are joined, so that a run written with one separator is not glued to its neighbours.
_SEPARATORS = frozenset(".-_*~+·•‧⋅")


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


# UTS #39 lists capital Greek/Cyrillic look-alikes (K, H, T, M, B) but not their lower-case forms, which
# read as Latin letters in most fonts and are what evaders type; this short supplement covers them.
_LOWER_LOOKALIKES = {"κ": "k", "η": "n", "τ": "t", "ω": "w", "χ": "x", "ε": "e", "β": "b", "μ": "u",
                     "к": "k", "н": "h", "т": "t", "м": "m", "в": "b", "п": "n", "и": "u", "ь": "b"}
_CONFUSABLES = _build_confusables() | _LOWER_LOOKALIKES

# Latin letters the confusables table leaves out (IPA and Latin-extended: "ʝ" J WITH CROSSED-TAIL, "ɉ", small
# capitals "ᴊ ᴇ"): their Unicode name spells out the ASCII letter they are drawn from, so that letter is
# used. Only "LETTER X" and "LETTER X WITH <decoration>" names count ("TURNED A", "SHARP S" are other
# letters); the library table always wins, this is the fallback for what it does not list.
_LATIN_NAME = re.compile(r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL )?([A-Z])(?: WITH .+)?")


def _latin_base(ch: str) -> str:
    """The ASCII letter a decorated Latin letter is drawn from ("ʝ" -> "j"), or `ch` itself."""
    m = _LATIN_NAME.fullmatch(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else ch


def _fold_ascii(ch: str) -> str:
    if ch in _LEET:
        return _LEET[ch]
    if ch.isalnum() or ch in _KEPT_SYMBOLS:
        return ch
    return "." if ch in _SEPARATORS else " "


@cache  # bounded by the number of Unicode code points
def fold_char(ch: str) -> str:
    """Step 1 for one character: the skeleton characters it becomes (possibly none, possibly several)."""
    if ord(ch) in _INVISIBLE:
        return ""
    if ch.isascii():
        return _fold_ascii(ch.lower())
    if ch in _SEPARATORS:
        return "."
    out = []
    # Look-alikes are looked up before and after case folding: the table knows capital Cyrillic "К" but
    # not its lower-case form.
    folded = "".join(_CONFUSABLES.get(c, c) for c in unicodedata.normalize("NFKC", ch)).casefold()
    for c in folded:
        for d in unicodedata.normalize("NFD", c):
            if unicodedata.category(d) == "Mn" or ord(d) in _INVISIBLE:
                continue  # diacritics and combining marks
            d = _CONFUSABLES.get(d) or (_latin_base(d) if d.isalpha() and not d.isascii() else d)
            out.append(_fold_ascii(d) if d.isascii() else (d if d.isalnum() else " "))
    return "".join(out)


def spelled(text: str) -> str:
    """`text` folded character by character (look-alikes, leet, case, accents) to its letters and digits only,
    with repeated letters kept: tells "Niger" from "nigger", which share the skeleton "niger"."""
    return re.sub(r"[^a-z0-9]", "", "".join(fold_char(ch) for ch in text))


class _FoldTable(dict[int, str]):
    """`str.translate` table that fills itself from `fold_char` on first sight of a code point."""

    def __missing__(self, key: int) -> str:
        value = fold_char(chr(key))
        self[key] = value
        return value


_TABLE = _FoldTable()
_DOTS = {ord("."): " "}
_SPACES = re.compile(" {2,}")
# Three or more single letters or digits ("1 4 8 8"), all split by the same separator.
_SPLIT_LETTERS = re.compile(r"\b[a-z0-9]([ .]+)[a-z0-9](?:\1[a-z0-9])+\b")
# A letter followed by the same letter: deleting every such letter keeps the last of each run, and a
# constant replacement keeps `re.sub` on its fast path (no Python callback per run).
_REPEATS = re.compile(r"([a-z])(?=\1)")
# Byte tables for `_squeeze`: "." to " "; 0 for the bytes whose repeats are squeezed (space, a-z), 1 for the
# rest; a zero byte to the 0xff mark (no ASCII character) and every other byte to 0.
_DOT_BYTES = bytes.maketrans(b".", b" ")
_CLASSES = bytes(ord("s") if chr(i) in " ." else ord("a") if chr(i) in "abcdefghijklmnopqrstuvwxyz0123456789"
                 else ord("o") for i in range(256))
_NOT_SQUEEZED = bytes(0 if i == 32 or 97 <= i <= 122 else 1 for i in range(256))
_ZERO_TO_MARK = bytes([255] + [0] * 255)
# Step 1 for ASCII text as byte tables: each character's fold (always one ASCII character), with separators
# already spaces (used when nothing is spelled out), and the class of the fold (see _may_spell).
ASCII_FOLD = bytes(ord(fold_char(chr(i))) if i < 128 else i for i in range(256)).translate(_DOT_BYTES)
ASCII_CLASSES = bytes(_CLASSES[ord(fold_char(chr(i)))] if i < 128 else ord("o") for i in range(256))
# A whole run of one letter: the offset map gives the kept letter the run's span.
_RUNS = re.compile(r"([a-z])\1+")
# What every _SPLIT_LETTERS match contains: its second letter stands alone between separators, and the letter
# after it ends a word. Searched first because, unlike _SPLIT_LETTERS (which opens with \b), it starts with a
# character class that `re` can skip ahead to: most comments have no such place and skip the join entirely.
_SPLIT_HINT = re.compile(r"[ .][a-z0-9][ .]+[a-z0-9]\b")
SPELL_HINT = re.compile(rb"sas+a(?!a)")  # _SPLIT_HINT over the class bytes of ASCII text (see _may_spell)


def _join_region(m: re.Match[str], join_all: bool) -> tuple[int, int]:
    """The part of a spelled-out run whose separators are removed, relative to the match.

    With spaces as separators, a leading or trailing "a"/"i" is usually a word of its own ("a k i k e",
    "r a g h e a d i am"); `join_all` gives the other reading ("i s l a m")."""
    g = m.group()
    start, end = 0, len(g)
    if not join_all and m.group(1) == " ":
        if g[0] in "ai" and len(g) >= 7:
            start = 2
        if g[-1] in "ai" and end - start >= 7:
            end -= 2
    return start, end


def _joiner(join_all: bool) -> Callable[[re.Match[str]], str]:
    def join(m: re.Match[str]) -> str:
        g = m.group()
        a, b = _join_region(m, join_all)
        return g[:a] + g[a:b].replace(m.group(1), "") + g[b:]
    return join


_JOIN = {False: _joiner(False), True: _joiner(True)}


def _skeleton(text: str, join_all: bool) -> tuple[str, bool]:
    """The skeleton, and whether a spelled-out run had an "a"/"i" split off (so the other reading exists)."""
    if text.isascii():
        # Nearly every comment: each ASCII character folds to one ASCII character, so step 1 is a byte table,
        # and without spelled-out letters steps 3-4 follow on the same bytes (the str path gives the same).
        data = text.encode("ascii")
        if SPELL_HINT.search(data.translate(ASCII_CLASSES)) is None:
            return _squeeze_bytes(data.translate(ASCII_FOLD)), False
    s = text.translate(_TABLE)
    split_off = False
    if _may_spell(s) and _SPLIT_LETTERS.search(s):
        s2 = _SPLIT_LETTERS.sub(_JOIN[join_all], s)
        split_off = not join_all and s2 != _SPLIT_LETTERS.sub(_JOIN[True], s)
        s = s2
    return _squeeze(s), split_off


def _may_spell(s: str) -> bool:
    """False when step 2 has nothing to join in `s` (no _SPLIT_LETTERS match), True when it may.

    Every match has a lone letter or digit between separators followed, after more separators, by a letter or
    digit that ends a word (_SPLIT_HINT). For ASCII text each character becomes its class (s: separator, a:
    letter or digit, o: anything else) and SPELL_HINT looks for that shape with a literal prefix ("sas"), which
    `re` finds by a fast scan rather than by trying a match at every space."""
    if not s.isascii():
        return _SPLIT_HINT.search(s) is not None
    return SPELL_HINT.search(s.encode("ascii").translate(_CLASSES)) is not None


def _squeeze(s: str) -> str:
    """Steps 3 and 4: separators become spaces, each run of spaces or of one letter a-z shrinks to one.

    Each step deletes a character equal to the one after it (a space, or a letter a-z) and neither creates such
    a pair for the other, so for ASCII text one pass over the bytes does both, with no Python work per
    character (`squeeze_raw`). Other text takes the regexes, which give the same string."""
    n = len(s)
    if n < 2 or not s.isascii():
        if "." in s:
            s = s.translate(_DOTS)
        if "  " in s:
            s = _SPACES.sub(" ", s)
        return _REPEATS.sub("", s)
    return _squeeze_bytes(s.encode("ascii").translate(_DOT_BYTES))


def _squeeze_bytes(b: bytes) -> str:
    """`_squeeze` of ASCII text whose separators are already spaces."""
    return squeeze_raw(b).decode("ascii")


def squeeze_raw(b: bytes) -> bytes:
    """`_squeeze_bytes` without the decoding: each run of one byte that is a space or a letter a-z shrinks to one.
    `b` is folded ASCII text, or such texts joined with the byte 0x80 (never 0xff, see `_squeeze_int`).

    Bytes other than a space and a-z are never deleted and never equal their neighbour's class, so a byte 0x80
    between ASCII texts is a hard boundary: it is kept, and a byte after it is compared with 0x80, which no ASCII
    byte equals, so each text's squeeze is exactly its own (PatternScorer's batch path joins a batch with it).

    Both ways compare each byte with the one before it, with no Python work per byte: numpy arrays for a batch,
    big integers for one comment (numpy's fixed cost per call, several µs, is more than a comment's whole squeeze).
    """
    n = len(b)
    if n < 2:
        return b
    return _squeeze_array(b) if n >= SQUEEZE_ARRAY_FROM else _squeeze_int(b)


# From this many bytes (about six typical comments) `_squeeze_array` is faster than `_squeeze_int`: measured
# 2.5 against 1.8 µs per comment at 2,300 bytes, 3.2 against 3.8 at 1,100 (a batch of 32: 2.3 against 0.75).
SQUEEZE_ARRAY_FROM = 1_500


def _squeeze_array(b: bytes) -> bytes:
    """`squeeze_raw` with numpy: keep a byte that differs from the one before it or is neither a space nor a-z."""
    a = np.frombuffer(b, np.uint8)
    keep = np.empty(len(a), np.bool_)
    keep[0] = True
    after = a[1:]
    np.not_equal(after, a[:-1], out=keep[1:])
    if keep.all():
        return b
    keep[1:] |= ((after - 97) > 25) & (after != 32)  # uint8 wraps: after - 97 > 25 is "not a-z"
    return a[keep].tobytes()


def _squeeze_int(b: bytes) -> bytes:
    """`squeeze_raw` with big integers: compare each byte with the next as two integers, mark the bytes to delete
    with 0xff (so `b` must hold none: ASCII text and the 0x80 separator do not), delete them with `bytes.translate`."""
    n = len(b)
    x = int.from_bytes(b, "big")
    # Byte i of `differ` is b[i] ^ b[i + 1], or'ed with 1 where b[i] is neither a space nor a letter a-z: a zero
    # byte is a character to delete.
    differ = (x >> 8) ^ (x & ((1 << (8 * (n - 1))) - 1)) | int.from_bytes(b[:-1].translate(_NOT_SQUEEZED), "big")
    marks = int.from_bytes(differ.to_bytes(n - 1, "big").translate(_ZERO_TO_MARK), "big")
    if not marks:
        return b
    return (x | (marks << 8)).to_bytes(n, "big").translate(None, b"\xff")


def normalize(text: str) -> str:
    """The matching skeleton of `text` (no offsets; the fast path used before any match is known)."""
    return _skeleton(text, join_all=False)[0]


def normalize_variants(text: str) -> tuple[str, ...]:
    """The skeleton, plus a second reading when spelled-out letters start or end with "a"/"i" ("i s l a m" is
    one word, "a k i k e" an article and a word): matching both readings catches both."""
    s, split_off = _skeleton(text, join_all=False)
    if split_off:
        return s, _skeleton(text, join_all=True)[0]
    return (s,)


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


def _folded_offsets(text: str) -> tuple[list[int], list[int]]:
    """Per character of `text.translate(_TABLE)`, the original [start, end) it came from.

    ASCII characters (and most others) fold to exactly one character, so the map is the identity between the
    few characters that fold to none (zero-width) or several (ligatures); only those are visited one by one."""
    n = len(text)
    odd = "" if text.isascii() else "".join(c for c in set(text) if len(_TABLE[ord(c)]) != 1)
    if not odd:
        return list(range(n)), list(range(1, n + 1))
    starts: list[int] = []
    ends: list[int] = []
    prev = 0
    for m in re.finditer("[" + re.escape(odd) + "]", text):
        i = m.start()
        starts += range(prev, i)
        ends += range(prev + 1, i + 1)
        k = len(_TABLE[ord(text[i])])
        starts += [i] * k
        ends += [i + 1] * k
        prev = i + 1
    starts += range(prev, n)
    ends += range(prev + 1, n + 1)
    return starts, ends


def _remove(s: str, starts: list[int], ends: list[int], spans: list[tuple[int, int]]
            ) -> tuple[str, list[int], list[int]]:
    """`s` and its offsets without the characters in `spans` (sorted, disjoint [a, b) ranges); copies whole
    stretches between them instead of testing every index."""
    if not spans:
        return s, starts, ends
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    prev = 0
    for a, b in spans:
        pieces.append(s[prev:a])
        new_starts += starts[prev:a]
        new_ends += ends[prev:a]
        prev = b
    pieces.append(s[prev:])
    new_starts += starts[prev:]
    new_ends += ends[prev:]
    return "".join(pieces), new_starts, new_ends


def _separator_spans(s: str, join_all: bool) -> list[tuple[int, int]]:
    """The separators removed where spelled-out letters are joined (step 2), as sorted [a, b) ranges."""
    spans: list[tuple[int, int]] = []
    if not _may_spell(s):
        return spans
    for m in _SPLIT_LETTERS.finditer(s):
        a, b = _join_region(m, join_all)
        for i in range(m.start() + a, m.start() + b):
            if not s[i].isalnum():
                if spans and spans[-1][1] == i:
                    spans[-1] = (spans[-1][0], i + 1)
                else:
                    spans.append((i, i + 1))
    return spans


def normalize_with_offsets(text: str, join_all: bool = False) -> Normalized:
    """Same skeleton as `normalize(text)` (or its second reading with `join_all`), with offsets into `text`.

    Linear, with Python-level work only per separator, space run or letter run removed: the rest of the map
    is built from ranges and slices."""
    s = text.translate(_TABLE)
    starts, ends = _folded_offsets(text)
    s, starts, ends = _remove(s, starts, ends, _separator_spans(s, join_all))
    if "." in s:
        s = s.translate(_DOTS)
    if "  " in s:
        s, starts, ends = _remove(s, starts, ends, [(m.start() + 1, m.end()) for m in _SPACES.finditer(s)])
    runs = []
    for m in _RUNS.finditer(s):
        starts[m.end() - 1] = starts[m.start()]  # the kept (last) letter covers the whole stretched run
        runs.append((m.start(), m.end() - 1))
    s, starts, ends = _remove(s, starts, ends, runs)
    return Normalized(s, tuple(starts), tuple(ends))
