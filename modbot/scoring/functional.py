"""The functional test suite of the pattern layer (HateCheck method): short cases grouped by trope and by
function (asserted, quoted and condemned, reported, refuted, ...), read from YAML into typed cases, and the
per-function tally of which cases the rules held.

File format (tests/functional/suite.yaml is the suite itself; its header explains each function):

    functions:
      asserted: {hateful: true, means: "the speaker states the trope as their own view"}
      refuted: {hateful: false, means: "the trope negated or called a myth"}
    tropes:
      - id: control-media
        category: antisemitic_conspiracy      # the lexicon category expected to catch the hateful cases
        means: "Jews said to control the media"
        cases:
          asserted: ["...", "..."]
          refuted: ["..."]

A malformed file raises SuiteInvalid naming the file, line and column: a case under a function the file does
not declare, an empty or non-string case, the same text twice, a trope without id or cases, a duplicate id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modbot.errors import ConfigError
from modbot.yamlsrc import error_at, load_yaml

# Targets from issue 8: hateful functions held at least this often, non-hateful ones at most this often each,
# and all non-hateful cases together at most TOTAL_NOT_HATEFUL_MAX.
HATEFUL_MIN = 0.90
NOT_HATEFUL_MAX = 0.05
TOTAL_NOT_HATEFUL_MAX = 0.02


class SuiteInvalid(ConfigError):
    """The functional suite file is malformed."""


@dataclass(frozen=True)
class Function:
    """A way of using a trope's words: `hateful` says whether a case of this function should be held."""

    name: str
    hateful: bool
    means: str

    @property
    def target(self) -> float:
        """Held share this function must reach (hateful) or stay under (not hateful)."""
        return HATEFUL_MIN if self.hateful else NOT_HATEFUL_MAX

    def passes(self, held_share: float) -> bool:
        return held_share >= self.target if self.hateful else held_share <= self.target


@dataclass(frozen=True)
class Case:
    """One test sentence. `id` is trope/function/n (n from 1 in file order); `category` is the lexicon
    category expected to catch the trope's hateful cases."""

    id: str
    trope: str
    category: str
    function: str
    hateful: bool
    text: str


@dataclass(frozen=True)
class Suite:
    """The declared functions (in file order) and every case."""

    functions: tuple[Function, ...]
    cases: tuple[Case, ...]


def load_suite(path: Path) -> list[Case]:
    """Every case of the suite file at `path`, in file order. Raises SuiteInvalid on a malformed file."""
    return list(read_suite(path).cases)


def read_suite(path: Path) -> Suite:
    """The suite file with its function declarations. Raises SuiteInvalid on a malformed file."""
    try:
        doc = load_yaml(path)
    except ConfigError as exc:
        raise SuiteInvalid(exc.message, exc.file, exc.line, exc.column, exc.hint) from None
    file = str(path)
    if not isinstance(doc, dict):
        raise SuiteInvalid("the suite must be a mapping with `functions` and `tropes`", file=file)
    functions = _functions(doc, file)
    tropes = doc.get("tropes")
    if not isinstance(tropes, list) or not tropes:
        raise _invalid(doc, "tropes", "`tropes` must be a non-empty list", file)
    by_name = {f.name: f for f in functions}
    cases: list[Case] = []
    seen_text: dict[str, str] = {}
    seen_ids: set[str] = set()
    for i, trope in enumerate(tropes):
        cases += _trope_cases(trope, tropes, i, by_name, seen_text, seen_ids, file)
    return Suite(tuple(functions), tuple(cases))


def _invalid(node: Any, key: Any, message: str, file: str, hint: str | None = None) -> SuiteInvalid:
    err = error_at(node, key, message, file, hint)
    return SuiteInvalid(err.message, err.file, err.line, err.column, err.hint)


def _functions(doc: dict[str, Any], file: str) -> list[Function]:
    decl = doc.get("functions")
    if not isinstance(decl, dict) or not decl:
        raise _invalid(doc, "functions", "`functions` must map each function name to {hateful, means}", file)
    out = []
    for name, spec in decl.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("hateful"), bool):
            raise _invalid(decl, name, f"function {name!r} needs `hateful: true` or `hateful: false`", file)
        out.append(Function(str(name), spec["hateful"], str(spec.get("means", ""))))
    return out


def _trope_cases(trope: Any, parent: Any, index: int, functions: dict[str, Function], seen_text: dict[str, str],
                 seen_ids: set[str], file: str) -> list[Case]:
    if not isinstance(trope, dict):
        raise _invalid(parent, index, "each trope must be a mapping with id, category, means and cases", file)
    for key in ("id", "category"):
        if not isinstance(trope.get(key), str) or not trope[key].strip():
            raise _invalid(trope, key if key in trope else None, f"trope needs a non-empty `{key}`", file)
    tid: str = trope["id"]
    if tid in seen_ids:
        raise _invalid(trope, "id", f"duplicate trope id {tid!r}", file, hint="give each trope its own id")
    seen_ids.add(tid)
    by_function = trope.get("cases")
    if not isinstance(by_function, dict) or not by_function:
        raise _invalid(trope, "cases" if "cases" in trope else None,
                       f"trope {tid!r} needs `cases`: a mapping of function to a list of texts", file)
    out = []
    for fname, texts in by_function.items():
        function = functions.get(fname)
        if function is None:
            raise _invalid(by_function, fname, f"unknown function {fname!r} in trope {tid!r}", file,
                           hint="declare it under `functions` or use one of " + ", ".join(functions))
        if not isinstance(texts, list) or not texts:
            raise _invalid(by_function, fname, f"{tid}/{fname} must be a non-empty list of texts", file)
        for n, text in enumerate(texts, 1):
            if not isinstance(text, str) or not text.strip():
                raise _invalid(texts, n - 1, f"empty case in {tid}/{fname}", file, hint="write the text or remove it")
            key = " ".join(text.split()).casefold()
            if key in seen_text:
                raise _invalid(texts, n - 1, f"duplicate text (also {seen_text[key]}): {text!r}", file,
                               hint="each case must be its own sentence")
            case_id = f"{tid}/{fname}/{n}"
            seen_text[key] = case_id
            out.append(Case(case_id, tid, trope["category"], fname, function.hateful, text))
    return out


@dataclass(frozen=True)
class Tally:
    """Held counts for one function (or one trope's hateful or non-hateful cases)."""

    cases: int
    held: int

    @property
    def share(self) -> float:
        return self.held / self.cases if self.cases else 0.0


@dataclass(frozen=True)
class Outcome:
    """One case as judged: the action, the rule that gave it and its reason."""

    case: Case
    held: bool
    action: str
    rule: str | None
    reason: str


def tally(outcomes: Sequence[Outcome], key: Callable[[Case], str]) -> dict[str, Tally]:
    """Cases and held cases per `key(case)`, in first-seen order."""
    cases: dict[str, int] = {}
    held: dict[str, int] = {}
    for o in outcomes:
        k = key(o.case)
        cases[k] = cases.get(k, 0) + 1
        held[k] = held.get(k, 0) + int(o.held)
    return {k: Tally(n, held[k]) for k, n in cases.items()}


def wrong(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Misses (hateful, not held) and false holds (not hateful, held)."""
    return [o for o in outcomes if o.held != o.case.hateful]
