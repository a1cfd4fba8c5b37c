"""Per lexicon entry and stance counters in the `{p}patternstats` hash, and the Wilson interval of precision.

Written where decisions are stored (modbot/decisions.py), like the per-rule counters, so they can never disagree
with the decisions. Fields are `{entry}|{stance}|{counter}`:

- fired: an automatic decision (new or edited text; any action, any rule or the default) had a match of the
  entry with that stance. Each entry and stance counts once per decision, however often it matched.
- held: the same, for decisions that held the comment.
- upheld / overturned: a moderator removed (reject, spam) or approved a held comment that had such a match.

A held comment with several matches counts for each of them: the counters say how often holds *with* this
entry were judged right, not that the entry alone caused the hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modbot.keys import Keys
from modbot.models import Decision
from modbot.replies import as_str
from modbot.slots import summed_fields, summed_hashes

COUNTERS = ("fired", "held", "upheld", "overturned")
Z_95 = 1.959963984540054  # the normal quantile for a two-sided 95 % interval


def match_fields(decision: Decision) -> list[str]:
    """'entry|stance' of each distinct (entry, stance) among the decision's matches, in the order first met."""
    return list(dict.fromkeys(f"{m.pattern}|{m.stance.value}" for m in decision.matches))


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval (low, high) for a proportion; None with no trials.

    Unlike the plain p ± z·se it stays inside [0, 1] and is honest for a handful of verdicts, which is what most
    entries have."""
    if trials <= 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # At 0 or all successes the bound on that side is exactly 0 or 1; floating point would miss it by an ulp.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class PatternStats:
    """How one lexicon entry, matched with one stance, fared in decisions and reviews."""

    entry: str
    stance: str
    fired: int = 0
    held: int = 0
    upheld: int = 0
    overturned: int = 0

    @property
    def reviewed(self) -> int:
        return self.upheld + self.overturned

    @property
    def precision(self) -> float | None:
        return self.upheld / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> tuple[float, float] | None:
        """Wilson 95 % interval of precision."""
        return wilson(self.upheld, self.reviewed)

    def to_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {"entry": self.entry, "stance": self.stance, "fired": self.fired, "held": self.held,
                "upheld": self.upheld, "overturned": self.overturned, "precision": self.precision,
                "interval": list(iv) if iv else None}


async def read_pattern_stats(redis: Any, keys: Keys) -> list[PatternStats]:
    """All counters, sorted by entry then stance (summed over the partitions)."""
    raw = await summed_hashes(redis, [p.patternstats for p in keys.parts])
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for key, value in raw.items():
        name = as_str(key)
        parts = name.rsplit("|", 2)
        if len(parts) != 3 or parts[2] not in COUNTERS:
            continue
        counts.setdefault((parts[0], parts[1]), {})[parts[2]] = int(value)
    return [PatternStats(entry, stance, **c) for (entry, stance), c in sorted(counts.items())]


async def entry_figures(redis: Any, keys: Keys,
                        pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PatternStats]:
    """The counters of these (entry, stance) pairs, read with one HMGET per partition whatever their number: the
    review page shows them beside each match. A pair never counted has all zeros."""
    wanted = list(dict.fromkeys(pairs))
    if not wanted:
        return {}
    values = await summed_fields(redis, [p.patternstats for p in keys.parts],
                                 [f"{e}|{s}|{c}" for e, s in wanted for c in COUNTERS])
    out = {}
    for n, (entry, stance) in enumerate(wanted):
        counts = values[n * len(COUNTERS):(n + 1) * len(COUNTERS)]
        out[(entry, stance)] = PatternStats(entry, stance, *counts)
    return out
