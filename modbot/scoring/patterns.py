"""The pattern scorer: conspiracy and hate tropes from config/patterns.yaml, matched on the evasion-proof
skeleton (modbot.scoring.normalize) and reported on the original text, each with its stance.

Per comment: HTML is decoded first when there is any (modbot.scoring.markup); the skeleton is built (on bytes
for ASCII text); one Aho–Corasick pass finds the anchor words; only entries whose anchors all occurred run their
own small regex (in long comments only around their anchor words, modbot.scoring.anchors); matches then pass
the cheap co-occurrence (`requires`) and lexical exception (`unless`) checks, and each surviving match gets its
stance from the words around it (modbot.scoring.stance). Offsets and stance are computed only for comments that
matched, so clean comments stay on the fast path.

An exception word ("food bank") frames a match only in the match's own sentence, and not when it is dismissed
("this is no myth"): a found exception is checked against the sentence boundaries of the original text
(mapped onto the skeleton) and the lexicon's dismissal frames before it suppresses the match.
"""
from __future__ import annotations

import asyncio
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from modbot.models import Comment, Match, ScorerOutput
from modbot.scoring.anchors import AnchorSites
from modbot.scoring.lexicon import Entry, Lexicon, load_lexicon
from modbot.scoring.markup import decode, has_markup
from modbot.scoring.normalize import (
    ASCII_CLASSES,
    ASCII_FOLD,
    SPELL_HINT,
    Normalized,
    normalize_variants,
    normalize_with_offsets,
    spelled,
    squeeze_raw,
)
from modbot.scoring.stance import StanceReader

_SEPARATOR = re.compile(b"\x80")  # between the texts of a batch's joined skeleton (PatternScorer.match_many)


def _any_candidate(by_lead: dict[str, tuple[Entry, ...]], present: set[str]) -> bool:
    """Whether `PatternScorer.candidates` would find an entry for these anchors."""
    for anchor in present:  # plain loops: a generator's setup costs more than the one or two tests it makes
        for entry in by_lead.get(anchor, ()):
            if entry.anchors <= present:
                return True
    return False


def _window(text: str, start: int, end: int, words: int | None) -> tuple[int, int]:
    """The skeleton range from `words` words before the span to `words` words after it."""
    if words is None:
        return 0, len(text)
    lo = start
    for _ in range(words):
        lo = text.rfind(" ", 0, lo - 1) + 1 if lo > 1 else 0
        if lo == 0:
            break
    hi = end
    for _ in range(words):
        nxt = text.find(" ", hi + 1)
        if nxt < 0:
            return lo, len(text)
        hi = nxt
    return lo, hi


def _gaps(m: re.Match[str]) -> list[tuple[int, int]]:
    """The non-empty ~N gaps of a `pattern:` entry's match (its regex captures each gap as a group)."""
    return [m.span(g) for g in range(1, (m.lastindex or 0) + 1) if m.end(g) > m.start(g)]


@lru_cache(maxsize=256)
def _dismissals(source: str) -> re.Pattern[str]:
    """Compiled dismissal frames (entries of one category share one source, so one compile)."""
    return re.compile(source)


class PatternScorer:
    """Scorer over a compiled lexicon. `match` is the synchronous core; `score` wraps it for the pipeline."""

    name = "patterns"
    # Skeletons this long or longer are searched only around their anchor words (modbot.scoring.anchors): the same
    # matches, in time that grows with the text rather than with the text times the candidate entries.
    windowed_from = 500
    always_windows = False  # True: windows however dense the anchor words (modbot.scoring.anchors; tests)

    def __init__(self, lexicon: Lexicon) -> None:
        self._lexicon = lexicon
        # Each entry under one of its anchors, the one most entries share (a group word such as <jews>, rarer in
        # ordinary comments than "money" or "first"): an entry is a candidate only when all its anchors occur, so
        # looking it up under one of them finds it, and common words lead to few subset tests.
        shared = Counter(a for e in lexicon.entries for a in e.anchors)
        lead: dict[str, list[Entry]] = {}
        for entry in lexicon.entries:
            lead.setdefault(max(entry.anchors, key=lambda a: (shared[a], a)), []).append(entry)
        self._by_lead = {a: tuple(es) for a, es in lead.items()}

    @classmethod
    def from_file(cls, path: Path) -> PatternScorer:
        """Load a patterns YAML file; raises ConfigError with file:line:col when it is invalid."""
        return cls(load_lexicon(Path(path)))

    @property
    def version(self) -> str:
        """Short sha256 of the lexicon file, recorded with every decision."""
        return self._lexicon.version

    @property
    def lexicon(self) -> Lexicon:
        return self._lexicon

    def candidates(self, skeleton: str) -> list[Entry]:
        """Entries whose anchor words all occur in the skeleton (one automaton pass)."""
        automaton = self._lexicon.automaton
        present: set[str] = set().union(*[automaton.values[key] for key, _, _ in automaton.find(f" {skeleton} ")])
        if not present:
            return []
        by_lead = self._by_lead
        return [e for a in present if a in by_lead for e in by_lead[a] if e.anchors <= present]

    def match(self, text: str) -> list[Match]:
        """All lexicon matches in `text`, each with its stance; spans and `Match.text` refer to the original
        characters.

        HTML and bidi controls are resolved first (modbot.scoring.markup), so matching reads what the reader
        sees and a <blockquote> counts as quoted speech; each span, and each stance cue, is then mapped back
        onto the original comment."""
        if not has_markup(text):
            return self._match_plain(text)
        decoded = decode(text)
        matches = self._match_plain(decoded.text, decoded.quoted_ranges)
        found: dict[tuple[str, int, int], Match] = {}
        for m in matches:
            start, end = decoded.span(m.start, m.end)
            cue_start, cue_end = (m.cue_start, m.cue_end)
            if cue_start is not None and cue_end is not None:
                cue_start, cue_end = decoded.span(cue_start, cue_end)
            found.setdefault((m.pattern, start, end), replace(
                m, start=start, end=end, text=text[start:end], cue_start=cue_start, cue_end=cue_end,
                cue=text[cue_start:cue_end] if cue_start is not None and m.cue else m.cue))
        return sorted(found.values(), key=lambda x: (x.start, x.end, x.pattern))

    def _match_plain(self, text: str, quoted_ranges: Sequence[tuple[int, int]] = ()) -> list[Match]:
        """All lexicon matches in plain text (no markup); spans index `text`."""
        variants = normalize_variants(text)
        first = self.candidates(variants[0])
        if len(variants) == 1 and not first:
            return []  # the fast path: no entry has all its anchor words here (nearly every comment)
        found: dict[tuple[str, int, int], Match] = {}
        for variant, skeleton in enumerate(variants):
            entries = first if variant == 0 else self.candidates(skeleton)
            mapped: Normalized | None = None
            reader: StanceReader | None = None
            words = self._lexicon.sites
            long = entries and len(skeleton) >= self.windowed_from and words is not None
            sites = AnchorSites(words, skeleton, len(entries), self.always_windows) if long and words else None
            for entry in entries:
                for m in sites.finditer(entry) if sites is not None else entry.regex.finditer(skeleton):
                    hits = self._exceptions(entry, skeleton, m.start(), m.end())
                    if hits is None:
                        continue
                    if mapped is None:
                        mapped = normalize_with_offsets(text, join_all=variant == 1)
                    reader = reader or StanceReader(self._lexicon.stance, text, mapped, quoted_ranges)
                    if hits and self._framed(entry, skeleton, m.start(), m.end(), hits, reader.sentences.index):
                        continue
                    start, end = mapped.span(m.start(), m.end())
                    if (entry.id, start, end) in found:
                        continue
                    if entry.unless_spelled and spelled(text[start:end]) in entry.unless_spelled:
                        continue
                    gaps = _gaps(m) if entry.gapped and isinstance(m, re.Match) else []
                    verdict = reader.classify(m.start(), m.end(), gaps, entry.stance)
                    cue = None if verdict.cue_start is None else text[verdict.cue_start:verdict.cue_end]
                    found[(entry.id, start, end)] = Match(
                        category=entry.category, pattern=entry.id, start=start, end=end,
                        text=text[start:end], severity=entry.severity, stance=verdict.stance,
                        cue=cue or None, cue_start=verdict.cue_start, cue_end=verdict.cue_end)
        return sorted(found.values(), key=lambda x: (x.start, x.end, x.pattern))

    @staticmethod
    def _exceptions(entry: Entry, skeleton: str, start: int, end: int) -> list[tuple[int, int]] | None:
        """None when a `requires` word is missing; else the exception words found in the window (spans)."""
        if not entry.requires and not entry.unless:
            return []
        lo, hi = _window(skeleton, start, end, entry.window)
        if any(not rx.search(skeleton, lo, hi) for rx in entry.requires):
            return None
        return [h.span() for rx in entry.unless for h in rx.finditer(skeleton, lo, hi)]

    @staticmethod
    def _framed(entry: Entry, skeleton: str, start: int, end: int, hits: list[tuple[int, int]],
                sentence: Callable[[int], int]) -> bool:
        """True when an exception word frames the match: same sentence, and not inside a dismissal frame."""
        first, last = sentence(start), sentence(end - 1)
        hits = [h for h in hits if first <= sentence(h[0]) <= last]
        if hits and entry.dismiss is not None:
            lo = min(min(h[0] for h in hits), start)
            hi = max(max(h[1] for h in hits), end)
            frames = [f.span() for f in _dismissals(entry.dismiss).finditer(skeleton, max(0, lo - 40), hi + 40)]
            hits = [h for h in hits if not any(a <= h[0] and h[1] <= b for a, b in frames)]
        return bool(hits)

    async def score(self, batch: Sequence[Comment]) -> list[ScorerOutput]:
        """Pattern matches per comment; no labels. Runs in a thread: a batch of long, anchor-dense comments
        (which anyone can post) takes tens of milliseconds, which the event loop must not wait for."""
        return await asyncio.to_thread(self.match_batch, [c.text for c in batch])

    def match_batch(self, texts: Sequence[str]) -> list[ScorerOutput]:
        """`match` for each text, as `score` runs it (see `match_many`)."""
        return [ScorerOutput(labels={}, matches=m) for m in self.match_many(texts)]

    def match_many(self, texts: Sequence[str]) -> list[tuple[Match, ...]]:
        """`tuple(self.match(t))` for each text, with the fixed cost of the clean fast path paid once per batch.

        Plain ASCII texts (no markup) are joined with the byte 0x80, which no ASCII text holds and which the byte
        fold, the spelled-letter hint and the squeeze all treat as a hard boundary (it folds to itself, is of the
        class "o" and is never squeezed), so each text's stretch of the joined skeleton is exactly its own
        skeleton. One pass of the anchor automaton over the joined skeleton then gives each text its anchors: a
        text with no candidate entry and nothing spelled out gets [] from `match` (its fast path), and every other
        text takes `match` itself. A hit that straddles two texts only sends a text to `match` needlessly."""
        out: list[tuple[Match, ...]] = [()] * len(texts)
        plain: list[int] = []
        for i, t in enumerate(texts):
            if t.isascii() and "<" not in t and "&" not in t:
                plain.append(i)
            else:
                out[i] = tuple(self.match(t))
        if not plain:
            return out
        full: set[int] = set()
        raw = "\x80".join([texts[i] for i in plain]).encode("latin-1")
        classes = raw.translate(ASCII_CLASSES)
        if SPELL_HINT.search(classes) is not None:  # rare: letters spelled out somewhere in the batch
            starts = [0]
            for i in plain[:-1]:
                starts.append(starts[-1] + len(texts[i]) + 1)
            for m in SPELL_HINT.finditer(classes):
                full.add(plain[bisect_right(starts, m.start()) - 1])
        skeleton = squeeze_raw(raw.translate(ASCII_FOLD))
        ends = [m.start() for m in _SEPARATOR.finditer(skeleton)]
        ends.append(len(skeleton))
        # Padded as `candidates` pads one skeleton: a text's " skeleton " is a substring here, and a hit inside it
        # has its last character (padded index e - 1, skeleton index e - 2) within [its start, its end]: the first
        # k with ends[k] >= e - 2. Hits come in order of their end, so k only moves forward.
        k, end = 0, ends[0]
        present: set[str] = set()
        by_lead = self._by_lead
        automaton = self._lexicon.automaton
        served = automaton.values
        for key, _, e in automaton.find_bytes(b" " + skeleton.replace(b"\x80", b" ") + b" "):
            if e - 2 > end:
                if present and _any_candidate(by_lead, present):
                    full.add(plain[k])
                k = bisect_left(ends, e - 2, k + 1)
                end, present = ends[k], set()
            present |= served[key]
        if present and _any_candidate(by_lead, present):
            full.add(plain[k])
        for i in full:
            out[i] = tuple(self.match(texts[i]))
        return out

    async def close(self) -> None:
        """Nothing to release."""
