"""Parse the `when:` conditions of a rule into Condition objects, reporting each mistake with its place and a fix.

Split out of modbot.rules.loader, which parses the rest of the rules file (version, defaults, thresholds, labels,
rule ids, priorities, reasons) and drives this: its parser is a ConditionParser, so both halves share one error
list and one view of the declared labels, thresholds and pattern categories.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from typing import Any

from modbot.errors import RuleError
from modbot.models import Stance
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
from modbot.rules.matchers import TextPattern, literal_pattern, regex_pattern
from modbot.saferegex import RegexRefused
from modbot.yamlsrc import LDict, LList, error_at

CONDITION_KEYS = ("all", "any", "not", "score", "pattern", "author", "features")
_PATTERN_KEYS = ("category", "min_severity", "min_count", "stance")
_TEXT_KEY = re.compile(r"^(~?)\s*([a-z_.+]+?)\s*(?:\((.*)\))?\s*$")


def _did_you_mean(word: str, choices: Collection[str]) -> str:
    if word == "body" and "text" in choices:
        return "AutoModerator's 'body' is called 'text' here"
    close = difflib.get_close_matches(word, list(choices), n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    names = list(choices)
    listed = ", ".join(names[:16]) + (", ..." if len(names) > 16 else "")
    return f"known: {listed}" if names else "none defined"


class ConditionParser:
    """Condition parsing, and the state it shares with the whole-file parser that extends it.

    Errors are collected, not raised, so one run over a file reports every mistake in it.
    """

    def __init__(self, file: str, categories: Collection[str] | None, labels: Collection[str]) -> None:
        self.file = file
        self.categories = set(categories) if categories is not None else None
        self.errors: list[RuleError] = []
        self.labels: set[str] = set(labels)
        self.threshold_names: set[str] = set()

    def err(self, node: Any, key: Any, message: str, hint: str | None = None) -> None:
        e = error_at(node, key, message, self.file, hint)
        self.errors.append(RuleError(e.message, e.file, e.line, e.column, e.hint))

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
            if k not in _PATTERN_KEYS:
                self.err(value, k, f"unknown pattern key '{k}'", _did_you_mean(str(k), _PATTERN_KEYS))
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
        stances_ok, stances = self._stances(value)
        if ok and stances_ok:
            return PatternTest(cats, nums["min_severity"], nums["min_count"], stances)
        return None

    def _stances(self, value: Any) -> tuple[bool, frozenset[Stance] | None]:
        """`stance: asserted` or a list of stances: (valid, stances); None stands for any stance."""
        raw = value.get("stance")
        if raw is None:
            return True, None
        names = [raw] if isinstance(raw, str) else raw
        known = [s.value for s in Stance]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.err(value, "stance", "'stance' must be a stance or a list of stances", f"one of: {', '.join(known)}")
            return False, None
        bad = [n for n in names if n not in known]
        if bad:
            self.err(value, "stance", f"unknown stance '{bad[0]}'",
                     _did_you_mean(bad[0], known) + f" (stances: {', '.join(known)})")
            return False, None
        return True, frozenset(Stance(n) for n in names)

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
        ignore_case = "case-sensitive" not in modifiers
        patterns: list[TextPattern] = []
        if "regex" in modifiers:
            for i, v in enumerate(values):
                try:
                    patterns.append(regex_pattern(v, mode, ignore_case))
                except RegexRefused as exc:
                    where: tuple[Any, Any] = (value, i) if isinstance(value, LList) else (node, key)
                    self.err(*where, f"bad regex {v!r}: {exc.message}",
                             f"{exc.hint}; or drop 'regex' to match the text literally")
                    ok = False
        else:
            patterns.append(literal_pattern(values, mode, ignore_case))
        if not ok:
            return None
        return TextMatch(key, tuple(fields), tuple(patterns), negate=m.group(1) == "~",
                         full=mode in ("full-exact", "full-text"))

