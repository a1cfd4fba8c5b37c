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

from modbot.scoring.lexicon import Entry

# Python work per anchor occurrence or window, in characters of whole-text regex search it is worth: where
# anchor words are that dense, the whole skeleton is searched instead (same matches, less time).
SITE_COST = 25


def _is_word(ch: str) -> bool:
    """What `re`'s \\w matches for one character of a str pattern."""
    return ch.isalnum() or ch == "_"


class AnchorSites:
    """The anchor occurrences of one skeleton, and the space positions that bound the windows around them."""

    def __init__(self, automaton: Any, skeleton: str, site_cost: int = SITE_COST) -> None:
        """`site_cost` 0 always uses windows (tests compare them with the whole search)."""
        self.skeleton = skeleton
        self.site_cost = site_cost
        n = len(skeleton)
        self.sites: dict[str, list[tuple[int, int]]] | None = {}
        self.spaces: list[int] = []
        found = list(automaton.iter(skeleton))
        if site_cost and len(found) * site_cost >= n:
            # Anchor words nearly everywhere ("jews jews jews ..."): listing them would cost more than the search.
            self.sites = None
            return
        for last, (size, anchors) in found:
            start, end = last - size + 1, last + 1
            if start > 0 and _is_word(skeleton[start - 1]):
                continue
            closed = end >= n or not _is_word(skeleton[end])
            for anchor, prefix in anchors:
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
        # A window costs about a microsecond of Python plus the regex over ~6 characters per word it spans; the
        # whole-text search costs the regex over every character (both measured, ~0.04 µs per character).
        if self.site_cost and len(sites) * (self.site_cost + 12 * (reach + 1)) >= n:
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
