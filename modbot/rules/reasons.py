"""A rule's reason with its {{placeholders}} filled in, for the decision it explains.

Each reason is split once per rule set into its literal text and one small function per placeholder, so a firing
rule (about one comment in three on a busy site, where most are held or removed by score rules) pays a join, not
a regex substitution that looks each name up again. Names were validated at load (modbot.rules.loader), so every
name is known here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from modbot.models import Match
from modbot.rules.conditions import Context, Evidence

if TYPE_CHECKING:
    from modbot.rules.engine import Rule

PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z0-9_.\-]+)\s*\}\}")
SIMPLE_PLACEHOLDERS = ("match", "stance", "rule", "action", "category", "severity", "author.name", "author.id",
                       "author.account_age", "author.approved_count", "site", "thread_id")

Part = Callable[[Context, Evidence], str]
Render = Callable[[Context, Evidence], str]


def compile_reason(rule: Rule) -> Render:
    """A function giving `rule`'s reason for one comment: its text with every placeholder filled in."""
    reason = rule.reason
    literals: list[str] = []
    parts: list[Part] = []
    pos = 0
    for m in PLACEHOLDER.finditer(reason):
        literals.append(reason[pos:m.start()])
        parts.append(_part(m.group(1), m.group(0), rule))
        pos = m.end()
    if not parts:
        return lambda ctx, evidence: reason
    literals.append(reason[pos:])
    head, steps = literals[0], tuple(zip(parts, literals[1:], strict=True))

    def render(ctx: Context, evidence: Evidence) -> str:
        out = [head]
        for part, literal in steps:
            out.append(part(ctx, evidence))
            out.append(literal)
        return "".join(out)
    return render


def _part(name: str, written: str, rule: Rule) -> Part:
    """The function that gives one placeholder's text, computed only when the rule fires."""
    kind, _, rest = name.partition(".")
    if kind == "score":  # no other name starts with "score." or "threshold."
        def score(ctx: Context, evidence: Evidence) -> str:
            value = ctx.scores.labels.get(rest)
            return "n/a" if value is None else f"{value:.2f}"
        return score
    if kind == "threshold":
        return lambda ctx, evidence: f"{ctx.thresholds.get(rest, 0.0):g}"
    fixed = {"rule": rule.id, "action": rule.action.value}
    if name in fixed:
        text = fixed[name]
        return lambda ctx, evidence: text
    parts: dict[str, Part] = {
        "match": lambda ctx, evidence: _strongest(evidence),
        "stance": lambda ctx, evidence: _strongest_stance(evidence),
        "category": lambda ctx, evidence: ", ".join(dict.fromkeys(
            x.category for x in evidence.matches or ctx.scores.matches)),
        "severity": lambda ctx, evidence: str(max((x.severity for x in evidence.matches or ctx.scores.matches),
                                                  default=0)),
        "author.name": lambda ctx, evidence: ctx.comment.author.name,
        "author.id": lambda ctx, evidence: ctx.comment.author.id,
        "author.account_age": lambda ctx, evidence: _age(ctx.comment.author.account_age_days),
        "author.approved_count": lambda ctx, evidence: str(ctx.comment.author.approved_count),
        "site": lambda ctx, evidence: ctx.comment.site or "",
        "thread_id": lambda ctx, evidence: ctx.comment.thread_id,
    }
    return parts.get(name, lambda ctx, evidence: written)


def _strongest(evidence: Evidence) -> str:
    """The text {{match}} names: the most severe pattern match (the longest among equals), else the first text."""
    strongest = Match.strongest(evidence.matches)
    if strongest is not None:
        return strongest.text
    return evidence.texts[0] if evidence.texts else ""


def _strongest_stance(evidence: Evidence) -> str:
    """How {{match}} is used, with its cue: "quoted — cue: 'says'"; empty without a pattern match."""
    strongest = Match.strongest(evidence.matches)
    return strongest.describe_stance() if strongest is not None else ""


def _age(days: float | None) -> str:
    if days is None:
        return "unknown"
    if days < 1:
        hours = round(days * 24)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    whole = round(days)
    return f"{whole} day{'' if whole == 1 else 's'}"
