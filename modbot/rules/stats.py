"""Per-rule counters in the `{p}rulestats` hash: how often each rule fired, held, and how reviews went.

They are written where decisions are stored (modbot/decisions.py: fired and held with every automatic
decision, upheld or overturned with a moderator's verdict), so they can never disagree with the decisions.

Fields are `{rule}|fired`, `{rule}|held`, `{rule}|upheld`, `{rule}|overturned`. A hold is *upheld* when a
moderator removes the comment (reject or spam) and *overturned* when they approve it; precision per rule is
upheld / (upheld + overturned). Holds that rested on pattern matches are also counted per stance of those
matches (`{rule}|held@quoted`, `{rule}|upheld@quoted`, ...), so an operator sees whether, say, bare quotes
are worth holding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modbot.keys import Keys
from modbot.models import Action
from modbot.slots import summed_hashes

COUNTERS = ("fired", "held", "upheld", "overturned")


@dataclass(frozen=True)
class RuleStats:
    rule: str
    fired: int = 0
    held: int = 0
    upheld: int = 0
    overturned: int = 0
    by_stance: dict[str, StanceStats] = field(default_factory=dict)

    @property
    def precision(self) -> float | None:
        return _precision(self.upheld, self.overturned)


@dataclass(frozen=True)
class StanceStats:
    """A rule's holds that rested on matches of one stance, and how moderators judged them."""

    held: int = 0
    upheld: int = 0
    overturned: int = 0

    @property
    def precision(self) -> float | None:
        return _precision(self.upheld, self.overturned)


def _precision(upheld: int, overturned: int) -> float | None:
    reviewed = upheld + overturned
    return upheld / reviewed if reviewed else None


def review_outcome(moderator_action: Action) -> str | None:
    """Which counter a moderator's verdict on a held comment moves: upheld, overturned, or none (hold again)."""
    if moderator_action in (Action.REJECT, Action.SPAM):
        return "upheld"
    if moderator_action is Action.APPROVE:
        return "overturned"
    return None


async def read_rule_stats(redis: Any, keys: Keys) -> dict[str, RuleStats]:
    """All counters, by rule id (summed over the partitions)."""
    raw = await summed_hashes(redis, [p.rulestats for p in keys.parts])
    counts: dict[str, dict[str, int]] = {}
    stances: dict[str, dict[str, dict[str, int]]] = {}
    for key, value in raw.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        rule, _, counter = name.rpartition("|")
        counter, _, stance = counter.partition("@")
        if not rule or counter not in COUNTERS:
            continue
        if stance:
            stances.setdefault(rule, {}).setdefault(stance, {})[counter] = int(value)
        else:
            counts.setdefault(rule, {})[counter] = int(value)
    return {rule: RuleStats(rule, **counts.get(rule, {}),
                            by_stance={s: StanceStats(**c) for s, c in sorted(stances.get(rule, {}).items())})
            for rule in sorted(counts.keys() | stances.keys())}
