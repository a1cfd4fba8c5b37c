"""Per-rule counters in the `{p}rulestats` hash: how often each rule fired, held, and how reviews went.

Fields are `{rule}|fired`, `{rule}|held`, `{rule}|upheld`, `{rule}|overturned`. A hold is *upheld* when a
moderator removes the comment (reject or spam) and *overturned* when they approve it; precision per rule is
upheld / (upheld + overturned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modbot.keys import Keys
from modbot.models import Action
from modbot.rules.engine import Verdict

COUNTERS = ("fired", "held", "upheld", "overturned")


@dataclass(frozen=True)
class RuleStats:
    rule: str
    fired: int = 0
    held: int = 0
    upheld: int = 0
    overturned: int = 0

    @property
    def precision(self) -> float | None:
        reviewed = self.upheld + self.overturned
        return self.upheld / reviewed if reviewed else None


def add_rule_fired(pipe: Any, keys: Keys, verdict: Verdict) -> None:
    """Queue the counter updates for one verdict on a redis pipeline (the worker's per-batch pipeline).

    Verdicts without a rule (the default action, the scorer-failure policy) count nothing.
    """
    if verdict.rule is None:
        return
    pipe.hincrby(keys.rulestats, f"{verdict.rule}|fired", 1)
    if verdict.action is Action.HOLD:
        pipe.hincrby(keys.rulestats, f"{verdict.rule}|held", 1)


async def record_rule_fired(redis: Any, keys: Keys, verdict: Verdict) -> None:
    """Count one verdict: HINCRBY `{rule}|fired`, and `{rule}|held` when the action is hold."""
    pipe = redis.pipeline(transaction=False)
    add_rule_fired(pipe, keys, verdict)
    await pipe.execute()


def review_outcome(moderator_action: Action) -> str | None:
    """Which counter a moderator's verdict on a held comment moves: upheld, overturned, or none (hold again)."""
    if moderator_action in (Action.REJECT, Action.SPAM):
        return "upheld"
    if moderator_action is Action.APPROVE:
        return "overturned"
    return None


async def record_review(redis: Any, keys: Keys, rule: str | None, moderator_action: Action) -> None:
    """Count a moderator's verdict on a comment that `rule` held."""
    counter = review_outcome(moderator_action)
    if rule is not None and counter is not None:
        await redis.hincrby(keys.rulestats, f"{rule}|{counter}", 1)


async def read_rule_stats(redis: Any, keys: Keys) -> dict[str, RuleStats]:
    """All counters, by rule id."""
    raw = await redis.hgetall(keys.rulestats)
    counts: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        rule, _, counter = name.rpartition("|")
        if rule and counter in COUNTERS:
            counts.setdefault(rule, {})[counter] = int(value)
    return {rule: RuleStats(rule, **c) for rule, c in sorted(counts.items())}
