"""Parse and validate a rules file into a RuleSet, collecting every error with its file:line:column and a fix.

The file format is documented in docs/rules.md. Validation happens here, once; the engine trusts what it gets.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from modbot.errors import ConfigError, RuleError
from modbot.models import Action
from modbot.rules import features
from modbot.rules.conditions import (
    MATCH_MODES,
    SCORE_OPS,
    TEXT_FIELDS,
    AllOf,
    AnyOf,
    AuthorTest,
    Condition,
    FeatureTest,
    Not,
    PatternTest,
    ScoreTest,
    TextMatch,
)
from modbot.rules.engine import ACTION_RANK, PLACEHOLDER, SIMPLE_PLACEHOLDERS, Rule, RuleSet, Thresholds
from modbot.yamlsrc import LDict, LList, error_at, load_yaml_text

# Detoxify's labels: the six of `original`, plus what `unbiased` and `multilingual` add (the identity labels
# are the unbiased model's identity-mention scores, not attacks).
KNOWN_LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit",
                "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish", "muslim", "black", "white",
                "psychiatric_or_mental_illness")
ACTIONS = tuple(a.value for a in Action)
TOP_KEYS = ("version", "defaults", "thresholds", "labels", "rules")
RULE_KEYS = ("id", "priority", "action", "reason", "when", "moderators_exempt", "enabled", "description")
CONDITION_KEYS = ("all", "any", "not", "score", "pattern", "author", "features")
_TEXT_KEY = re.compile(r"^(~?)\s*([a-z_.+]+?)\s*(?:\((.*)\))?\s*$")
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
        data = path.read_bytes()
    except OSError as exc:
        raise RuleSetInvalid([RuleError(f"cannot read rules file: {exc.strerror}", file=str(path),
                                        hint="check the path (rules.file in modbot.yaml, or --rules)")]) from None
    return parse_rules(data, str(path), categories)


def parse_rules(data: bytes, file: str, categories: Collection[str] | None = None) -> RuleSet:
    """Parse rules from the file's bytes; `file` names it in errors."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8")
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


def _did_you_mean(word: str, choices: Collection[str]) -> str:
    if word == "body" and "text" in choices:
        return "AutoModerator's 'body' is called 'text' here"
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    names = list(choices)
    listed = ", ".join(names[:16]) + (", ..." if len(names) > 16 else "")
    return f"known: {listed}" if names else "none defined"


class _Parser:
    def __init__(self, file: str, categories: Collection[str] | None) -> None:
        self.file = file
        self.categories = set(categories) if categories is not None else None
        self.errors: list[RuleError] = []
        self.labels: set[str] = set(KNOWN_LABELS)
        self.threshold_names: set[str] = set()

    def err(self, node: Any, key: Any, message: str, hint: str | None = None) -> None:
        e = error_at(node, key, message, self.file, hint)
        self.errors.append(RuleError(e.message, e.file, e.line, e.column, e.hint))

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

    # ---- conditions -----------------------------------------------------------------------------------------

    def _condition(self, parent: Any, key: Any, node: Any) -> Condition | None:
        """A condition mapping: every key is one condition, and all of them must hold."""
        if isinstance(node, list):
            return self._list(parent, key, node, AllOf)
        if not isinstance(node, dict) or not node:
            self.err(parent, key, "a condition must be a non-empty mapping",
                     "e.g. {score: {label: toxicity, gte: 0.9}} or {any: [...]}")
            return None
        parts = [self._one(node, k, v) for k, v in node.items()]
        if any(p is None for p in parts):
            return None
        conds = tuple(p for p in parts if p is not None)
        return conds[0] if len(conds) == 1 else AllOf(conds)

    def _list(self, parent: Any, key: Any, node: Any, kind: type[AllOf] | type[AnyOf]) -> Condition | None:
        if not isinstance(node, list) or not node:
            self.err(parent, key, f"'{key}' takes a non-empty list of conditions", f"{key}: [{{...}}, {{...}}]")
            return None
        parts = [self._condition(node, i, item) for i, item in enumerate(node)]
        if any(p is None for p in parts):
            return None
        return kind(tuple(p for p in parts if p is not None))

    def _one(self, node: Any, key: Any, value: Any) -> Condition | None:
        if key == "all":
            return self._list(node, key, value, AllOf)
        if key == "any":
            return self._list(node, key, value, AnyOf)
        if key == "not":
            child = self._condition(node, key, value)
            return Not(child) if child is not None else None
        if key == "score":
            return self._score(node, key, value)
        if key == "pattern":
            return self._pattern(node, key, value)
        if key == "author":
            return self._author(node, key, value)
        if key == "features":
            return self._features(node, key, value)
        return self._text(node, str(key), value)

    def _score(self, node: Any, key: Any, value: Any) -> Condition | None:
        if isinstance(value, list):
            return self._score_list(node, key, value)
        if not isinstance(value, dict):
            self.err(node, key, "'score' must be a mapping", "e.g. score: {label: toxicity, gte: 0.9}")
            return None
        tests: list[Condition] = []
        unknown = False
        label = self._score_label(node, key, value)
        for k, v in value.items():
            if k == "label":
                continue
            op = "gte" if k == "threshold" else k
            if op not in SCORE_OPS:
                self.err(value, k, f"unknown score comparison '{k}'",
                         _did_you_mean(str(k), [*SCORE_OPS, "threshold"]) + " (gte: at least, gt: above, "
                         "lte: at most, lt: below; threshold: a named threshold)")
                unknown = True
                continue
            if isinstance(v, str):
                if v not in self.threshold_names:
                    self.err(value, k, f"unknown threshold '{v}'",
                             "define it under 'thresholds:'; " + _did_you_mean(v, sorted(self.threshold_names)))
                    continue
                tests.append(ScoreTest(label or "", op, threshold=v))
            elif isinstance(v, bool) or not isinstance(v, int | float) or k == "threshold":
                self.err(value, k, f"'{k}' needs a number between 0 and 1 or a threshold name")
            elif not 0.0 <= v <= 1.0:
                self.err(value, k, f"score threshold {v} is outside 0..1", "model scores are between 0 and 1")
            else:
                tests.append(ScoreTest(label or "", op, value=float(v)))
        if not unknown and not any(k in SCORE_OPS or k == "threshold" for k in value):
            self.err(node, key, "score condition without a comparison", "add gte, gt, lte, lt or threshold")
        if label is None or len(tests) != len(value) - 1:
            return None
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))

    def _score_label(self, node: Any, key: Any, value: dict[str, Any]) -> str | None:
        """The condition's label when it is a known one; else report why and return None."""
        if "label" not in value:
            self.err(node, key, "a 'score' condition needs 'label'",
                     "e.g. score: {label: toxicity, gte: 0.9} (labels: " + ", ".join(sorted(self.labels)) + ")")
            return None
        label = value["label"]
        if label not in self.labels:
            self.err(value, "label", f"unknown score label {label!r}",
                     _did_you_mean(str(label), sorted(self.labels)) + "; declare custom labels under 'labels:'")
            return None
        return str(label)

    def _score_list(self, node: LDict, key: str, value: list[Any]) -> Condition | None:
        if not value:
            self.err(node, key, "'score' list is empty", "give one or more {label: ..., gte: ...} mappings")
            return None
        parts = [self._score(value, i, v) for i, v in enumerate(value)]
        if any(p is None for p in parts):
            return None
        return AllOf(tuple(p for p in parts if p is not None))

    def _pattern(self, node: LDict, key: str, value: Any) -> Condition | None:
        if isinstance(value, str | list):
            value = LDict(category=value)
            value.line, value.column, value._where = *node.where(key), {}
        if not isinstance(value, dict):
            self.err(node, key, "'pattern' must be a mapping", "e.g. pattern: {category: conspiracy, min_severity: 2}")
            return None
        ok = True
        for k in value:
            if k not in ("category", "min_severity", "min_count"):
                self.err(value, k, f"unknown pattern key '{k}'",
                         _did_you_mean(str(k), ("category", "min_severity", "min_count")))
                ok = False
        cat = value.get("category", "any")
        cats: frozenset[str] | None
        if cat == "any":
            cats = None
        else:
            names = [cat] if isinstance(cat, str) else cat
            if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
                self.err(value, "category", "'category' must be a name, a list of names, or 'any'")
                return None
            cats = frozenset(names)
            if self.categories is not None:
                for n in names:
                    if n not in self.categories:
                        self.err(value, "category", f"unknown pattern category '{n}'",
                                 _did_you_mean(n, sorted(self.categories)) + " (from patterns.yaml)")
                        ok = False
        nums = {}
        for k in ("min_severity", "min_count"):
            v = value.get(k, 1)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                self.err(value, k, f"'{k}' must be a whole number >= 1")
                ok = False
            nums[k] = v
        return PatternTest(cats, nums["min_severity"], nums["min_count"]) if ok else None

    def _comparison(self, node: Any, key: str, value: Any, units: dict[str, float] | None = None,
                    default_unit: str | None = None) -> features.Comparison | None:
        try:
            return features.parse_comparison(value, units, default_unit)
        except ValueError as exc:
            self.err(node, key, f"'{key}': {exc}", 'write an operator, a number and a unit if any: "< 7 days", ">= 2"')
            return None

    def _author(self, node: LDict, key: str, value: Any) -> Condition | None:
        if not isinstance(value, dict) or not value:
            self.err(node, key, "'author' must be a mapping", 'e.g. author: {account_age: "< 7 days"}')
            return None
        known = ("account_age", "approved_count", "flags")
        tests: list[Condition] = []
        ok = True
        for k, v in value.items():
            if k == "account_age":
                c = self._comparison(value, k, v, features.DURATION_UNITS, "day")
                if c:
                    tests.append(AuthorTest("account_age", c))
            elif k == "approved_count":
                c = self._comparison(value, k, v)
                if c:
                    tests.append(AuthorTest("approved_count", c))
            elif k == "flags":
                flags = [v] if isinstance(v, str) else v
                if isinstance(flags, list) and flags and all(isinstance(f, str) for f in flags):
                    tests.append(AuthorTest("flags", flags=frozenset(flags)))
                else:
                    self.err(value, k, "'flags' must be a flag name or a list of them", "e.g. flags: [trusted]")
            else:
                self.err(value, k, f"unknown author condition '{k}'",
                         _did_you_mean(str(k), known) + "; author.name and author.id are text fields")
                ok = False
        if not ok or len(tests) != len(value):
            return None
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))

    def _features(self, node: LDict, key: str, value: Any) -> Condition | None:
        if not isinstance(value, dict) or not value:
            self.err(node, key, "'features' must be a mapping", 'e.g. features: {links: ">= 2"}')
            return None
        tests: list[Condition] = []
        for k, v in value.items():
            if k not in features.FEATURES:
                self.err(value, k, f"unknown text feature '{k}'", _did_you_mean(str(k), features.FEATURES))
                continue
            c = self._comparison(value, k, v)
            if c is not None:
                if k == "caps_ratio" and not 0.0 <= c.number <= 1.0:
                    self.err(value, k, f"caps_ratio {c.number:g} is outside 0..1", "a share, e.g. \"> 0.7\"")
                    continue
                tests.append(FeatureTest(k, c))
        if len(tests) != len(value):
            return None
        return tests[0] if len(tests) == 1 else AllOf(tuple(tests))

    def _text(self, node: LDict, key: str, value: Any) -> Condition | None:  # noqa: C901 - one flat list of checks
        m = _TEXT_KEY.match(key)
        fields = m.group(2).split("+") if m else []
        if not m or not all(f in TEXT_FIELDS for f in fields):
            bad = next((f for f in fields if f not in TEXT_FIELDS), key)
            self.err(node, key, f"unknown condition or field '{bad}' in '{key}'",
                     _did_you_mean(bad, [*CONDITION_KEYS, *TEXT_FIELDS]))
            return None
        modifiers = [x.strip() for x in (m.group(3) or "").split(",") if x.strip()]
        modes = [x for x in modifiers if x in MATCH_MODES]
        ok = True
        for x in modifiers:
            if x not in MATCH_MODES and x not in ("regex", "case-sensitive"):
                self.err(node, key, f"unknown match mode or modifier '{x}' in '{key}'",
                         _did_you_mean(x, [*MATCH_MODES, "regex", "case-sensitive"]))
                ok = False
        if len(modes) > 1:
            self.err(node, key, f"'{key}' has more than one match mode", f"keep one of {', '.join(modes)}")
            ok = False
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            self.err(node, key, f"'{key}' needs a string or a list of non-empty strings", f'{key}: ["word", "other"]')
            return None
        if not ok:
            return None
        mode = modes[0] if modes else "includes-word"
        flags = 0 if "case-sensitive" in modifiers else re.IGNORECASE
        patterns: list[re.Pattern[str]] = []
        if "regex" in modifiers:
            for i, v in enumerate(values):
                try:
                    re.compile(v)
                    patterns.append(re.compile(_wrap(v, mode), flags))
                except re.error as exc:
                    where: tuple[Any, Any] = (value, i) if isinstance(value, LList) else (node, key)
                    self.err(*where, f"bad regex {v!r}: {exc.msg} at position {exc.pos}",
                             "fix the regular expression, or drop 'regex' to match the text literally")
                    ok = False
        else:
            alternation = "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True))
            patterns.append(re.compile(_wrap(alternation, mode), flags))
        if not ok:
            return None
        return TextMatch(key, tuple(fields), tuple(patterns), negate=m.group(1) == "~",
                         full=mode in ("full-exact", "full-text"))


def _wrap(body: str, mode: str) -> str:
    if mode == "includes-word":
        return rf"(?<!\w)(?:{body})(?!\w)"
    if mode == "starts-with":
        return rf"^(?:{body})"
    if mode == "ends-with":
        return rf"(?:{body})\Z"
    if mode == "full-text":
        # AutoModerator's full-text: the whole field, ignoring surrounding spaces and punctuation.
        return rf"[\W_]*(?:{body})[\W_]*"
    return f"(?:{body})"  # includes, full-exact (fullmatch does the anchoring)
