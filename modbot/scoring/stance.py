"""How a matched trope is used: asserted, quoted, reported, refuted, questioned, or spoken of by its target.

A news site's comment section discusses hate every day. "Jews control the banks" is a trope asserted;
"the idea that Jews control the banks is a myth", "police arrested a man who shouted that Jews control the
banks" and "as a Jew I'm tired of hearing that we control the banks" are the same words reported, refuted or
endured. The lexicon finds the trope; this module reads the sentence around it (and the sentences next to
it) for the cue that says how it is used, and returns the stance with that cue's span so a moderator can see
why.

The cue words are data (the `stance:` section of config/patterns.yaml, compiled by modbot.scoring.lexicon);
this module holds the order in which they are weighed:

1. `self`: an in-group marker ("as a Jew", "we Muslims", "they call us ...") in the sentence or the one
   before: the writer is the target.
2. `refuted`: a refutation or condemnation ("myth", "lie", "baseless", "not true", "is vile") in the sentence,
   or opening the next one ("That is a myth."), or a negation governing the trope ("Jews don't control the
   media", "there is no Jewish plot"). Not when the refutation is dismissed ("this is no myth", "call it a
   conspiracy theory if you want") or taken back ("people call it a myth, but ..."), not when an endorsement
   follows it ("... but stereotypes exist for a reason"), and never a word inside the trope itself ("the
   Holocaust is a myth" is the trope).
3. `questioned` by a challenge: doubt ("prove it") or a question asking for evidence ("where is your
   evidence?").
4. `asserted` by endorsement: "... and he is right", "finally someone says it", "it's no secret that".
5. `questioned` as a plain yes/no question about the trope, or a question about quoted words. A rhetorical or
   presupposing question ("isn't it obvious ...?", "why do they control ...?") stays asserted.
6. `reported`: a symbol explained ("6MWE means ...", "a neo-Nazi slogan"), news or history register
   ("arrested", "was jailed", "historians"), or a past-tense attribution to someone else ("a senator said").
7. `quoted`: inside quotation marks (or a <blockquote>), or attributed in the present tense ("my uncle
   says ...") with no sign of the writer's own view.
8. otherwise `asserted`.

Slurs are read with the `mention` profile and Holocaust denial with `denial` (see `StanceReader.classify`). A
"sentence" is at most 25 words each side of the match: comments written without punctuation are one long one.

Everything is matched on the evasion-proof skeleton (modbot.scoring.normalize) within sentence bounds taken
from the original text, and only for comments that matched an entry, so the cost is paid by few comments.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from modbot.models import Stance
from modbot.scoring.normalize import Normalized

# A sentence ends at . ! ? or … followed by a space or the end, or at a line break. Dots inside a word
# ("j.e.w.s", "U.S") do not end one.
SENTENCE_END = re.compile(r"[.!?…]+(?=[\s\"'”’)\]]|$)|\n")
# Clause marks: a negation before one of these does not reach past it.
_CLAUSE = re.compile(r"[,;:()\u2013\u2014]|\s-\s")
_OPEN_QUOTES = "\"“„«‘'"
_CLOSE_QUOTES = "\"”“»’'"
_QUOTE_REACH = 160  # characters searched on each side for the quotation marks around a match
_SENTENCE_REACH = 25  # words each side of a match that count as its sentence, at most
_MENTION_REACH = 6  # words each side of a slur within which a report or explanation is about the word
_NEGATION_REACH = 6  # words before the trope a negation may stand in and still govern it
_FIRST_PERSON = frozenset({"i", "we", "me", "us", "im", "ive", "id", "iam"})
_RELATIVE = frozenset({"who", "that", "which", "whose", "whom"})


@dataclass(frozen=True)
class StanceCues:
    """Compiled cue patterns over the skeleton, one alternation per kind (None where the kind is empty)."""

    self_markers: re.Pattern[str] | None
    refute: re.Pattern[str] | None
    condemn: re.Pattern[str] | None       # "is vile", "a slur", "please ban him": counts like a refutation
    verdict: re.Pattern[str] | None       # a one-word condemnation opening the next sentence ("Disgusting.")
    negation: re.Pattern[str] | None
    not_negation: re.Pattern[str] | None  # "no wonder", "no secret that": negation words that assert
    dismiss: re.Pattern[str] | None       # frames that cancel a refutation ("no myth", "so-called")
    take_back: re.Pattern[str] | None     # "but", "yet": a refutation before it is taken back
    endorse: re.Pattern[str] | None
    challenge: re.Pattern[str] | None     # needs a question mark in its sentence
    doubt: re.Pattern[str] | None         # questions without a question mark ("prove it", "I doubt")
    report: re.Pattern[str] | None
    explain: re.Pattern[str] | None
    speech_past: re.Pattern[str] | None   # "said", "shouted": with someone else as subject, a report
    speech_present: re.Pattern[str] | None  # "says", "claims": with someone else as subject, a quote
    naming: re.Pattern[str] | None          # "called him a ...": a slur named as someone else's word
    yes_no: re.Pattern[str] | None        # auxiliaries that open a yes/no question


@dataclass(frozen=True)
class Verdict:
    """A stance and the original-text span of the cue that decided it (no span for a plain assertion)."""

    stance: Stance
    cue_start: int | None = None
    cue_end: int | None = None


PLAIN = Verdict(Stance.ASSERTED)


class Sentences:
    """Sentence and clause bounds of one comment, in skeleton coordinates."""

    def __init__(self, text: str, mapped: Normalized) -> None:
        starts = mapped.starts
        n = len(mapped.text)
        found = list(SENTENCE_END.finditer(text))
        ends = [m.end() for m in found]
        self.terminators = [m.group() for m in found]
        self.terminator_spans = [m.span() for m in found]
        # Skeleton index where each sentence starts: the first skeleton char from at/after the original end.
        self.bounds = [0] + [bisect_left(starts, e) for e in ends] + [n]
        self.clauses = [bisect_left(starts, m.start()) for m in _CLAUSE.finditer(text)]

    def index(self, k: int) -> int:
        """Number of the sentence holding skeleton position k."""
        return max(0, bisect_right(self.bounds, k) - 1)

    def span(self, i: int) -> tuple[int, int]:
        i = max(0, min(i, len(self.bounds) - 2))
        return self.bounds[i], self.bounds[i + 1]

    def count(self) -> int:
        return len(self.bounds) - 1

    def is_question(self, i: int) -> bool:
        return 0 <= i < len(self.terminators) and "?" in self.terminators[i]

    def clause_start(self, k: int, floor: int) -> int:
        """The last clause mark before skeleton position k, not before `floor`."""
        j = bisect_right(self.clauses, k) - 1
        return max(floor, self.clauses[j]) if j >= 0 else floor


def _find(rx: re.Pattern[str] | None, skel: str, lo: int, hi: int) -> list[tuple[int, int]]:
    if rx is None or lo >= hi:
        return []
    return [m.span() for m in rx.finditer(skel, lo, hi)]


def _inside(span: tuple[int, int], frames: Sequence[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in frames)




def quoted(original: str, start: int, end: int) -> tuple[int, int] | None:
    """The opening quotation mark's span when [start, end) sits between quotation marks on one line."""
    before = original[max(0, start - _QUOTE_REACH):start].rsplit("\n", 1)[-1]
    after = original[end:end + _QUOTE_REACH].split("\n", 1)[0]
    opens = [i for i, c in enumerate(before) if c in _OPEN_QUOTES]
    if not opens:
        return None
    last = opens[-1]
    # An apostrophe inside a word ("don't") is not a quotation mark.
    if before[last] == "'" and last > 0 and before[last - 1].isalnum():
        return None
    closes = [i for i, c in enumerate(after) if c in _CLOSE_QUOTES]
    # A closing apostrophe must not be an elision inside a word ("it's").
    closes = [i for i in closes if not (after[i] == "'" and 0 < i < len(after) - 1 and after[i + 1].isalpha()
                                        and after[i - 1].isalpha())]
    if not closes:
        return None
    pos = start - len(before) + last
    return pos, pos + 1


class StanceReader:
    """Decides the stance of each match of one comment; build one per comment (it caches sentence bounds)."""

    def __init__(self, cues: StanceCues, text: str, mapped: Normalized,
                 quoted_ranges: Sequence[tuple[int, int]] = ()) -> None:
        self.cues = cues
        self.text = text
        self.mapped = mapped
        self.skel = mapped.text
        self.sentences = Sentences(text, mapped)
        self.quoted_ranges = quoted_ranges
        self._gaps: Sequence[tuple[int, int]] = ()

    def _verdict(self, stance: Stance, span: tuple[int, int]) -> Verdict:
        start, end = self.mapped.span(*span)
        return Verdict(stance, start, end)

    def _outside(self, hits: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
        """Cue hits that are not the trope's own words: outside the match, in one of its ~N gaps, or around it
        ("what does 6MWE mean")."""
        return [h for h in hits
                if h[1] <= start or h[0] >= end or _inside(h, self._gaps) or (h[0] < start and h[1] > end)]

    def _words_before(self, lo: int, k: int, n: int) -> int:
        """Skeleton position n words before k, not before lo."""
        pos = k
        for _ in range(n):
            if pos <= lo:
                return lo
            pos = self.skel.rfind(" ", lo, max(lo, pos - 1))
            if pos < 0:
                return lo
        return max(lo, pos)

    def _words_after(self, k: int, hi: int, n: int) -> int:
        """Skeleton position n words after k, not after hi."""
        pos = k + (self.skel[k:k + 1] == " ")
        for _ in range(n):
            nxt = self.skel.find(" ", pos + 1, hi)
            if nxt < 0:
                return hi
            pos = nxt
        return pos

    def classify(self, start: int, end: int, gaps: Sequence[tuple[int, int]] = (), profile: str = "claim") -> Verdict:
        """Stance of the match at skeleton [start, end); `gaps` are the spans inside it that are not the trope's own
        words (an entry's ~N gaps), where a negation refutes it.

        `profile` is the entry's (patterns.yaml `stance:`): `claim` weighs everything below; `mention` is for
        words that are hateful by themselves (slurs): a negation or a "myth" near a slur does not take it back
        ("you are not white, you filthy ..."), so only use against mention is asked (`_mentioned`); `denial` is for
        tropes that are themselves a denial ("the Holocaust is a lie, there is no evidence"): refutation words in
        their own sentence restate them, so only a negation or the next sentence refutes them."""
        if profile == "mention":
            return self._mentioned(start, end, gaps)
        last, (lo, hi), prev, nxt = self._around(start, end, gaps, _SENTENCE_REACH)
        refuted = self._refuted(start, end, (lo, hi), nxt, gaps, falsity=profile != "denial")
        endorsed = self._endorsed(start, end, lo, hi, prev, nxt)
        if refuted and endorsed and (endorsed.cue_end or 0) >= (refuted.cue_end or 0):
            # "a stereotype, sure, but stereotypes exist for a reason", "nobody has debunked it": the endorsement has
            # the last word.
            refuted = None
        return (self._self(prev[0], hi)
                or refuted
                or self._challenged(start, end, lo, hi, last, nxt)
                or endorsed
                or self._asked(start, end, lo, last)
                or self._reported(start, end, lo, hi, prev, nxt)
                or self._quoted(start, end, lo)
                or PLAIN)

    def _around(self, start: int, end: int, gaps: Sequence[tuple[int, int]],
                reach: int) -> tuple[int, tuple[int, int], tuple[int, int], tuple[int, int]]:
        """The match's last sentence number, its sentence (at most `reach` words each side), and the previous and
        next sentences; remembers the match's gaps for `_outside`."""
        s = self.sentences
        first, last = s.index(start), s.index(max(start, end - 1))
        lo, hi = self._near(start, end, s.span(first)[0], s.span(last)[1], reach)
        begin = s.span(first)[0]
        prev = s.span(first - 1) if first > 0 else (begin, begin)
        nxt = s.span(last + 1) if last + 1 < s.count() else (hi, hi)
        self._gaps = gaps
        return last, (lo, hi), prev, nxt

    def _near(self, start: int, end: int, lo: int, hi: int, words: int) -> tuple[int, int]:
        """[lo, hi) narrowed to `words` words each side of the match: comments written without punctuation are one
        long "sentence", and a cue forty words away is about something else."""
        return max(lo, self._words_before(lo, start, words)), min(hi, self._words_after(end, hi, words))

    def _mentioned(self, start: int, end: int, gaps: Sequence[tuple[int, int]]) -> Verdict:
        """Used or mentioned: the word reported, explained, quoted, condemned as a word, or asked about; an
        endorsement of the mention ("he called him a ... Can't say he's wrong") makes it used again. The cues
        must stand close to the word: a slur is used in the middle of long rants that mention the news."""
        last, (lo, hi), prev, nxt = self._around(start, end, gaps, _MENTION_REACH)
        # The word as the object of naming: "called my father a ...", "yelled ... at the referee".
        said = self._attribution(self.cues.naming, start, end, self._words_before(lo, start, 5), end)
        found = (self._self(max(prev[0], self._words_before(prev[0], start, 20)), hi)
                 or self._explained(start, end, lo, hi)
                 or (self._verdict(Stance.REPORTED, said) if said else None)
                 or self._quote_mark(start, end)
                 or self._refuted_head(nxt, start, end)
                 or self._challenged(start, end, lo, hi, last, nxt))
        if found is None or found.stance is Stance.SELF:
            return found or PLAIN
        return self._endorsed(start, end, lo, hi, prev, nxt) or found

    def _explained(self, start: int, end: int, lo: int, hi: int) -> Verdict | None:
        """The word explained or its use reported within its own sentence."""
        for rx in (self.cues.explain, self.cues.report):
            hits = self._outside(_find(rx, self.skel, lo, hi), start, end)
            if hits:
                return self._verdict(Stance.REPORTED, min(hits, key=lambda h: abs(h[0] - start)))
        return None

    def _refuted_head(self, nxt: tuple[int, int], start: int, end: int) -> Verdict | None:
        """A word named, then condemned in the next sentence's first words ("... ragheads. It's a slur.")."""
        hits = self._refutations(nxt[0], self._words_after(nxt[0], nxt[1], 4), start, end)
        return self._verdict(Stance.REFUTED, hits[0]) if hits else None

    # --- the stances, in the order they are weighed -----------------------------------------------------------

    def _self(self, lo: int, hi: int) -> Verdict | None:
        hits = _find(self.cues.self_markers, self.skel, lo, hi)
        return self._verdict(Stance.SELF, hits[0]) if hits else None

    def _refutations(self, lo: int, hi: int, start: int, end: int, falsity: bool = True) -> list[tuple[int, int]]:
        """Refutation and condemnation cues in [lo, hi) outside the trope, less those inside a dismissal frame;
        condemnations only when `falsity` is False."""
        hits = self._outside(_find(self.cues.condemn, self.skel, lo, hi), start, end)
        if falsity:
            hits = sorted(hits + self._outside(_find(self.cues.refute, self.skel, lo, hi), start, end))
        if hits and self.cues.dismiss is not None:
            frames = _find(self.cues.dismiss, self.skel, max(0, lo - 1), hi)
            if frames:
                # Neighbouring cues are one phrase: "antisemitic trope my ass" dismisses both words.
                runs: list[list[tuple[int, int]]] = []
                for h in hits:
                    if runs and h[0] - runs[-1][-1][1] <= 1:
                        runs[-1].append(h)
                    else:
                        runs.append([h])
                hits = [h for run in runs if not any(_inside(x, frames) for x in run) for h in run]
        return hits

    def _taken_back(self, cue: tuple[int, int], start: int) -> bool:
        """A refutation before the trope, with "but"/"yet" between them, is taken back."""
        return cue[1] <= start and bool(_find(self.cues.take_back, self.skel, cue[1], start))

    def _refuted(self, start: int, end: int, sentence: tuple[int, int], nxt: tuple[int, int],
                 gaps: Sequence[tuple[int, int]], falsity: bool = True) -> Verdict | None:
        lo, hi = sentence
        hits = [h for h in self._refutations(lo, hi, start, end, falsity) if not self._taken_back(h, start)]
        if hits:
            return self._verdict(Stance.REFUTED, min(hits, key=lambda h: abs(h[0] - start)))
        # The next sentence answers the trope: "That is a myth.", "Total nonsense."
        hits = self._refutations(nxt[0], self._words_after(nxt[0], nxt[1], 8), start, end)
        hits = hits or _find(self.cues.verdict, self.skel, nxt[0], self._words_after(nxt[0], nxt[1], 2))
        if hits:
            return self._verdict(Stance.REFUTED, hits[0])
        return self._negated(start, lo, gaps)

    def _negated(self, start: int, lo: int, gaps: Sequence[tuple[int, int]]) -> Verdict | None:
        """A negation a few words before the trope in the same clause, or in a gap between its words."""
        floor = self.sentences.clause_start(start, lo)
        begin = self._words_before(floor, start, _NEGATION_REACH)
        hits = _find(self.cues.negation, self.skel, begin, start)
        for a, b in gaps:
            hits += _find(self.cues.negation, self.skel, max(0, a - 1), b)
        end = max([start, *(b for _, b in gaps)])
        if hits and self.cues.not_negation is not None:
            frames = _find(self.cues.not_negation, self.skel, max(lo, begin - 20), min(len(self.skel), end + 20))
            hits = [h for h in hits if not _inside(h, frames)]
        return self._verdict(Stance.REFUTED, hits[-1]) if hits else None

    def _endorsed(self, start: int, end: int, lo: int, hi: int, prev: tuple[int, int],
                  nxt: tuple[int, int]) -> Verdict | None:
        for a, b in ((lo, hi), nxt, prev):
            hits = [h for h in self._outside(_find(self.cues.endorse, self.skel, a, b), start, end)
                    if not self._negated_cue(h, a)]
            if hits:
                return self._verdict(Stance.ASSERTED, hits[0])
        return None

    def _negated_cue(self, cue: tuple[int, int], lo: int) -> bool:
        """A cue with a negation just before it says the opposite ("nothing 'accurate' about ...")."""
        return bool(_find(self.cues.negation, self.skel, self._words_before(lo, cue[0], 2), cue[0]))

    def _challenged(self, start: int, end: int, lo: int, hi: int, last: int,
                    nxt: tuple[int, int]) -> Verdict | None:
        """A challenge to the trope: doubt, or a question asking for evidence ("where is your evidence?")."""
        s = self.sentences
        head = (nxt[0], self._words_after(nxt[0], nxt[1], 4))  # "... runs the world? Names, please."
        hits = self._outside(_find(self.cues.doubt, self.skel, lo, hi), start, end) or _find(self.cues.doubt, self.skel,
                                                                                               *head)
        if hits:
            return self._verdict(Stance.QUESTIONED, hits[0])
        for (a, b), i in (((lo, hi), last), (nxt, last + 1)):
            if s.is_question(i):
                hits = self._outside(_find(self.cues.challenge, self.skel, a, b), start, end)
                if hits:
                    return self._verdict(Stance.QUESTIONED, hits[0])
        return None

    def _asked(self, start: int, end: int, lo: int, last: int) -> Verdict | None:
        """A question about quoted words, or a plain yes/no question about the trope."""
        s = self.sentences
        if s.is_question(last) and (self._quote_mark(start, end) is not None or self._quote_inside(start, end)):
            return Verdict(Stance.QUESTIONED, *s.terminator_spans[last])  # asking about someone else's words
        if s.is_question(last) and self.cues.yes_no is not None:
            # A plain yes/no question about the trope: "Do Jews really control Hollywood?"
            m = self.cues.yes_no.match(self.skel, lo + (self.skel[lo:lo + 1] == " "))
            if m:
                return self._verdict(Stance.QUESTIONED, m.span())
        return None

    def _reported(self, start: int, end: int, lo: int, hi: int, prev: tuple[int, int],
                  nxt: tuple[int, int]) -> Verdict | None:
        head = (nxt[0], self._words_after(nxt[0], nxt[1], 8))  # "... '1488'. It's a neo-Nazi signature."
        for rx in (self.cues.explain, self.cues.report):
            hits = (self._outside(_find(rx, self.skel, lo, hi), start, end) or _find(rx, self.skel, *prev)
                    or _find(rx, self.skel, *head))
            if hits:
                return self._verdict(Stance.REPORTED, min(hits, key=lambda h: abs(h[0] - start)))
        said = self._attribution(self.cues.speech_past, start, end, lo, hi)
        return self._verdict(Stance.REPORTED, said) if said else None

    def _attribution(self, rx: re.Pattern[str] | None, start: int, end: int, lo: int,
                     hi: int) -> tuple[int, int] | None:
        """A speech verb whose subject is not the writer, before the trope or right after it."""
        for h in self._outside(_find(rx, self.skel, lo, hi), start, end):
            if h[0] >= end and (h[0] > end + 40 or _RELATIVE.intersection(self.skel[end:h[0]].split())):
                continue  # "..., he said" comes right after the words it attributes; "X who wrote this" does not
            subject = self.skel[max(lo, h[0] - 24):h[0]].split()[-2:]
            if not subject or not _FIRST_PERSON.intersection(subject):
                return h
        return None

    def _quote_mark(self, start: int, end: int) -> Verdict | None:
        """Quoted: between quotation marks, or inside a <blockquote>/<q> of the comment's markup."""
        a, b = self.mapped.span(start, end)
        mark = quoted(self.text, a, b)
        if mark is not None:
            return Verdict(Stance.QUOTED, *mark)
        for qa, qb in self.quoted_ranges:
            if qa <= a and b <= qb:
                return Verdict(Stance.QUOTED, qa, qa)
        return None

    def _quote_inside(self, start: int, end: int) -> bool:
        """Quotation marks around part of the match ("calling Jews 'rats'"): in a question, words held up to ask
        about."""
        a, b = self.mapped.span(start, end)
        inner = self.text[a:b]
        return any(q in inner for q in "\"“”«»") or bool(re.search(r"(?<!\w)'|'(?!\w)", inner))

    def _quoted(self, start: int, end: int, lo: int) -> Verdict | None:
        marked = self._quote_mark(start, end)
        if marked is not None:
            return marked
        said = self._attribution(self.cues.speech_present, start, end, lo, self.sentences.span(
            self.sentences.index(max(start, end - 1)))[1])
        return self._verdict(Stance.QUOTED, said) if said else None
