"""Replay comments through the rules and report what they would decide.

Input: --input FILE (JSONL: `id`, `text`, optional `author` {id, name, account_age_days, approved_count,
flags}, `thread_id`, `site`, and an optional `label`, the expected action), or --from-redis (the decision
history: comments in the decisions stream whose text is still stored; the recorded decision is the baseline
and moderators' verdicts are the labels). With --against OTHER_RULES.yaml the comments whose decision would
change are listed, with a transition table (shadow mode). Scores are cached on disk, so trying a rule change
re-scores nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from modbot.config import Settings, keys_for
from modbot.connections import connect
from modbot.errors import ConfigError
from modbot.models import Action
from modbot.rules import RuleSet, load_rules
from modbot.rules.backtest import Case, Report, backtest, read_corpus, read_history
from modbot.rules.needs import unused_rules_warnings
from modbot.scorecache import ScoreCache, default_cache_path
from modbot.scoring.base import Scorer

from .validate import add_config_arguments, rules_path, settings_from

ACTIONS = [a.value for a in Action]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--scorers", default=None,
                        help="comma-separated scorers (patterns,toxicity); '' for rules on text/author/features only")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, help="comments as JSONL")
    src.add_argument("--from-redis", action="store_true", help="replay the decision history stored in Redis")
    parser.add_argument("--redis-url", default=None,
                        help="with --from-redis (default: redis.url / MODBOT_REDIS_URL, else the running daemon's "
                             "embedded server)")
    parser.add_argument("--output", type=Path, help="write one JSON line per comment: id, action, rule, reason")
    parser.add_argument("--against", type=Path, help="baseline rules file: show what changes from it to the rules")
    parser.add_argument("--show", type=int, default=20, help="changed comments to list (default 20)")
    parser.add_argument("--cache", type=Path, default=None, help=f"score cache file (default {default_cache_path()})")
    parser.add_argument("--no-cache", action="store_true", help="keep scores in memory only")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


async def build_scorers(settings: Settings) -> list[Scorer]:
    if not settings.scorers.enabled:
        return []
    try:
        pipeline = importlib.import_module("modbot.pipeline")
    except ImportError as exc:
        raise ConfigError(f"scorers are not available in this build ({exc})",
                          hint="use --scorers '' to replay rules on text, author and features only") from None
    scorers: list[Scorer] = await pipeline.build_scorers(settings)
    return scorers


async def load_cases(args: argparse.Namespace, settings: Settings, skipped: list[str]) -> list[Case]:
    if args.input is not None:
        if not args.input.exists():
            raise ConfigError(f"input file not found: {args.input}")
        return list(read_corpus(args.input, skipped))
    redis_settings = dataclasses.replace(settings.redis, url=args.redis_url) if args.redis_url else settings.redis
    # Like `enqueue` and `review`: the configured server, else the embedded one a running daemon started.
    conn = await connect(redis_settings, start_embedded=False)
    try:
        return await read_history(conn.redis, keys_for(settings), skipped)
    finally:
        await conn.close()


def _pct(x: float | int | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_report(report: Report, rules: RuleSet, against: RuleSet | None, show: int, out: Any = None) -> None:
    """The summary a person reads: counts, changes and transitions, precision/recall."""
    def p(line: str = "") -> None:
        print(line, file=out or sys.stdout)

    n = len(report.outcomes)
    p(f"replayed {n} comments with {rules.source} (version {rules.version})")
    p(f"score cache: {report.cache_hits} hits, {report.cache_misses} misses")
    for line in report.skipped[:10]:
        p(f"skipped {line}")
    if len(report.skipped) > 10:
        p(f"... {len(report.skipped) - 10} more skipped")
    counts = report.counts()
    p("actions: " + ", ".join(f"{a} {counts.get(a, 0)}" for a in ACTIONS))
    has_baseline = any(o.baseline_action is not None for o in report.outcomes)
    if has_baseline:
        name = f"{against.source} (version {against.version})" if against else "the recorded decisions"
        changed = report.changed()
        p(f"baseline: {name}; {len(changed)} of {n} decisions would change")
        for o in changed[:show]:
            text = o.case.comment.text.replace("\n", " ")
            text = text if len(text) <= 70 else text[:67] + "..."
            p(f"  {o.case.comment.id}: {o.baseline_action.value if o.baseline_action else '?'} "
              f"({o.baseline_rule or 'default'}) -> {o.verdict.action.value} ({o.verdict.rule or 'default'})  {text!r}")
        if len(changed) > show:
            p(f"  ... {len(changed) - show} more (see --output)")
        trans = report.transitions()
        p("transitions (rows: baseline, columns: new):")
        p(f"  {'':<8}" + "".join(f"{a:>9}" for a in ACTIONS))
        for a in ACTIONS:
            p(f"  {a:<8}" + "".join(f"{trans.get((a, b), 0):>9}" for b in ACTIONS))
    metrics = report.metrics()
    if metrics:
        labelled = sum(1 for o in report.outcomes if o.case.label is not None)
        p(f"against labels ({labelled} labelled comments):")
        p(f"  {'action':<8}{'precision':>10}{'recall':>8}{'predicted':>10}{'labelled':>9}")
        for a, m in metrics.items():
            p(f"  {a:<8}{_pct(m['precision']):>10}{_pct(m['recall']):>8}{m['predicted']:>10}{m['labelled']:>9}")
        if has_baseline:
            base = report.metrics(baseline=True)
            p("  baseline: " + ", ".join(f"{a} P {_pct(m['precision'])} R {_pct(m['recall'])}"
                                         for a, m in base.items()))


async def run_async(args: argparse.Namespace) -> int:
    settings = settings_from(args, args.scorers)
    rules = load_rules(rules_path(args, settings))
    against = load_rules(args.against) if args.against else None
    for warning in unused_rules_warnings(rules, settings.scorers.enabled):
        print(f"warning: {warning}", file=sys.stderr)
    skipped: list[str] = []
    cases = await load_cases(args, settings, skipped)
    scorers = await build_scorers(settings)
    cache = ScoreCache(None if args.no_cache else (args.cache or default_cache_path()))
    bar = tqdm(total=len(cases), unit="comment", file=sys.stderr, disable=args.no_progress)
    try:
        report = await backtest(cases, scorers, rules, against, cache, args.batch_size, bar.update,
                                settings.rules.budget_ms / 1000)
    finally:
        bar.close()
        cache.close()
        for s in scorers:
            await s.close()
    report.skipped = skipped
    if args.output:
        with args.output.open("w", encoding="utf-8") as fh:
            for o in report.outcomes:
                fh.write(json.dumps(o.to_dict()) + "\n")
    print_report(report, rules, against, args.show)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args))
