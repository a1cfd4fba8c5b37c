"""What to change when moderators keep overturning holds: candidates from the counters, and the change for each.

A candidate is a rule, a rule's holds of one stance, or a lexicon entry matched with one stance, whose reviewed
holds are mostly overturned *with confidence*: at least `min_verdicts` verdicts and the upper end of the Wilson
95 % interval of precision below `max_precision`. For each, a concrete change (YAML to paste, or the
patterns.yaml lines to delete) and the rule set or scorer that change gives, so `modbot suggest` can replay the
decision history through it with the backtest engine. Nothing here writes a file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modbot.models import Comment, ScorerOutput, Stance
from modbot.rules.patternstats import PatternStats, wilson
from modbot.rules.stats import RuleStats
from modbot.scoring.base import Scorer

STANCES = tuple(s.value for s in Stance)


@dataclass(frozen=True)
class Candidate:
    """Something whose holds moderators mostly overturn: a rule (stance None: all its holds), a rule's holds of
    one stance, or a lexicon entry (`kind` "entry") matched with one stance."""

    kind: str  # "rule" or "entry"
    name: str
    stance: str | None
    upheld: int
    overturned: int

    @property
    def interval(self) -> tuple[float, float]:
        iv = wilson(self.upheld, self.upheld + self.overturned)
        assert iv is not None  # candidates have verdicts
        return iv

    @property
    def label(self) -> str:
        what = f"rule {self.name}" if self.kind == "rule" else f"lexicon entry {self.name}"
        return what + (f", {self.stance} matches" if self.stance else "")


def _sure(upheld: int, overturned: int, min_verdicts: int, max_precision: float) -> bool:
    iv = wilson(upheld, upheld + overturned)
    return upheld + overturned >= min_verdicts and iv is not None and iv[1] < max_precision


def candidates(rules: dict[str, RuleStats], patterns: Sequence[PatternStats], min_verdicts: int,
               max_precision: float) -> list[Candidate]:
    """Rules, rules' stances and entries' stances whose precision is surely below `max_precision`, worst first."""
    found: list[Candidate] = []
    for r in rules.values():
        if _sure(r.upheld, r.overturned, min_verdicts, max_precision):
            found.append(Candidate("rule", r.rule, None, r.upheld, r.overturned))
        for stance, s in r.by_stance.items():
            # A stance that is all of the rule's reviewed holds says nothing the rule's own line does not.
            if (s.upheld, s.overturned) != (r.upheld, r.overturned) and _sure(s.upheld, s.overturned,
                                                                               min_verdicts, max_precision):
                found.append(Candidate("rule", r.rule, stance, s.upheld, s.overturned))
    for p in patterns:
        if _sure(p.upheld, p.overturned, min_verdicts, max_precision):
            found.append(Candidate("entry", p.entry, p.stance, p.upheld, p.overturned))
    return sorted(found, key=lambda c: (c.interval[1], c.kind, c.name, c.stance or ""))


@dataclass(frozen=True)
class RuleChange:
    """A rules-file change: the rule as it would read (None: delete it), and the whole file's new text."""

    rule_id: str
    new_rule: dict[str, Any] | None
    rules_text: str

    def snippet(self) -> str:
        """The YAML to paste over the rule, or what to delete."""
        if self.new_rule is None:
            return f"# delete the rule '{self.rule_id}' from the rules file"
        # Flow style for lists and mappings of plain values: reads like the shipped rules.yaml.
        return yaml.safe_dump([self.new_rule], sort_keys=False, allow_unicode=True, width=100,
                              default_flow_style=None).rstrip()


def rule_change(rules_text: str, candidate: Candidate) -> RuleChange:
    """The change for a rule candidate: without a stance, delete the rule; with one, stop it resting on matches of
    that stance (drop the stance from its `pattern`'s list when `when` tests one pattern, else add a
    `not: {pattern: {category: any, stance: [...]}}` to it)."""
    doc = yaml.safe_load(rules_text)
    rules = doc.get("rules") or []
    index = next(i for i, r in enumerate(rules) if isinstance(r, dict) and r.get("id") == candidate.name)
    new: dict[str, Any] | None = None
    if candidate.stance is not None:
        new = copy.deepcopy(rules[index])
        when = new.get("when")
        pattern = when.get("pattern") if isinstance(when, dict) else None
        if isinstance(pattern, str | list):
            pattern = {"category": pattern}
        if isinstance(when, dict) and isinstance(pattern, dict):
            current = pattern.get("stance", list(STANCES))
            current = [current] if isinstance(current, str) else list(current)
            kept = [s for s in current if s != candidate.stance]
            if kept:
                when["pattern"] = {**pattern, "stance": kept}
            else:
                new = None  # the rule only ever rested on this stance
        else:
            guard = {"not": {"pattern": {"category": "any", "stance": [candidate.stance]}}}
            new["when"] = {"all": [when, guard]}
    if new is None:
        del rules[index]
    else:
        rules[index] = new
    return RuleChange(candidate.name, new, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def entry_lines(patterns_text: str, entry: str) -> tuple[int, int] | None:
    """First and last line (1-based) of the entry `- id: ENTRY` in a patterns.yaml text: what to delete."""
    lines = patterns_text.splitlines()
    start_re = re.compile(r"^(\s*)-\s+id:\s*['\"]?" + re.escape(entry) + r"['\"]?\s*(#.*)?$")
    for i, line in enumerate(lines):
        m = start_re.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        end = i
        for j in range(i + 1, len(lines)):
            text = lines[j]
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            if len(text) - len(text.lstrip()) <= indent:
                break
            end = j
        return i + 1, end + 1
    return None


def entry_snippet(patterns_file: Path, entry: str) -> str:
    """What to delete from patterns.yaml to switch the entry off (every stance: entries have no per-stance
    switch)."""
    try:
        found = entry_lines(patterns_file.read_text(encoding="utf-8"), entry)
    except OSError:
        found = None
    where = f"lines {found[0]}-{found[1]}" if found else "the entry"
    return f"# delete {where} of {patterns_file} (- id: {entry}); it stops matching in every stance"


class WithoutEntry:
    """A scorer that answers as `inner` does, minus the matches of one lexicon entry: the lexicon with that entry
    deleted. Its version differs from the inner one's, so the score cache never mixes the two."""

    def __init__(self, inner: Scorer, entry: str) -> None:
        self.inner = inner
        self.entry = entry
        self.name = inner.name

    @property
    def version(self) -> str:
        return f"{self.inner.version}-without:{self.entry}"

    async def score(self, batch: Sequence[Comment]) -> list[ScorerOutput]:
        outs = await self.inner.score(batch)
        return [ScorerOutput(o.labels, tuple(m for m in o.matches if m.pattern != self.entry)) for o in outs]

    async def close(self) -> None:
        await self.inner.close()
