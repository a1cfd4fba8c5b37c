"""The condition kinds of the rule language. Each one can `check` (fast, short-circuits) or `trace` (explains).

A condition that holds returns Evidence: the text it matched and the pattern matches it relied on, which the
rule's reason can quote through {{match}} and {{category}}.
"""

from __future__ import annotations

import operator
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from modbot.models import Comment, Match, Scores, Stance
from modbot.rules import features
from modbot.rules.features import Comparison
from modbot.rules.matchers import TextPattern

TEXT_FIELDS = ("text", "author.name", "author.id", "thread_id", "site", "thread_url")
MATCH_MODES = ("includes-word", "includes", "starts-with", "ends-with", "full-exact", "full-text")
SCORE_OPS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
_SCORE_TESTS = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}


_NO_DEADLINE = float("inf")


class OverBudget(Exception):  # noqa: N818 - reads as what happened: the rules went over budget
    """Judging one comment took longer than its time budget; raised between two steps of the evaluation."""


@dataclass(slots=True, eq=False)  # one per comment judged: slots make it cheap to build
class Context:
    """One comment being judged, with the thresholds that apply to its site and thread.

    `deadline` (a time.monotonic() value) is when the comment's time budget runs out; `spend` raises OverBudget
    once it has. A thread cannot be interrupted from outside, so the evaluation checks it between steps.
    """

    comment: Comment
    scores: Scores
    thresholds: Mapping[str, float]
    deadline: float = float("inf")
    _features: dict[str, float] | None = None  # made when a rule first asks: most comments need none

    def spend(self) -> None:
        if self.deadline != _NO_DEADLINE and time.monotonic() > self.deadline:
            raise OverBudget

    def feature(self, name: str) -> float:
        # Features are computed at most once per comment, however many rules ask.
        known = self._features
        if known is None:
            known = self._features = {}
        elif name in known:
            return known[name]
        value = known[name] = features.compute(name, self.comment.text)
        return value

    def field_value(self, name: str) -> str:
        c = self.comment
        value = {"text": c.text, "author.name": c.author.name, "author.id": c.author.id, "thread_id": c.thread_id,
                 "site": c.site, "thread_url": c.thread_url}[name]
        return value or ""


@dataclass(frozen=True)
class Evidence:
    """What made a condition hold."""

    texts: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()

    def __add__(self, other: Evidence) -> Evidence:
        return Evidence(self.texts + other.texts, self.matches + other.matches)


NO_EVIDENCE = Evidence()


@dataclass(frozen=True)
class CondTrace:
    """A condition's outcome for `explain`: what it tests, whether it held, why, and its parts."""

    description: str
    held: bool
    detail: str = ""
    children: tuple[CondTrace, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"condition": self.description, "held": self.held}
        if self.detail:
            out["detail"] = self.detail
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out

    def lines(self, indent: int = 0) -> list[str]:
        mark = "✓" if self.held else "✗"
        text = f"{'  ' * indent}{mark} {self.description}" + (f"  [{self.detail}]" if self.detail else "")
        out = [text]
        for c in self.children:
            out.extend(c.lines(indent + 1))
        return out


class Condition(Protocol):
    def check(self, ctx: Context) -> Evidence | None: ...

    def trace(self, ctx: Context) -> CondTrace: ...

    def describe(self) -> str: ...


def cost(cond: Condition) -> int:
    """How much work `cond.check` does, roughly: 0 reads a number (a score, the author, the matches), more scans
    the text. `all:` checks its parts cheapest first, so the link regex or the capital count runs only for the
    comments that pass the cheap parts."""
    if isinstance(cond, FeatureTest):
        return features.COST[cond.name]
    if isinstance(cond, TextMatch):
        return 4
    if isinstance(cond, Not):
        return cost(cond.child)
    if isinstance(cond, AllOf | AnyOf):
        return max((cost(c) for c in cond.children), default=0)
    return 0


def needs_match(cond: Condition) -> bool:
    """True when `cond` cannot hold for a comment without pattern matches: the rules engine skips such rules for
    the many comments the pattern scorer found nothing in."""
    if isinstance(cond, PatternTest):
        return cond.min_count > 0
    if isinstance(cond, AllOf):
        return any(needs_match(c) for c in cond.children)
    if isinstance(cond, AnyOf):
        return bool(cond.children) and all(needs_match(c) for c in cond.children)
    return False


@dataclass(frozen=True)
class AllOf:
    children: tuple[Condition, ...]
    # Indices of `children`, cheapest first (stable: equal costs keep file order). Every part must hold, so the
    # order changes only how soon a failing part is found; the evidence is still joined in file order.
    _order: tuple[int, ...] = field(init=False, repr=False, compare=False, default=())
    # True when no part can give evidence (scores, author, features): holding is then all there is to say.
    _plain: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        order = tuple(sorted(range(len(self.children)), key=lambda i: cost(self.children[i])))
        object.__setattr__(self, "_order", order)
        plain = all(isinstance(c, ScoreTest | AuthorTest | FeatureTest | Not) for c in self.children)
        object.__setattr__(self, "_plain", plain)

    def check(self, ctx: Context) -> Evidence | None:
        if self._plain:
            for i in self._order:
                if self.children[i].check(ctx) is None:
                    return None
            return NO_EVIDENCE
        got: list[Evidence | None] = [None] * len(self.children)
        for i in self._order:
            got[i] = self.children[i].check(ctx)
            if got[i] is None:
                return None
        ev = NO_EVIDENCE
        for part in got:
            if part is not NO_EVIDENCE:
                assert part is not None
                ev = ev + part
        return ev

    def trace(self, ctx: Context) -> CondTrace:
        kids = tuple(c.trace(ctx) for c in self.children)
        return CondTrace(self.describe(), all(k.held for k in kids), children=kids)

    def describe(self) -> str:
        return "all of"


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Condition, ...]

    def check(self, ctx: Context) -> Evidence | None:
        for c in self.children:
            got = c.check(ctx)
            if got is not None:
                return got
        return None

    def trace(self, ctx: Context) -> CondTrace:
        kids = tuple(c.trace(ctx) for c in self.children)
        return CondTrace(self.describe(), any(k.held for k in kids), children=kids)

    def describe(self) -> str:
        return "any of"


@dataclass(frozen=True)
class Not:
    child: Condition

    def check(self, ctx: Context) -> Evidence | None:
        return NO_EVIDENCE if self.child.check(ctx) is None else None

    def trace(self, ctx: Context) -> CondTrace:
        kid = self.child.trace(ctx)
        return CondTrace(self.describe(), not kid.held, children=(kid,))

    def describe(self) -> str:
        return "not"


@dataclass(frozen=True)
class TextMatch:
    """AutoModerator-style matching of values against one or more text fields.

    `patterns` holds one pattern for plain values (an alternation, longest first) or one per value in regex
    mode (on RE2, see modbot.rules.matchers), so that a bad regex can be reported at its own list item.
    """

    key: str
    fields: tuple[str, ...]
    patterns: tuple[TextPattern, ...]
    negate: bool = False
    full: bool = False  # full-exact / full-text: the whole field must match (fullmatch)

    def _find(self, ctx: Context) -> str | None:
        for name in self.fields:
            value = ctx.field_value(name)
            for pat in self.patterns:
                # Each search is linear in the text (RE2, or escaped literals), so checking the budget between
                # searches bounds how far past it one comment can run.
                ctx.spend()
                found = pat.find(value, self.full)
                if found is not None:
                    return found
        return None

    def check(self, ctx: Context) -> Evidence | None:
        found = self._find(ctx)
        if self.negate:
            return NO_EVIDENCE if found is None else None
        return None if found is None else Evidence(texts=(found,))

    def trace(self, ctx: Context) -> CondTrace:
        found = self._find(ctx)
        held = (found is None) if self.negate else (found is not None)
        detail = f"matched {found!r}" if found is not None else "no match"
        return CondTrace(self.describe(), held, detail)

    def describe(self) -> str:
        return self.key


@dataclass(frozen=True)
class ScoreTest:
    """`score: {label: toxicity, gte: 0.9}`, or against a named threshold (`gte: toxic` / `threshold: toxic`)."""

    label: str
    op: str  # one of SCORE_OPS
    value: float | None = None
    threshold: str | None = None

    def limit(self, ctx: Context) -> float:
        return ctx.thresholds[self.threshold] if self.threshold is not None else float(self.value or 0.0)

    def _score(self, ctx: Context) -> float | None:
        return ctx.scores.labels.get(self.label)

    def check(self, ctx: Context) -> Evidence | None:
        score = ctx.scores.labels.get(self.label)
        if score is None:
            return None
        limit = ctx.thresholds[self.threshold] if self.threshold is not None else float(self.value or 0.0)
        return NO_EVIDENCE if _SCORE_TESTS[self.op](score, limit) else None

    def trace(self, ctx: Context) -> CondTrace:
        score = self._score(ctx)
        if score is None:
            return CondTrace(self.describe(), False, f"no '{self.label}' score (scorer disabled or failed)")
        held = self.check(ctx) is not None
        limit = f"{self.limit(ctx):g}" + (f" = threshold {self.threshold}" if self.threshold else "")
        return CondTrace(self.describe(), held, f"{self.label} = {score:.3f}, limit {limit}")

    def describe(self) -> str:
        limit = self.threshold if self.threshold is not None else f"{self.value:g}"
        return f"score {self.label} {SCORE_OPS[self.op]} {limit}"


@dataclass(frozen=True)
class PatternTest:
    """`pattern: {category: [a, b] | any, min_severity: 2, min_count: 1, stance: [asserted, quoted]}` over the
    pattern scorer's matches. `stance` (default: any) keeps only matches used that way (modbot.scoring.stance)."""

    categories: frozenset[str] | None  # None: any category
    min_severity: int = 1
    min_count: int = 1
    stances: frozenset[Stance] | None = None  # None: any stance

    def _hits(self, ctx: Context) -> tuple[Match, ...]:
        if not ctx.scores.matches:
            return ()
        return tuple(m for m in ctx.scores.matches
                     if (self.categories is None or m.category in self.categories) and m.severity >= self.min_severity
                     and (self.stances is None or m.stance in self.stances))

    def check(self, ctx: Context) -> Evidence | None:
        hits = self._hits(ctx)
        if len(hits) < self.min_count:
            return None
        return Evidence(texts=tuple(m.text for m in hits), matches=hits)

    def trace(self, ctx: Context) -> CondTrace:
        hits = self._hits(ctx)
        shown = hits if self.stances is None else tuple(
            m for m in ctx.scores.matches if (self.categories is None or m.category in self.categories))
        detail = ", ".join(f"{m.category}:{m.text!r} (severity {m.severity}, {m.describe_stance()})"
                           for m in shown) or "no match"
        return CondTrace(self.describe(), len(hits) >= self.min_count, detail)

    def describe(self) -> str:
        cats = "any" if self.categories is None else ",".join(sorted(self.categories))
        extra = f", {self.min_count}+ matches" if self.min_count > 1 else ""
        stance = "" if self.stances is None else f", stance {'/'.join(sorted(self.stances))}"
        return f"pattern {cats} severity >= {self.min_severity}{stance}{extra}"


@dataclass(frozen=True)
class AuthorTest:
    """`author: {account_age: "< 7 days"}`, `approved_count`, or `flags` (the author has all listed flags).

    An unknown account age never satisfies an age comparison: the platform did not say, so the rule cannot know.
    """

    attribute: str  # account_age | approved_count | flags
    comparison: Comparison | None = None
    flags: frozenset[str] = frozenset()

    def _value(self, ctx: Context) -> float | None:
        a = ctx.comment.author
        return a.account_age_days if self.attribute == "account_age" else float(a.approved_count)

    def check(self, ctx: Context) -> Evidence | None:
        if self.attribute == "flags":
            return NO_EVIDENCE if self.flags <= ctx.comment.author.flags else None
        value = self._value(ctx)
        assert self.comparison is not None
        return NO_EVIDENCE if value is not None and self.comparison.test(value) else None

    def trace(self, ctx: Context) -> CondTrace:
        held = self.check(ctx) is not None
        if self.attribute == "flags":
            detail = f"author flags: {', '.join(sorted(ctx.comment.author.flags)) or 'none'}"
        else:
            value = self._value(ctx)
            detail = "unknown" if value is None else (
                f"{value:g} days" if self.attribute == "account_age" else f"{value:g}")
        return CondTrace(self.describe(), held, detail)

    def describe(self) -> str:
        if self.attribute == "flags":
            return f"author flags include {', '.join(sorted(self.flags))}"
        assert self.comparison is not None
        return f"author {self.attribute} {self.comparison.text}"


@dataclass(frozen=True)
class FeatureTest:
    """`features: {links: ">= 2"}` over computed text features."""

    name: str
    comparison: Comparison

    def check(self, ctx: Context) -> Evidence | None:
        return NO_EVIDENCE if self.comparison.test(ctx.feature(self.name)) else None

    def trace(self, ctx: Context) -> CondTrace:
        return CondTrace(self.describe(), self.check(ctx) is not None, f"{self.name} = {ctx.feature(self.name):.3g}")

    def describe(self) -> str:
        return f"{self.name} {self.comparison.text}"
