"""Which scorers a rule set needs: the score labels and pattern categories its rules test.

A rule that tests a score while the toxicity scorer is off (`--scorers patterns`, or `scorers.enabled` without
`toxicity`) silently never fires on that score; `unused_rules_warnings` turns that into something a person reads.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

from modbot.rules.conditions import AllOf, AnyOf, Condition, Not, PatternTest, ScoreTest
from modbot.rules.engine import Rule, RuleSet
from modbot.rules.loader import KNOWN_LABELS

TOXICITY = "toxicity"
PATTERNS = "patterns"


@dataclass(frozen=True)
class Needs:
    """What one rule's conditions read from the scorers."""

    labels: frozenset[str] = frozenset()  # score labels tested (Detoxify's and custom ones)
    categories: frozenset[str] = frozenset()  # pattern categories named; empty with `any_pattern` for 'any'
    any_pattern: bool = False  # a pattern condition on any category

    @property
    def patterns(self) -> bool:
        """Whether some condition reads the pattern scorer's matches."""
        return self.any_pattern or bool(self.categories)


def _leaves(cond: Condition) -> Iterator[Condition]:
    if isinstance(cond, AllOf | AnyOf):
        for child in cond.children:
            yield from _leaves(child)
    elif isinstance(cond, Not):
        yield from _leaves(cond.child)
    else:
        yield cond


def rule_needs(rule: Rule) -> Needs:
    """The score labels and pattern categories `rule` tests, anywhere in its conditions."""
    labels: set[str] = set()
    categories: set[str] = set()
    any_pattern = False
    for leaf in _leaves(rule.when):
        if isinstance(leaf, ScoreTest):
            labels.add(leaf.label)
        elif isinstance(leaf, PatternTest):
            if leaf.categories is None:
                any_pattern = True
            else:
                categories.update(leaf.categories)
    return Needs(frozenset(labels), frozenset(categories), any_pattern)


def ruleset_needs(ruleset: RuleSet) -> Needs:
    """Everything the rule set's rules test, together."""
    parts = [rule_needs(r) for r in ruleset.rules]
    return Needs(frozenset().union(*(p.labels for p in parts)), frozenset().union(*(p.categories for p in parts)),
                 any(p.any_pattern for p in parts))


def unused_rules_warnings(ruleset: RuleSet, enabled_scorers: Collection[str]) -> list[str]:
    """One line per rule that tests a scorer not in `enabled_scorers`: Detoxify labels need "toxicity",
    pattern conditions need "patterns". Those conditions see no score or match, so they never hold (and a `not`
    around them always does). Custom labels (declared under `labels:`) come from no known scorer: not reported.
    """
    where = ruleset.source or "rules"
    out = []
    for rule in ruleset.rules:
        needs = rule_needs(rule)
        at = f"{where}:{rule.line}" if rule.line else where
        toxic = sorted(needs.labels & set(KNOWN_LABELS))
        if toxic and TOXICITY not in enabled_scorers:
            out.append(f"{at}: rule '{rule.id}' tests score {', '.join(toxic)} but the '{TOXICITY}' scorer is not "
                       "enabled: those conditions will never hold")
        if needs.patterns and PATTERNS not in enabled_scorers:
            cats = ", ".join(sorted(needs.categories) + (["any"] if needs.any_pattern else []))
            out.append(f"{at}: rule '{rule.id}' tests pattern category {cats} but the '{PATTERNS}' scorer is not "
                       "enabled: those conditions will never hold")
    return out
