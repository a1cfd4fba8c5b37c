"""Per-rule counters in the `{p}rulestats` hash: how often each rule fired, held, and how reviews went.

They are written where decisions are stored (modbot/decisions.py: fired and held with every automatic
decision, upheld or overturned with a moderator's verdict), so they can never disagree with the decisions.

Fields are `{rule}|fired`, `{rule}|held`, `{rule}|upheld`, `{rule}|overturned`. A hold is *upheld* when a
moderator removes the comment (reject or spam) and *overturned* when they approve it; precision per rule is
upheld / (upheld + overturned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modbot.keys import Keys
from modbot.models import Action

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


def review_outcome(moderator_action: Action) -> str | None:
    """Which counter a moderator's verdict on a held comment moves: upheld, overturned, or none (hold again)."""
    if moderator_action in (Action.REJECT, Action.SPAM):
        return "upheld"
    if moderator_action is Action.APPROVE:
        return "overturned"
    return None


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
