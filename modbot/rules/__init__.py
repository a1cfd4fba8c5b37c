"""The rule language: load and validate a rules file, judge comments, explain, hot reload. See docs/rules.md."""

from modbot.rules.engine import Explanation, Rule, RuleSet, RuleTrace, Verdict
from modbot.rules.loader import KNOWN_LABELS, RuleSetInvalid, load_rules, parse_rules
from modbot.rules.needs import Needs, rule_needs, ruleset_needs, unused_rules_warnings
from modbot.rules.reload import RulesHolder

__all__ = ["KNOWN_LABELS", "Explanation", "Needs", "Rule", "RuleSet", "RuleSetInvalid", "RuleTrace", "RulesHolder",
           "Verdict", "load_rules", "parse_rules", "rule_needs", "ruleset_needs", "unused_rules_warnings"]
