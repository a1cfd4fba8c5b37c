"""A loaded rule set and how it judges one comment: first matching rule in priority order wins.

Order: higher `priority` first; at equal priority removal actions (reject, spam) before hold before approve, so a
removal is never shadowed by a milder rule written above it; then file order. Moderators skip rules that are
`moderators_exempt` (the default). No rule matching gives the default action.

Each comment may be given a time budget (`rules.budget_ms`): a comment whose rules run past it is held for review
by the pseudo-rule `rules-timeout`, with the overrun in its reason, instead of holding up the comments after it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from modbot.models import Action, Comment, Match, Scores
from modbot.rules.conditions import Condition, CondTrace, Context, Evidence, OverBudget, needs_match
from modbot.rules.judge import Judge, compile_judge
from modbot.rules.reasons import PLACEHOLDER as PLACEHOLDER
from modbot.rules.reasons import SIMPLE_PLACEHOLDERS as SIMPLE_PLACEHOLDERS
from modbot.rules.reasons import Render, compile_reason

ACTION_RANK = {Action.REJECT: 0, Action.SPAM: 0, Action.HOLD: 1, Action.APPROVE: 2}
# The rule id of a hold decided because the rules ran past the comment's time budget (reserved in rules files).
RULES_TIMEOUT = "rules-timeout"


@dataclass(frozen=True)
class Verdict:
    """What the rules decided. `rule` is None when the default action or the scorer-failure policy decided."""

    action: Action
    rule: str | None
    reason: str
    priority: int
    rules_version: str = ""
    matches: tuple[Match, ...] = ()  # the pattern matches the firing rule relied on
    scorer_failed: bool = False  # the scorer-failure policy changed the outcome
    over_budget: bool = False  # the rules ran past the time budget: held by RULES_TIMEOUT


@dataclass(frozen=True)
class Rule:
    id: str
    action: Action
    when: Condition
    reason: str = ""
    priority: int = 0
    moderators_exempt: bool = True
    line: int | None = None  # where the rule starts in the file


@dataclass(frozen=True)
class Thresholds:
    """Named thresholds with per-site and per-thread overrides (a thread override beats a site override)."""

    base: Mapping[str, float] = field(default_factory=dict)
    sites: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    threads: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def resolve(self, site: str | None, thread_id: str) -> dict[str, float]:
        out = dict(self.base)
        if site and site in self.sites:
            out.update(self.sites[site])
        if thread_id and thread_id in self.threads:
            out.update(self.threads[thread_id])
        return out


@dataclass(frozen=True)
class RuleTrace:
    """One rule's outcome in `explain`."""

    id: str
    priority: int
    action: Action
    held: bool
    fired: bool
    skipped: str | None
    condition: CondTrace | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "priority": self.priority, "action": self.action.value, "held": self.held,
                "fired": self.fired, "skipped": self.skipped,
                "condition": self.condition.to_dict() if self.condition else None}


@dataclass(frozen=True)
class Explanation:
    """Every rule evaluated (none short-circuited), which conditions held, and the verdict."""

    verdict: Verdict
    rules: tuple[RuleTrace, ...]
    thresholds: Mapping[str, float]
    scorer_errors: Mapping[str, str]

    @property
    def fired(self) -> str | None:
        return self.verdict.rule

    def to_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {"action": v.action.value, "rule": v.rule, "reason": v.reason, "priority": v.priority,
                "rules_version": v.rules_version, "scorer_failed": v.scorer_failed, "over_budget": v.over_budget,
                "thresholds": dict(self.thresholds), "scorer_errors": dict(self.scorer_errors),
                "rules": [r.to_dict() for r in self.rules]}

    def lines(self) -> list[str]:
        """Human-readable explanation, one rule per block, for `modbot check`."""
        out = []
        for r in self.rules:
            state = "FIRED" if r.fired else ("skipped: " + r.skipped if r.skipped else
                                             ("held (shadowed by an earlier rule)" if r.held else "did not hold"))
            out.append(f"rule {r.id} (priority {r.priority}, {r.action.value}): {state}")
            if r.condition is not None:
                out.extend("  " + line for line in r.condition.lines())
        v = self.verdict
        out.append(f"=> {v.action.value} by {v.rule or 'default'}: {v.reason}")
        return out


@dataclass(frozen=True)
class RuleSet:
    """A validated rule set. Immutable: hot reload swaps whole RuleSets."""

    rules: tuple[Rule, ...]
    version: str
    default_action: Action = Action.APPROVE
    default_reason: str = "No rule matched"
    on_scorer_error: Action = Action.HOLD
    thresholds: Thresholds = field(default_factory=Thresholds)
    source: str = ""  # file the rules came from
    sha256: str = ""  # full hash of the file contents

    @cached_property
    def _judge(self) -> Judge:
        """The rules written out as one function (modbot.rules.judge), in order."""
        return compile_judge(self.rules)

    @cached_property
    def _judge_without_matches(self) -> Judge:
        """The same for a comment without pattern matches: rules that need one cannot hold, so they are left out."""
        return compile_judge([r for r in self.rules if not needs_match(r.when)])

    def _skip(self, rule: Rule, comment: Comment) -> str | None:
        if rule.moderators_exempt and comment.author.is_moderator:
            return "author is a moderator"
        return None

    def _context(self, comment: Comment, scores: Scores, budget_s: float | None) -> Context:
        deadline = float("inf") if budget_s is None else time.monotonic() + budget_s
        t = self.thresholds
        overridden = (comment.site and comment.site in t.sites) or \
            (comment.thread_id and comment.thread_id in t.threads)
        thresholds = t.resolve(comment.site, comment.thread_id) if overridden else self._base_thresholds
        return Context(comment, scores, thresholds, deadline)

    @cached_property
    def _base_thresholds(self) -> Mapping[str, float]:
        """The thresholds of a comment without a site or thread override: one read-only mapping for all of them."""
        return MappingProxyType(self.thresholds.resolve(None, ""))

    def evaluate(self, comment: Comment, scores: Scores, budget_s: float | None = None) -> Verdict:
        """Judge one comment: the first rule (in priority order) whose conditions hold decides.

        With `budget_s`, a comment whose rules run longer is held by RULES_TIMEOUT (see `over_budget`)."""
        ctx = self._context(comment, scores, budget_s)
        # Most comments have no pattern match, and rules that need one cannot hold for them.
        judge = self._judge if scores.matches else self._judge_without_matches
        outcome = judge(ctx, budget_s is not None, ctx.deadline)
        if outcome is None:
            return self._policy(self._default_verdict, scores)
        rule, evidence = outcome
        if evidence is None:  # the budget ran out while `rule` was running
            return self.over_budget(budget_s or 0.0, rule)
        assert rule is not None
        return self._policy(self._fired(rule, ctx, evidence), scores)

    def explain(self, comment: Comment, scores: Scores, budget_s: float | None = None) -> Explanation:
        """Evaluate every rule fully and report each condition; the verdict equals `evaluate`'s.

        Rules not reached within `budget_s` are listed as skipped; the verdict is then RULES_TIMEOUT's hold, unless
        a rule had already fired (as `evaluate`, which stops at the first firing rule, would have decided)."""
        ctx = self._context(comment, scores, budget_s)
        traces = []
        verdict: Verdict | None = None
        running: Rule | None = None
        out_of_time = False
        for rule in self.rules:
            skipped = self._skip(rule, comment)
            if skipped is None and out_of_time:
                skipped = f"not evaluated: the rules' time budget of {_ms(budget_s)} ran out"
            if skipped:
                traces.append(RuleTrace(rule.id, rule.priority, rule.action, False, False, skipped, None))
                continue
            try:
                ctx.spend()
                running = rule
                cond = rule.when.trace(ctx)
                fired = cond.held and verdict is None
                if fired:
                    verdict = self._fired(rule, ctx, rule.when.check(ctx) or Evidence())
            except OverBudget:
                out_of_time = True
                state = "stopped" if running is rule else "not evaluated"
                traces.append(RuleTrace(rule.id, rule.priority, rule.action, False, False,
                                        f"{state}: the rules' time budget of {_ms(budget_s)} ran out", None))
                continue
            traces.append(RuleTrace(rule.id, rule.priority, rule.action, cond.held, fired, None, cond))
        if verdict is None and out_of_time:
            final = self.over_budget(budget_s or 0.0, running)
        else:
            final = self._policy(verdict or self._default_verdict, scores)
        return Explanation(final, tuple(traces), ctx.thresholds, dict(scores.errors))

    def over_budget(self, budget_s: float, rule: Rule | None) -> Verdict:
        """The hold for a comment whose rules ran past `budget_s`, naming the rule that was running.

        Held, not approved: the rules that would have removed it may be the very ones that did not finish."""
        at = f" (it ran out in rule '{rule.id}')" if rule is not None else ""
        reason = (f"Rules ran past their time budget of {_ms(budget_s)} for this comment{at}; "
                  "held for review (rules.budget_ms)")
        return Verdict(Action.HOLD, RULES_TIMEOUT, reason, 0, self.version, over_budget=True)

    @cached_property
    def _default_verdict(self) -> Verdict:
        """Frozen: one object serves every comment no rule decided."""
        return Verdict(self.default_action, None, self.default_reason, 0, self.version)

    @cached_property
    def _reasons(self) -> dict[str, Render]:
        """Each rule's reason, compiled once (modbot.rules.reasons)."""
        return {r.id: compile_reason(r) for r in self.rules}

    def _fired(self, rule: Rule, ctx: Context, evidence: Evidence) -> Verdict:
        return Verdict(rule.action, rule.id, self._reasons[rule.id](ctx, evidence), rule.priority, self.version,
                       evidence.matches)

    def _policy(self, verdict: Verdict, scores: Scores) -> Verdict:
        # A failed scorer means the rules judged with missing evidence: an approval cannot be trusted, so the
        # rule set's policy decides. Removals and holds stand, since they needed no missing evidence to fire.
        if not scores.errors or verdict.action is not Action.APPROVE or self.on_scorer_error is Action.APPROVE:
            return verdict
        failed = "; ".join(f"{name}: {msg}" for name, msg in sorted(scores.errors.items()))
        return Verdict(self.on_scorer_error, None, f"Scorer failed ({failed}); held by the on_scorer_error policy",
                       verdict.priority, self.version, verdict.matches, scorer_failed=True)


def _ms(budget_s: float | None) -> str:
    return f"{(budget_s or 0.0) * 1000:g} ms"
