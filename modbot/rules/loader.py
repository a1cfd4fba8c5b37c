"""Parse and validate a rules file into a RuleSet, collecting every error with its file:line:column and a fix.

The file format is documented in docs/rules.md. Validation happens here, once; the engine trusts what it gets.
The `when:` conditions are parsed by modbot.rules.parse_conditions, whose ConditionParser the parser here extends.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from modbot.errors import ConfigError, RuleError
from modbot.models import Action
from modbot.rules.engine import (
    ACTION_RANK,
    PLACEHOLDER,
    RULES_TIMEOUT,
    SIMPLE_PLACEHOLDERS,
    Rule,
    RuleSet,
    Thresholds,
)
from modbot.rules.parse_conditions import CONDITION_KEYS as CONDITION_KEYS
from modbot.rules.parse_conditions import ConditionParser, _did_you_mean
from modbot.yamlsrc import LDict, check_size, load_yaml_text, read_limited

# Detoxify's labels: the six of `original`, plus what `unbiased` and `multilingual` add (the identity labels
# are the unbiased model's identity-mention scores, not attacks).
KNOWN_LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit",
                "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish", "muslim", "black", "white",
                "psychiatric_or_mental_illness")
ACTIONS = tuple(a.value for a in Action)
TOP_KEYS = ("version", "defaults", "thresholds", "labels", "rules")
RULE_KEYS = ("id", "priority", "action", "reason", "when", "moderators_exempt", "enabled", "description")
_RULE_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")
# An always-true condition, for the hint given when a file has no rules.
_CATCH_ALL_HINT = ('a rules file needs at least one rule; to approve (or hold) everything write an explicit rule, '
                   'e.g. "- {id: approve-all, action: approve, when: {features: {length: \'>= 0\'}}}"')


class RuleSetInvalid(RuleError):
    """Every error found in a rules file. Behaves as the first error; `errors` holds them all."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, first.file, first.line, first.column, first.hint)

    def __str__(self) -> str:
        if not getattr(self, "errors", None):
            return super().__str__()
        if len(self.errors) == 1:
            return ConfigError.__str__(self.errors[0])
        return f"{len(self.errors)} errors:\n" + "\n".join(ConfigError.__str__(e) for e in self.errors)


def load_rules(path: Path, categories: Collection[str] | None = None) -> RuleSet:
    """Load and validate a rules file. Raises RuleSetInvalid (a RuleError) listing every problem found.

    `categories`, when given, are the pattern categories that exist; a rule naming another one is an error.
    """
    try:
        data = read_limited(path)
    except ConfigError as exc:
        raise RuleSetInvalid([RuleError(exc.message.replace("cannot read file", "cannot read rules file"), exc.file,
                                        hint=exc.hint or "check the path (rules.file in modbot.yaml, or --rules)")]
                             ) from None
    return parse_rules(data, str(path), categories)


def parse_rules(data: bytes, file: str, categories: Collection[str] | None = None) -> RuleSet:
    """Parse rules from the file's bytes; `file` names it in errors."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        check_size(len(data), file)
        text = data.decode("utf-8")
    except ConfigError as exc:
        raise RuleSetInvalid([RuleError(exc.message, exc.file, exc.line, exc.column, exc.hint)]) from None
    except UnicodeDecodeError as exc:
        raise RuleSetInvalid([RuleError(f"not valid UTF-8 (byte {exc.start})", file=file)]) from None
    try:
        doc = load_yaml_text(text, file)
    except ConfigError as exc:
        raise RuleSetInvalid([RuleError(exc.message, exc.file, exc.line, exc.column, exc.hint)]) from None
    parser = _Parser(file, categories)
    ruleset = parser.parse(doc, digest)
    if parser.errors:
        parser.errors.sort(key=lambda e: (e.line or 0, e.column or 0))
        raise RuleSetInvalid(parser.errors)
    assert ruleset is not None
    return ruleset


class _Parser(ConditionParser):
    def __init__(self, file: str, categories: Collection[str] | None) -> None:
        super().__init__(file, categories, KNOWN_LABELS)

    # ---- top level ------------------------------------------------------------------------------------------

    def parse(self, doc: Any, digest: str) -> RuleSet | None:
        if doc is None:  # an empty file, or only comments
            doc = LDict()
            doc.line, doc.column = 1, 1
        if not isinstance(doc, dict):
            self.err(doc, None, "the rules file must be a mapping with 'version', 'defaults', 'thresholds', 'rules'")
            return None
        for key in doc:
            if key not in TOP_KEYS:
                self.err(doc, key, f"unknown top-level key '{key}'", _did_you_mean(str(key), TOP_KEYS))
        if doc.get("version", 1) != 1:
            self.err(doc, "version", f"unsupported rules version {doc.get('version')!r}", "write 'version: 1'")
        extra = doc.get("labels", [])
        if self._str_list(doc, "labels", extra):
            self.labels.update(extra)
        thresholds = self._thresholds(doc.get("thresholds"), doc)
        default_action, default_reason, on_error = self._defaults(doc.get("defaults"), doc)
        rules = self._rules(doc.get("rules"), doc)
        if not rules and not self.errors:  # other errors already refuse the file; no need to pile this on top
            self._no_rules(doc)
        ordered = tuple(r for _, r in sorted(enumerate(rules),
                                             key=lambda ir: (-ir[1].priority, ACTION_RANK[ir[1].action], ir[0])))
        return RuleSet(rules=ordered, version=digest[:12], default_action=default_action,
                       default_reason=default_reason, on_scorer_error=on_error, thresholds=thresholds,
                       source=self.file, sha256=digest)

    def _no_rules(self, doc: dict[str, Any]) -> None:
        """A file with no rule in force would approve every comment. That is what an editor or `cp` leaves for
        a moment when it truncates the file before writing it, so a hot reload must refuse it, not apply it."""
        listed = doc.get("rules")
        if isinstance(listed, list) and listed:
            self.err(doc, "rules", "every rule is disabled (enabled: false): no rule would ever fire",
                     "enable at least one rule; " + _CATCH_ALL_HINT)
        else:
            self.err(doc, "rules" if "rules" in doc else None, "no rules: the file defines no rule", _CATCH_ALL_HINT)

    def _str_list(self, node: Any, key: Any, value: Any) -> bool:
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return True
        self.err(node, key, f"'{key}' must be a list of names", "e.g. [sexual_explicit]")
        return False

    def _action(self, node: Any, key: str, allowed: tuple[str, ...] = ACTIONS) -> Action | None:
        value = node.get(key)
        if value not in allowed:
            self.err(node, key, f"unknown action {value!r}", _did_you_mean(str(value), allowed))
            return None
        return Action(value)

    def _defaults(self, node: Any, parent: Any) -> tuple[Action, str, Action]:
        action, reason, on_error = Action.APPROVE, "No rule matched", Action.HOLD
        if node is None:
            return action, reason, on_error
        if not isinstance(node, dict):
            self.err(parent, "defaults", "'defaults' must be a mapping",
                     "e.g. {action: approve, on_scorer_error: hold}")
            return action, reason, on_error
        for key in node:
            if key not in ("action", "reason", "on_scorer_error"):
                self.err(node, key, f"unknown key '{key}' in defaults",
                         _did_you_mean(str(key), ("action", "reason", "on_scorer_error")))
        if "action" in node:
            action = self._action(node, "action") or action
        if "reason" in node:
            if isinstance(node["reason"], str):
                reason = node["reason"]
            else:
                self.err(node, "reason", "'reason' must be a string")
        if "on_scorer_error" in node:
            on_error = self._action(node, "on_scorer_error", ("approve", "hold")) or on_error
        return action, reason, on_error

    def _threshold_value(self, node: Any, key: Any) -> float | None:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.err(node, key, f"threshold '{key}' must be a number", "a score between 0 and 1, e.g. 0.8")
            return None
        if not 0.0 <= value <= 1.0:
            self.err(node, key, f"threshold '{key}' = {value} is outside 0..1",
                     "model scores are probabilities: use a number between 0 and 1")
            return None
        return float(value)

    def _thresholds(self, node: Any, parent: Any) -> Thresholds:
        if node is None:
            return Thresholds()
        if not isinstance(node, dict):
            self.err(parent, "thresholds", "'thresholds' must be a mapping of names to scores", "e.g. {toxic: 0.8}")
            return Thresholds()
        base: dict[str, float] = {}
        for key in node:
            if key in ("sites", "threads"):
                continue
            value = self._threshold_value(node, key)
            if value is not None:
                base[key] = value
            self.threshold_names.add(key)
        sites = self._overrides(node, "sites", base)
        threads = self._overrides(node, "threads", base)
        return Thresholds(base, sites, threads)

    def _overrides(self, node: Any, group: str, base: dict[str, float]) -> dict[str, dict[str, float]]:
        section = node.get(group)
        result: dict[str, dict[str, float]] = {}
        if section is None:
            return result
        if not isinstance(section, dict):
            self.err(node, group, f"'thresholds.{group}' must map a {group[:-1]} to its thresholds",
                     f"e.g. {group}: {{example.com: {{toxic: 0.9}}}}")
            return result
        for name, values in section.items():
            if not isinstance(values, dict):
                self.err(section, name, f"thresholds for {group[:-1]} '{name}' must be a mapping", "e.g. {toxic: 0.9}")
                continue
            out: dict[str, float] = {}
            for key in values:
                if key not in self.threshold_names:
                    self.err(values, key, f"override of unknown threshold '{key}'",
                             "define it under 'thresholds:' first; "
                             + _did_you_mean(str(key), sorted(self.threshold_names)))
                    continue
                value = self._threshold_value(values, key)
                if value is not None:
                    out[key] = value
            result[str(name)] = out
        return result

    # ---- rules ----------------------------------------------------------------------------------------------

    def _rules(self, node: Any, parent: Any) -> list[Rule]:
        if node is None:
            return []
        if not isinstance(node, list):
            self.err(parent, "rules", "'rules' must be a list of rules", "start each rule with '- id: ...'")
            return []
        seen: dict[str, int | None] = {}
        out = []
        for i, item in enumerate(node):
            if not isinstance(item, dict):
                self.err(node, i, "each rule must be a mapping", "e.g. '- id: my-rule' with action and when")
                continue
            rule = self._rule(item, node, i, seen)
            if rule is not None and item.get("enabled", True) is not False:
                out.append(rule)
        return out

    def _rule(self, item: Any, parent: Any, index: int, seen: dict[str, int | None]) -> Rule | None:
        ok = True
        for key in item:
            if key not in RULE_KEYS:
                self.err(item, key, f"unknown rule key '{key}'", _did_you_mean(str(key), RULE_KEYS))
                ok = False
        rid = item.get("id")
        if not isinstance(rid, str) or not _RULE_ID.match(rid):
            self.err(item if "id" in item else parent, "id" if "id" in item else index,
                     "every rule needs an 'id' of letters, digits, '-', '_', '.' or ':'", "e.g. id: hold-insults")
            rid, ok = f"#{index + 1}", False
        elif rid == RULES_TIMEOUT:
            self.err(item, "id", f"rule id '{rid}' is reserved",
                     "modbot uses it for comments held because the rules ran past rules.budget_ms; rename the rule")
            ok = False
        elif rid in seen:
            self.err(item, "id", f"duplicate rule id '{rid}'",
                     f"rule ids must be unique; the first '{rid}' is at line {seen[rid]}: rename one")
            ok = False
        else:
            seen[rid] = item.line
        action = self._action(item, "action") if "action" in item else None
        if "action" not in item:
            self.err(parent, index, f"rule '{rid}' has no 'action'", f"add 'action:' with one of {', '.join(ACTIONS)}")
        priority = item.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            self.err(item, "priority", "'priority' must be a whole number", "higher runs first, e.g. priority: 100")
            priority, ok = 0, False
        for flag in ("moderators_exempt", "enabled"):
            if not isinstance(item.get(flag, True), bool):
                self.err(item, flag, f"'{flag}' must be true or false")
                ok = False
        reason = item.get("reason", "")
        if not isinstance(reason, str):
            self.err(item, "reason", "'reason' must be a string")
            reason, ok = "", False
        self._placeholders(item, reason)
        when = None
        if "when" not in item:
            self.err(parent, index, f"rule '{rid}' has no 'when'", "add 'when:' with the conditions that fire it")
        else:
            when = self._condition(item, "when", item["when"])
        if not ok or action is None or when is None:
            return None
        return Rule(id=rid, action=action, when=when, reason=reason or f"Rule {rid}", priority=priority,
                    moderators_exempt=item.get("moderators_exempt", True), line=item.line)

    def _placeholders(self, item: LDict, reason: str) -> None:
        for m in PLACEHOLDER.finditer(reason):
            name = m.group(1)
            kind, _, rest = name.partition(".")
            if name in SIMPLE_PLACEHOLDERS:
                continue
            if kind == "score" and rest in self.labels:
                continue
            if kind == "threshold" and rest in self.threshold_names:
                continue
            self.err(item, "reason", f"unknown placeholder '{{{{{name}}}}}' in reason",
                     _did_you_mean(name, [*SIMPLE_PLACEHOLDERS, *(f"score.{x}" for x in sorted(self.labels)),
                                          *(f"threshold.{x}" for x in sorted(self.threshold_names))]))
