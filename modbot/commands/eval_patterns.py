"""Measure the pattern lexicon on a labelled file: precision, recall and false-positive rate per category and
overall, and how much recall survives automatic evasion (look-alikes, leet, spacing, zero-width, ...).

FILE is CSV or JSONL (by extension: .jsonl / .json are JSONL). Rows whose label is neither --positive nor
--negative are skipped (e.g. "offensive" when measuring hate vs normal). Presets set the columns and labels
of the public sets in ../shared/data:

  toxigen     text / label, hate vs neutral          (toxigen/toxigen_prompts.csv; add --by group)
  hatexplain  text / category, 1 (hate) vs 0 (normal) (hatexplain/hatexplain.csv)
  davidson    tweet / class, 0 (hate) vs 2 (neither)  (davidson/labeled_data.csv)

A row is flagged by a match the shipped rules would hold: stance asserted or quoted (a trope reported, refuted,
questioned or spoken of by its target is not a flag). A category's precision counts rows that category flagged;
its recall is against all positives, so the overall row (any match) is the one to compare with other filters.

A --positive / --negative value that no row has (a typo, or "HATE" for "hate") is reported on stderr with
the values the label column does have; with no positive row at all the command exits 1 instead of
printing a meaningless recall.

A FILE ending in .yaml / .yml is a functional suite (tests/functional/suite.yaml, docs/patterns.md): each case
is judged by the rules (--rules, default config/rules.yaml) on the pattern scorer's output alone, and the
report is held % per function against its target, per trope, and the --show N worst misses and false holds.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modbot.commands import eval_suite
from modbot.errors import ConfigError
from modbot.models import Match, Stance
from modbot.scoring.evasion import PERTURBATIONS, perturb_spans
from modbot.scoring.patterns import PatternScorer

PRESETS: dict[str, dict[str, Any]] = {
    "toxigen": {"text_column": "text", "label_column": "label", "positive": ["hate"], "negative": ["neutral"]},
    "hatexplain": {"text_column": "text", "label_column": "category", "positive": ["1"], "negative": ["0"]},
    "davidson": {"text_column": "tweet", "label_column": "class", "positive": ["0"], "negative": ["2"]},
}
OVERALL = "(any)"
# A match counts as flagged when the shipped rules would hold it: asserted, or quoted with no sign of the
# writer's view. Reported, refuted, questioned and in-group matches are talk about hate (modbot.scoring.stance).
FLAGGED_STANCES = frozenset({Stance.ASSERTED, Stance.QUOTED})


def flagged(matches: list[Match]) -> list[Match]:
    """The matches that count as flags: those whose stance the shipped rules hold."""
    return [m for m in matches if m.stance in FLAGGED_STANCES]


@dataclass(frozen=True)
class Row:
    text: str
    positive: bool
    group: str = ""


@dataclass
class Counts:
    """Confusion counts for one category (or overall)."""

    tp: int = 0
    fp: int = 0

    def report(self, positives: int, negatives: int) -> dict[str, float | int | None]:
        flagged = self.tp + self.fp
        return {
            "tp": self.tp, "fp": self.fp,
            "precision": round(self.tp / flagged, 4) if flagged else None,
            "recall": round(self.tp / positives, 4) if positives else None,
            "fpr": round(self.fp / negatives, 4) if negatives else None,
        }


@dataclass
class Evaluation:
    """Everything eval-patterns measures on one file."""

    positives: int = 0
    negatives: int = 0
    categories: dict[str, Counts] = field(default_factory=dict)
    evasion_hits: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        overall = self.categories.get(OVERALL, Counts())
        clean = overall.tp / self.positives if self.positives else 0.0
        evasion = {
            kind: {"recall": round(hits / self.positives, 4) if self.positives else None,
                   "share_of_clean": round(hits / overall.tp, 4) if overall.tp else None}
            for kind, hits in self.evasion_hits.items()
        }
        return {
            "positives": self.positives,
            "negatives": self.negatives,
            "categories": {name: c.report(self.positives, self.negatives)
                           for name, c in sorted(self.categories.items())},
            "clean_recall": round(clean, 4),
            "evasion": evasion,
            "groups": self.groups,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help="CSV or JSONL file with a text and a label per row, or a functional suite (.yaml)")
    parser.add_argument("--patterns", type=Path, default=Path("config/patterns.yaml"), help="lexicon file")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="columns and labels of a known data set")
    parser.add_argument("--text-column", help="column holding the text (default: text)")
    parser.add_argument("--label-column", help="column holding the label (default: label)")
    parser.add_argument("--positive", action="append", help="label value counted as positive (repeatable)")
    parser.add_argument("--negative", action="append",
                        help="label value counted as negative (repeatable; default: every non-positive label)")
    parser.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                        help="keep only rows where COL equals VALUE (repeatable)")
    parser.add_argument("--grep", metavar="REGEX", help="keep only rows whose text matches REGEX (case-insensitive)")
    parser.add_argument("--by", metavar="COL", help="also report recall and false-positive rate per value of COL")
    parser.add_argument("--no-evasion", action="store_true", help="skip the evasion report")
    parser.add_argument("--seed", type=int, default=0, help="seed for the perturbations")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rules", type=Path, default=None,
                        help="functional suite only: rules that decide what is held (default config/rules.yaml)")
    parser.add_argument("--show", type=int, default=20,
                        help="functional suite only: misses and false holds to list (default 20)")


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ConfigError(f"invalid JSON: {exc.msg}", file=str(path), line=n) from None
        return
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


class NoPositives(ConfigError):
    """No row carries a positive label: recall would be meaningless."""


def _check_labels(positive: set[str], negative: set[str], seen: dict[str, int], label_col: str,
                  err: Any = None) -> None:
    """Warn on stderr for each requested label value that no row has, listing the column's actual values."""
    err = err or sys.stderr
    have = ", ".join(f"{v!r} ({n})" for v, n in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:20])
    for flag, values in (("--positive", positive), ("--negative", negative)):
        for value in sorted(values - set(seen)):
            print(f"warning: {flag} {value!r} matches no row; column {label_col!r} has: {have or 'no values'}",
                  file=err)


def load_rows(args: argparse.Namespace) -> list[Row]:
    """Read the file and apply columns, labels and filters from the arguments.

    Warns on stderr about label values no row has; raises NoPositives when no row is positive."""
    preset = PRESETS.get(args.preset or "", {})
    text_col = args.text_column or preset.get("text_column", "text")
    label_col = args.label_column or preset.get("label_column", "label")
    positive = {str(v) for v in (args.positive or preset.get("positive") or [])}
    negative = {str(v) for v in (args.negative or preset.get("negative") or [])}
    if not positive:
        raise ConfigError("no positive label given", hint="use --positive VALUE or --preset")
    where = []
    for cond in args.where:
        col, sep, value = cond.partition("=")
        if not sep:
            raise ConfigError(f"--where {cond!r} is not COL=VALUE")
        where.append((col, value))
    grep = re.compile(args.grep, re.IGNORECASE) if args.grep else None
    if not args.file.exists():
        raise ConfigError("file not found", file=str(args.file))
    rows = []
    seen: dict[str, int] = {}
    for n, rec in enumerate(_records(args.file), 1):
        if text_col not in rec or label_col not in rec:
            raise ConfigError(f"row {n} lacks column {text_col!r} or {label_col!r}", file=str(args.file),
                              hint="set --text-column / --label-column")
        label = str(rec[label_col])
        seen[label] = seen.get(label, 0) + 1
        if label not in positive and (negative and label not in negative):
            continue
        text = str(rec[text_col] or "")
        if any(str(rec.get(col, "")) != value for col, value in where) or (grep and not grep.search(text)):
            continue
        rows.append(Row(text=text, positive=label in positive, group=str(rec.get(args.by, "")) if args.by else ""))
    _check_labels(positive, negative, seen, label_col)
    if not any(row.positive for row in rows):
        raise NoPositives(f"no row has a positive label ({', '.join(sorted(positive))}) in column {label_col!r}"
                          + (" after --where/--grep" if set(positive) & set(seen) else ""),
                          file=str(args.file), hint="check --positive against the values listed above")
    return rows


def evaluate(scorer: PatternScorer, rows: list[Row], evasion: bool = True, seed: int = 0) -> Evaluation:
    """Score every row; for matched positives, re-score each evasion form of the matched words."""
    ev = Evaluation(categories={OVERALL: Counts()})
    if evasion:
        ev.evasion_hits = dict.fromkeys(PERTURBATIONS, 0)
    for i, row in enumerate(rows):
        matches = flagged(scorer.match(row.text))
        cats = {m.category for m in matches}
        if row.positive:
            ev.positives += 1
        else:
            ev.negatives += 1
        for cat in cats | ({OVERALL} if cats else set()):
            counts = ev.categories.setdefault(cat, Counts())
            if row.positive:
                counts.tp += 1
            else:
                counts.fp += 1
        if row.group or ev.groups:
            g = ev.groups.setdefault(row.group, {"positives": 0, "negatives": 0, "tp": 0, "fp": 0})
            g["positives" if row.positive else "negatives"] += 1
            if cats:
                g["tp" if row.positive else "fp"] += 1
        if evasion and row.positive and matches:
            spans = [(m.start, m.end) for m in matches]
            for kind in PERTURBATIONS:
                if flagged(scorer.match(perturb_spans(row.text, spans, kind, seed + i))):
                    ev.evasion_hits[kind] += 1
    return ev


def _fmt(value: Any) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def print_table(result: dict[str, Any], out: Any = None) -> None:
    """Human-readable report."""
    out = out or sys.stdout
    print(f"rows: {result['positives']} positive, {result['negatives']} negative", file=out)
    print(f"{'category':<24} {'tp':>6} {'fp':>6} {'precision':>9} {'recall':>7} {'fpr':>7}", file=out)
    for name, c in result["categories"].items():
        print(f"{name:<24} {c['tp']:>6} {c['fp']:>6} {_fmt(c['precision']):>9} {_fmt(c['recall']):>7} "
              f"{_fmt(c['fpr']):>7}", file=out)
    if result["evasion"]:
        print(f"evasion (clean recall {result['clean_recall']:.3f}): recall after perturbation, share of clean",
              file=out)
        for kind, e in result["evasion"].items():
            print(f"  {kind:<12} recall {_fmt(e['recall'])}  share {_fmt(e['share_of_clean'])}", file=out)
    if result["groups"]:
        print(f"{'group':<24} {'pos':>5} {'recall':>7} {'neg':>5} {'flagged':>8}", file=out)
        for name, g in sorted(result["groups"].items()):
            rec = g["tp"] / g["positives"] if g["positives"] else None
            fpr = g["fp"] / g["negatives"] if g["negatives"] else None
            print(f"{name:<24} {g['positives']:>5} {_fmt(rec):>7} {g['negatives']:>5} {_fmt(fpr):>8}", file=out)


def run(args: argparse.Namespace) -> int:
    if eval_suite.is_suite(args.file):
        return eval_suite.run(args)
    scorer = PatternScorer.from_file(args.patterns)
    rows = load_rows(args)
    result = evaluate(scorer, rows, evasion=not args.no_evasion, seed=args.seed).to_dict()
    result["patterns_version"] = scorer.version
    if args.json:
        print(json.dumps(result, indent=None, sort_keys=True))
    else:
        print_table(result)
    return 0
