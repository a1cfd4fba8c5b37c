"""`modbot eval-patterns SUITE.yaml`: run the functional suite (modbot/scoring/functional.py) through the
pattern scorer and the rules, and report per function, per trope and the cases judged wrongly.

"Held" is what the rules decide from the pattern scorer's output alone (no toxicity model): hold, reject or
spam. The judging is `modbot backtest`'s own (modbot/rules/backtest.py) with an in-memory score cache, so the
suite measures exactly the rules the daemon runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modbot.models import Action, Author, Comment
from modbot.rules import load_rules
from modbot.rules.backtest import Case as ReplayCase
from modbot.rules.backtest import backtest
from modbot.scorecache import ScoreCache
from modbot.scoring.functional import (
    TOTAL_NOT_HATEFUL_MAX,
    Case,
    Outcome,
    Suite,
    Tally,
    read_suite,
    tally,
    wrong,
)
from modbot.scoring.patterns import PatternScorer

DEFAULT_RULES = Path("config/rules.yaml")
_AUTHOR = Author(id="functional-suite")


def is_suite(path: Path) -> bool:
    """A .yaml / .yml file is a functional suite; anything else is a labelled CSV/JSONL data set."""
    return path.suffix.lower() in (".yaml", ".yml")


def judge(cases: Sequence[Case], scorer: PatternScorer, rules_file: Path) -> tuple[list[Outcome], str]:
    """Every case's outcome under `rules_file` with `scorer` alone, and the rules' version."""
    rules = load_rules(rules_file, scorer.lexicon.categories)
    replay = [ReplayCase(Comment(id=c.id, text=c.text, author=_AUTHOR)) for c in cases]
    report = asyncio.run(backtest(replay, [scorer], rules, None, ScoreCache(None)))
    outcomes = [Outcome(case, o.verdict.action is not Action.APPROVE, o.verdict.action.value, o.verdict.rule,
                        o.verdict.reason)
                for case, o in zip(cases, report.outcomes, strict=True)]
    return outcomes, rules.version


def summarise(suite: Suite, outcomes: Sequence[Outcome], show: int) -> dict[str, Any]:
    """The report as one JSON-ready dict: per function, non-hateful total, per trope, the wrong cases."""
    per_function = tally(outcomes, lambda c: c.function)
    functions = []
    for f in suite.functions:
        t = per_function.get(f.name, Tally(0, 0))
        functions.append({"function": f.name, "hateful": f.hateful, "cases": t.cases, "held": t.held,
                          "held_share": round(t.share, 4), "target": f.target,
                          "pass": bool(t.cases) and f.passes(t.share)})
    clean = [o for o in outcomes if not o.case.hateful]
    clean_held = sum(o.held for o in clean)
    clean_share = clean_held / len(clean) if clean else 0.0
    by_kind = tally(outcomes, lambda c: f"{c.trope}\0{int(c.hateful)}")
    tropes = []
    for trope, category in dict.fromkeys((o.case.trope, o.case.category) for o in outcomes):
        row: dict[str, Any] = {"trope": trope, "category": category}
        for name, flag in (("hateful", 1), ("not_hateful", 0)):
            t = by_kind.get(f"{trope}\0{flag}", Tally(0, 0))
            row[name] = {"cases": t.cases, "held": t.held, "held_share": round(t.share, 4) if t.cases else None}
        tropes.append(row)
    # Worst first: cases of the functions furthest from their target, then file order.
    shares = {f.name: per_function.get(f.name, Tally(0, 0)).share for f in suite.functions}
    gap = {f.name: (f.target - shares[f.name] if f.hateful else shares[f.name] - f.target) for f in suite.functions}
    order = {o.case.id: i for i, o in enumerate(outcomes)}
    misjudged = sorted(wrong(outcomes), key=lambda o: (-gap[o.case.function], order[o.case.id]))
    return {
        "cases": len(outcomes),
        "functions": functions,
        "not_hateful_total": {"cases": len(clean), "held": clean_held, "held_share": round(clean_share, 4),
                              "target": TOTAL_NOT_HATEFUL_MAX, "pass": clean_share <= TOTAL_NOT_HATEFUL_MAX},
        "tropes": tropes,
        "wrong_total": len(misjudged),
        "wrong": [{"id": o.case.id, "trope": o.case.trope, "function": o.case.function, "hateful": o.case.hateful,
                   "action": o.action, "rule": o.rule, "text": o.case.text} for o in misjudged[:show]],
    }


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def print_report(result: dict[str, Any], out: Any = None) -> None:
    """The tables a person reads."""
    def p(line: str = "") -> None:
        print(line, file=out or sys.stdout)

    p(f"functional suite {result['suite']}: {result['cases']} cases; patterns {result['patterns_version']}, "
      f"rules {result['rules']} (version {result['rules_version']})")
    p(f"{'function':<24} {'hateful':>7} {'cases':>6} {'held':>6} {'held %':>7} {'target':>8}  result")
    for f in result["functions"]:
        target = ("≥ " if f["hateful"] else "≤ ") + f"{100 * f['target']:.0f}%"
        p(f"{f['function']:<24} {'yes' if f['hateful'] else 'no':>7} {f['cases']:>6} {f['held']:>6} "
          f"{_pct(f['held_share']):>7} {target:>8}  {'pass' if f['pass'] else 'FAIL'}")
    t = result["not_hateful_total"]
    p(f"{'(all not hateful)':<24} {'no':>7} {t['cases']:>6} {t['held']:>6} {_pct(t['held_share']):>7} "
      f"{'≤ ' + format(100 * t['target'], '.0f') + '%':>8}  {'pass' if t['pass'] else 'FAIL'}")
    p()
    p(f"{'trope':<28} {'category':<24} {'hateful held':>15} {'not hateful held':>17}")
    for r in result["tropes"]:
        h, n = r["hateful"], r["not_hateful"]
        p(f"{r['trope']:<28} {r['category']:<24} {_pct(h['held_share']):>7} of {h['cases']:<4} "
          f"{_pct(n['held_share']):>9} of {n['cases']}")
    p()
    p(f"wrong: {result['wrong_total']} (showing {len(result['wrong'])}, worst functions first)")
    for w in result["wrong"]:
        kind = "missed" if w["hateful"] else f"held ({w['rule'] or w['action']})"
        text = w["text"].replace("\n", " ")
        p(f"  {kind:<34} {w['trope']}/{w['function']}: {text if len(text) <= 100 else text[:97] + '...'!r}")


def run(args: argparse.Namespace) -> int:
    """Load the suite, judge every case, print the tables (or --json)."""
    suite = read_suite(args.file)
    scorer = PatternScorer.from_file(args.patterns)
    rules_file = args.rules or DEFAULT_RULES
    outcomes, rules_version = judge(suite.cases, scorer, rules_file)
    result = {"suite": str(args.file), "patterns_version": scorer.version, "rules": str(rules_file),
              "rules_version": rules_version, **summarise(suite, outcomes, args.show)}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_report(result)
    return 0
