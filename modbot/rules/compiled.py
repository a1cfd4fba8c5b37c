"""Rule conditions compiled once per rule set to plain closures, for `RuleSet.evaluate`.

A condition tree is walked by method calls (`check`), each looking up its operator and its fields again for every
comment. Compiled, each node is one closure holding what it needs: a score test is a dict lookup and a comparison,
an `all:` of such tests a loop over closures already in cheapest-first order. Pattern and text conditions keep
their own `check` (their work is the matching, not the call). The closures decide exactly as `check` does
(tests/test_rules_fast.py compares `evaluate` with `explain`, which walks the tree).
"""

from __future__ import annotations

from collections.abc import Callable

from modbot.rules.conditions import (
    _SCORE_TESTS,
    NO_EVIDENCE,
    AllOf,
    AnyOf,
    AuthorTest,
    Condition,
    Context,
    Evidence,
    FeatureTest,
    Not,
    ScoreTest,
)
from modbot.rules.features import _OPS

Check = Callable[[Context], Evidence | None]


def compile_condition(cond: Condition) -> Check:
    """A function that returns what `cond.check(ctx)` returns, for every context."""
    if isinstance(cond, ScoreTest):
        return _score(cond)
    if isinstance(cond, AuthorTest):
        return _author(cond)
    if isinstance(cond, FeatureTest):
        return _feature(cond)
    if isinstance(cond, Not):
        return _not(compile_condition(cond.child))
    if isinstance(cond, AnyOf):
        return _any(tuple(compile_condition(c) for c in cond.children))
    if isinstance(cond, AllOf):
        return _all(cond)
    return cond.check


def _score(t: ScoreTest) -> Check:
    label, test, threshold = t.label, _SCORE_TESTS[t.op], t.threshold
    if threshold is not None:
        def named(ctx: Context) -> Evidence | None:
            score = ctx.scores.labels.get(label)
            return NO_EVIDENCE if score is not None and test(score, ctx.thresholds[threshold]) else None
        return named
    limit = float(t.value or 0.0)

    def fixed(ctx: Context) -> Evidence | None:
        score = ctx.scores.labels.get(label)
        return NO_EVIDENCE if score is not None and test(score, limit) else None
    return fixed


def _author(t: AuthorTest) -> Check:
    if t.attribute == "flags":
        flags = t.flags

        def has_flags(ctx: Context) -> Evidence | None:
            return NO_EVIDENCE if flags <= ctx.comment.author.flags else None
        return has_flags
    assert t.comparison is not None
    test, number = _OPS[t.comparison.op], t.comparison.number
    if t.attribute == "account_age":
        def age(ctx: Context) -> Evidence | None:
            days = ctx.comment.author.account_age_days
            return NO_EVIDENCE if days is not None and test(days, number) else None
        return age

    def approved(ctx: Context) -> Evidence | None:
        return NO_EVIDENCE if test(float(ctx.comment.author.approved_count), number) else None
    return approved


def _feature(t: FeatureTest) -> Check:
    test, number, name = _OPS[t.comparison.op], t.comparison.number, t.name
    if name == "length":  # no need for the feature cache: len() is cheaper than the lookup
        def length(ctx: Context) -> Evidence | None:
            return NO_EVIDENCE if test(len(ctx.comment.text), number) else None
        return length

    def feature(ctx: Context) -> Evidence | None:
        return NO_EVIDENCE if test(ctx.feature(name), number) else None
    return feature


def _not(child: Check) -> Check:
    def negated(ctx: Context) -> Evidence | None:
        return NO_EVIDENCE if child(ctx) is None else None
    return negated


def _any(children: tuple[Check, ...]) -> Check:
    def any_of(ctx: Context) -> Evidence | None:
        for child in children:
            got = child(ctx)
            if got is not None:
                return got
        return None
    return any_of


def _all(cond: AllOf) -> Check:
    checks = tuple(compile_condition(c) for c in cond.children)
    ordered = tuple(checks[i] for i in cond._order)  # cheapest first, as AllOf.check
    if cond._plain:  # no part gives evidence: holding is all there is to say
        def all_plain(ctx: Context) -> Evidence | None:
            for child in ordered:
                if child(ctx) is None:
                    return None
            return NO_EVIDENCE
        return all_plain
    order = cond._order

    def all_of(ctx: Context) -> Evidence | None:
        got: list[Evidence | None] = [None] * len(checks)
        for i in order:
            part = checks[i](ctx)
            if part is None:
                return None
            got[i] = part
        ev = NO_EVIDENCE
        for part in got:  # joined in file order, as AllOf.check
            if part is not NO_EVIDENCE:
                assert part is not None
                ev = ev + part
        return ev
    return all_of
