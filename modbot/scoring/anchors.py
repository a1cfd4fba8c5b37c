"""Where a long comment's anchor words occur, and the windows around them that an entry's regex must search.

Every match of a `terms:` or `pattern:` entry contains one of its anchor words' items as a whole token (after a
non-word character or the start, and, unless the item is a prefix, before one or the end), and holds at most
`Entry.reach` spaces. So each match lies inside the window from `reach` + 1 spaces before such an occurrence to
`reach` + 1 spaces after it. Searching an entry's regex only inside those windows (merged where they overlap)
finds exactly the matches a search of the whole skeleton finds:

- no match starts or ends outside a window, so the search can skip the text between windows;
- a window ends at a space or at the end of the text, where the regex behaves the same whether the text goes
  on or not (a match cannot reach past it, and `(?!\\w)` sees a non-word character either way);
- the regex's look-behind sees the real text before a window's start (`pattern.finditer(text, pos, endpos)`).

On a comment dense with trope words the whole-text search of every candidate entry grows with both the length
and the number of candidates (more entries have all their anchors somewhere in a longer text); the windows
grow with the occurrences alone, which keeps the pattern stage linear. Short comments are searched whole: the
windows do not pay for themselves there (PatternScorer.WINDOWED_FROM).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from modbot.scoring.automaton import Automaton
from modbot.scoring.lexicon import Entry

# What listing anchor words and computing windows costs, in characters of one entry's whole-skeleton regex
# search (about 0.04 µs each), measured on the shipped lexicon: where anchor words are so dense that the
# windows would cost more than they save ("jews jews jews ..."), the whole skeleton is searched instead.
PER_HIT = 12  # one anchor-word occurrence listed
PER_ANCHOR = 6  # each anchor that occurrence serves
PER_WINDOW = 25  # one window computed for one entry


def _is_word(ch: str) -> bool:
    """What `re`'s \\w matches for one character of a str pattern."""
    return ch.isalnum() or ch == "_"


class AnchorSites:
    """The anchor occurrences of one skeleton, and the space positions that bound the windows around them."""

    def __init__(self, automaton: Automaton[tuple[tuple[str, bool], ...]], skeleton: str, candidates: int,
                 always: bool = False) -> None:
        """`automaton`: Lexicon.sites; `candidates`: how many entries will be searched; `always` windows them
        however dense the anchor words (tests compare the windows with the whole search)."""
        self.skeleton = skeleton
        self.always = always
        n = len(skeleton)
        self.sites: dict[str, list[tuple[int, int]]] | None = {}
        self.spaces: list[int] = []
        found = automaton.find(skeleton)  # (key, start, end): the word is skeleton[start:end]
        served = automaton.values
        if not always and sum(PER_HIT + PER_ANCHOR * len(served[key]) for key, _, _ in found) >= n * candidates:
            self.sites = None
            return
        for key, start, end in found:
            if start > 0 and _is_word(skeleton[start - 1]):
                continue
            closed = end >= n or not _is_word(skeleton[end])
            for anchor, prefix in served[key]:
                if prefix or closed:
                    self.sites.setdefault(anchor, []).append((start, end))
        self.spaces = [p - 1 for p in accumulate(len(w) + 1 for w in skeleton.split(" "))][:-1]

    def windows(self, entry: Entry) -> list[tuple[int, int]] | None:
        """Disjoint [lo, hi) ranges, in order, outside which `entry.regex` cannot match; None when the windows
        would cost more than searching the whole skeleton (an anchor word on every line)."""
        if entry.reach is None or self.sites is None:
            return None
        sites = min((self.sites.get(a, []) for a in entry.anchors), key=len)
        spaces, reach, n = self.spaces, entry.reach, len(self.skeleton)
        # A window costs its computation plus the regex over ~6 characters per word it spans, each way.
        if not self.always and len(sites) * (PER_WINDOW + 12 * (reach + 1)) >= n:
            return None
        found = []
        for start, end in sites:
            i = bisect_left(spaces, start) - reach - 1
            j = bisect_left(spaces, end) + reach
            found.append((spaces[i] + 1 if i >= 0 else 0, spaces[j] if j < len(spaces) else n))
        found.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in found:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged

    def finditer(self, entry: Entry) -> Iterator[Any]:
        """The matches of `entry.regex` in the skeleton, as `entry.regex.finditer(skeleton)` yields them."""
        windows = self.windows(entry)
        if windows is None:
            yield from entry.regex.finditer(self.skeleton)
            return
        for lo, hi in windows:
            yield from entry.regex.finditer(self.skeleton, lo, hi)
