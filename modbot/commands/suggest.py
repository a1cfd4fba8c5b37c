"""Suggest rule and lexicon changes where moderators keep overturning holds, each with its backtest diff.

Reads the per-rule and per-entry counters (`modbot stats`, `stats --patterns`), picks the rules, rules' stances
and entries' stances with at least --min-verdicts verdicts whose Wilson 95 % upper bound of precision is below
--max-precision, and for each prints the YAML to paste (or the patterns.yaml lines to delete) and what that change
would do to the decision history (or --input), replayed with the backtest engine. It never writes a file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from modbot.config import keys_for
from modbot.connections import connect
from modbot.rules import load_rules
from modbot.rules.backtest import Case, Report, backtest
from modbot.rules.backtest import Outcome as BacktestOutcome
from modbot.rules.loader import parse_rules
from modbot.rules.patternstats import read_pattern_stats
from modbot.rules.stats import read_rule_stats
from modbot.rules.suggest import Candidate, WithoutEntry, candidates, entry_snippet, rule_change
from modbot.scorecache import ScoreCache, default_cache_path
from modbot.scoring.base import Scorer

from .backtest import build_scorers, load_cases
from .validate import add_config_arguments, rules_path, settings_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--redis-url", default=None,
                        help="Redis URL (default: redis.url / MODBOT_REDIS_URL, else the running daemon's embedded "
                             "server)")
    parser.add_argument("--min-verdicts", type=int, default=10,
                        help="verdicts (upheld + overturned) needed before anything is suggested (default 10)")
    parser.add_argument("--max-precision", type=float, default=0.5,
                        help="suggest when the 95%% upper bound of precision is below this (default 0.5)")
    parser.add_argument("--input", type=Path, default=None,
                        help="replay these comments (JSONL, as for backtest) instead of the decision history")
    parser.add_argument("--scorers", default=None, help="comma-separated scorers for the replay (default: config)")
    parser.add_argument("--cache", type=Path, default=None, help=f"score cache file (default {default_cache_path()})")
    parser.add_argument("--no-cache", action="store_true", help="keep scores in memory only")
    parser.add_argument("--show", type=int, default=5, help="changed comments to list per suggestion (default 5)")


def _diff(report: Report, show: int) -> list[str]:
    """The backtest diff of one change, against the current rules: counts, changed comments, labels."""
    changed = report.changed()
    lines = [f"  backtest: {len(changed)} of {len(report.outcomes)} decisions would change"]
    moves: dict[tuple[str, str], int] = {}
    for (before, after), n in report.transitions().items():
        if before != after:
            moves[(before, after)] = n
    if moves:
        lines.append("  " + ", ".join(f"{b} -> {a}: {n}" for (b, a), n in sorted(moves.items())))
    # What the moderators said about the comments that would change: the point of the suggestion.
    good = sum(1 for o in changed if o.case.label is not None and o.case.label is o.verdict.action)
    bad = sum(1 for o in changed if o.case.label is not None and o.case.label is not o.verdict.action)
    lines.append(f"  of those, moderators' verdicts agree with the new decision for {good}, disagree for {bad}")
    for o in changed[:show]:
        text = o.case.comment.text.replace("\n", " ")
        text = text if len(text) <= 60 else text[:57] + "..."
        label = f" [moderator: {o.case.label.value}]" if o.case.label else ""
        lines.append(f"    {o.case.comment.id}: {o.baseline_action.value if o.baseline_action else '?'} "
                     f"({o.baseline_rule or 'default'}) -> {o.verdict.action.value} ({o.verdict.rule or 'default'})"
                     f"{label}  {text!r}")
    return lines


def _header(c: Candidate) -> str:
    low, high = c.interval
    n = c.upheld + c.overturned
    return (f"{c.label}: {c.overturned} of {n} reviewed holds overturned; precision "
            f"{c.upheld / n:.2f} (95% interval {low:.2f}-{high:.2f})")


async def run_async(args: argparse.Namespace) -> int:
    settings = settings_from(args, args.scorers)
    path = rules_path(args, settings)
    rules = load_rules(path)
    rules_text = path.read_text(encoding="utf-8")
    redis_settings = dataclasses.replace(settings.redis, url=args.redis_url) if args.redis_url else settings.redis
    conn = await connect(redis_settings, start_embedded=False)
    keys = keys_for(settings)
    try:
        found = candidates(await read_rule_stats(conn.redis, keys), await read_pattern_stats(conn.redis, keys),
                           args.min_verdicts, args.max_precision)
    finally:
        await conn.close()
    if not found:
        print(f"nothing to suggest: no rule or lexicon entry has {args.min_verdicts}+ verdicts with a 95% upper "
              f"bound of precision below {args.max_precision}")
        return 0
    skipped: list[str] = []
    cases: list[Case] = await load_cases(args, settings, skipped)
    scorers: list[Scorer] = await build_scorers(settings)
    cache = ScoreCache(None if args.no_cache else (args.cache or default_cache_path()))
    budget = settings.rules.budget_ms / 1000
    out: list[str] = [f"replaying {len(cases)} comments ({len(skipped)} skipped) for each suggestion", ""]
    try:
        baseline = await backtest(cases, scorers, rules, None, cache, budget_s=budget)
        for c in found:
            out.append(_header(c))
            if c.kind == "rule":
                if c.name not in {r.id for r in rules.rules}:
                    out += ["  (no longer in the rules file)", ""]
                    continue
                change = rule_change(rules_text, c)
                out += ["  change in " + str(path) + ":", *("    " + line for line in change.snippet().splitlines())]
                new_rules = parse_rules(change.rules_text.encode("utf-8"), f"{path} (suggested)")
                changed = await backtest(cases, scorers, new_rules, None, cache, budget_s=budget)
            else:
                out += ["  change: " + entry_snippet(settings.scorers.patterns.file, c.name)]
                without: list[Scorer] = [WithoutEntry(s, c.name) if s.name == "patterns" else s for s in scorers]
                changed = await backtest(cases, without, rules, None, cache, budget_s=budget)
            # Against the current rules on the full scores (not the recorded decisions, which older rules made).
            report = Report([BacktestOutcome(o.case, o.verdict, b.verdict)
                             for o, b in zip(changed.outcomes, baseline.outcomes, strict=True)])
            out += [*_diff(report, args.show), ""]
    finally:
        cache.close()
        for s in scorers:
            await s.close()
    print("\n".join(out).rstrip(), file=sys.stdout)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args))
