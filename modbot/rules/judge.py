"""A rule set written out as one Python function, for `RuleSet.evaluate`: the rules' loop without the loop.

Judging a comment without pattern matches is a handful of score, author and length tests, but as a loop over
rules each test costs a call, an unpacking and a budget check around a single comparison: the interpreter's
overhead, not the tests, was most of the rules' time. Written out, each such test is an inline comparison
(`labels.get("threat", nan) >= thresholds["threatening"]`); conditions that give evidence (patterns, text) or
that are not plain call their compiled closure (modbot.rules.compiled), as before.

The source holds no text from the rules file: labels, thresholds, flags, numbers and the rules themselves are
passed in as named constants (`k0`, `r0`, ...), and operators come from fixed tables, so a rules file cannot
write code. The function decides exactly as the loop did (tests/test_rules_fast.py compares it with `explain`
on random comments and random rule sets): rules in order, moderators skipping exempt rules, the budget checked
before each rule, the first rule whose condition holds deciding.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from modbot.rules.compiled import compile_condition
from modbot.rules.conditions import (
    NO_EVIDENCE,
    AllOf,
    AnyOf,
    AuthorTest,
    Condition,
    Context,
    Evidence,
    FeatureTest,
    Not,
    OverBudget,
    ScoreTest,
)
from modbot.rules.conditions import SCORE_OPS as _SCORE_SOURCE

if TYPE_CHECKING:
    from modbot.rules.engine import Rule

# What a judge returns: None when no rule holds; (rule, evidence) for the rule that fired; (rule or None, None)
# when the budget ran out, naming the rule that was running (None: before the first).
Outcome = tuple["Rule | None", Evidence | None] | None
Judge = Callable[[Context, bool, float], Outcome]

_COMPARISON_SOURCE = {op: op for op in ("<", "<=", ">", ">=", "==", "!=")}


def compile_judge(rules: Sequence[Rule]) -> Judge:
    """One function judging a comment by `rules`, in the order given."""
    return _Writer().judge(rules)


class _Writer:
    def __init__(self) -> None:
        self.names: dict[str, Any] = {"NO_EVIDENCE": NO_EVIDENCE, "OverBudget": OverBudget, "clock": time.monotonic,
                                      "nan": float("nan")}

    def const(self, value: object) -> str:
        name = f"k{len(self.names)}"
        self.names[name] = value
        return name

    def judge(self, rules: Sequence[Rule]) -> Judge:
        body = ["def judge(ctx, budgeted, deadline):",
                "    L = ctx.scores.labels",
                "    T = ctx.thresholds",
                "    A = ctx.comment.author",
                "    moderator = A.is_moderator",
                "    running = None"]
        for rule in rules:
            r = self.const(rule)
            pad = "    "
            if rule.moderators_exempt:
                body.append("    if not moderator:")
                pad = "        "
            body.append(f"{pad}if budgeted and clock() > deadline:")
            body.append(f"{pad}    return running, None")
            body.append(f"{pad}running = {r}")
            expr = self.plain(rule.when)
            body.append(f"{pad}try:")  # free unless raised (Python 3.11); a text search may run out of time
            if expr is not None:
                body.append(f"{pad}    if {expr}:")
                body.append(f"{pad}        return {r}, NO_EVIDENCE")
            else:
                body.append(f"{pad}    evidence = {self.const(compile_condition(rule.when))}(ctx)")
                body.append(f"{pad}    if evidence is not None:")
                body.append(f"{pad}        return {r}, evidence")
            body.append(f"{pad}except OverBudget:")
            body.append(f"{pad}    return {r}, None")
        body.append("    return None")
        scope = dict(self.names)
        exec(compile("\n".join(body), "<modbot rules>", "exec"), scope)  # noqa: S102 - see the module docstring
        judge: Judge = scope["judge"]
        return judge

    def plain(self, cond: Condition) -> str | None:
        """A boolean expression that is true exactly when `cond.check` gives NO_EVIDENCE, for conditions that
        give no other evidence; None for the rest (they keep their closure)."""
        if isinstance(cond, ScoreTest):
            limit = f"T[{self.const(cond.threshold)}]" if cond.threshold is not None else \
                self.const(float(cond.value or 0.0))
            # A missing score never holds: nan compares false with every limit, as `check`'s None test does.
            return f"(L.get({self.const(cond.label)}, nan) {_SCORE_SOURCE[cond.op]} {limit})"
        if isinstance(cond, AuthorTest):
            if cond.attribute == "flags":
                return f"({self.const(cond.flags)} <= A.flags)"
            assert cond.comparison is not None
            op, number = _COMPARISON_SOURCE[cond.comparison.op], self.const(cond.comparison.number)
            if cond.attribute == "account_age":
                return f"(A.account_age_days is not None and A.account_age_days {op} {number})"
            return f"(float(A.approved_count) {op} {number})"
        if isinstance(cond, FeatureTest):
            op, number = _COMPARISON_SOURCE[cond.comparison.op], self.const(cond.comparison.number)
            if cond.name == "length":
                return f"(len(ctx.comment.text) {op} {number})"
            return f"(ctx.feature({self.const(cond.name)}) {op} {number})"
        if isinstance(cond, Not):
            child = self.plain(cond.child)
            if child is not None:
                return f"(not {child})"
            return f"({self.const(compile_condition(cond.child))}(ctx) is None)"
        if isinstance(cond, AnyOf):
            parts = [self.plain(c) for c in cond.children]
            if any(p is None for p in parts):
                return None
            return "(" + " or ".join(p for p in parts if p is not None) + ")" if parts else "False"
        if isinstance(cond, AllOf) and cond._plain:
            parts = [self.plain(cond.children[i]) for i in cond._order]  # cheapest first, as AllOf.check
            if any(p is None for p in parts):
                return None
            return "(" + " and ".join(p for p in parts if p is not None) + ")" if parts else "True"
        return None
