"""Per-rule statistics from Redis: how often each rule fired and held, and how moderators judged its holds.

precision = upheld / (upheld + overturned): the share of reviewed holds that moderators removed. With --patterns:
the same per lexicon entry and stance of its matches, with the Wilson 95 % interval of precision.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json

from modbot.config import keys_for
from modbot.connections import connect
from modbot.errors import RuleError
from modbot.rules import load_rules
from modbot.rules.patternstats import PatternStats, read_pattern_stats
from modbot.rules.stats import RuleStats, read_rule_stats

from .validate import add_config_arguments, rules_path, settings_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--redis-url", default=None,
                        help="Redis URL (default: redis.url / MODBOT_REDIS_URL, else the running daemon's embedded "
                             "server)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--patterns", action="store_true",
                        help="per lexicon entry and stance instead of per rule, with a 95 %% interval of precision")


def format_table(stats: dict[str, RuleStats]) -> list[str]:
    width = max([len("rule"), *(len(r) for r in stats)])
    lines = [f"{'rule':<{width}}  {'fired':>7}  {'held':>7}  {'upheld':>7}  {'overturned':>10}  {'precision':>9}"]
    for s in stats.values():
        p = "-" if s.precision is None else f"{s.precision:.2f}"
        lines.append(f"{s.rule:<{width}}  {s.fired:>7}  {s.held:>7}  {s.upheld:>7}  {s.overturned:>10}  {p:>9}")
    rows = [(s.rule, stance, st) for s in stats.values() for stance, st in s.by_stance.items()]
    if rows:
        header = f"{'rule':<{width}}  {'stance':<10}  {'held':>7}  {'upheld':>7}  {'overturned':>10}  {'precision':>9}"
        lines += ["", "holds by stance of the matches they rested on:", header]
        for rule, stance, st in rows:
            p = "-" if st.precision is None else f"{st.precision:.2f}"
            lines.append(f"{rule:<{width}}  {stance:<10}  {st.held:>7}  {st.upheld:>7}  {st.overturned:>10}  {p:>9}")
    return lines


def format_pattern_table(stats: list[PatternStats]) -> list[str]:
    """One line per lexicon entry and stance; the interval is the Wilson 95 % interval of precision."""
    width = max([len("entry"), *(len(s.entry) for s in stats)])
    lines = [f"{'entry':<{width}}  {'stance':<10}  {'fired':>7}  {'held':>7}  {'upheld':>7}  {'overturned':>10}  "
             f"{'precision':>9}  95% interval"]
    for s in stats:
        p = "-" if s.precision is None else f"{s.precision:.2f}"
        iv = s.interval
        span = "-" if iv is None else f"{iv[0]:.2f}-{iv[1]:.2f}"
        lines.append(f"{s.entry:<{width}}  {s.stance:<10}  {s.fired:>7}  {s.held:>7}  {s.upheld:>7}  "
                     f"{s.overturned:>10}  {p:>9}  {span}")
    return lines


async def run_async(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    redis_settings = dataclasses.replace(settings.redis, url=args.redis_url) if args.redis_url else settings.redis
    # Like `enqueue` and `review`: the configured server, else the embedded one a running daemon started.
    conn = await connect(redis_settings, start_embedded=False)
    keys = keys_for(settings)
    try:
        if args.patterns:
            patterns = await read_pattern_stats(conn.redis, keys)
        else:
            stats = await read_rule_stats(conn.redis, keys)
    finally:
        await conn.close()
    if args.patterns:
        if args.json:
            print(json.dumps([s.to_dict() for s in patterns]))
        elif not patterns:
            print("no lexicon entry has matched in a decision yet")
        else:
            print("\n".join(format_pattern_table(patterns)))
        return 0
    # Rules that never fired still belong in the table: a rule that never fires is worth knowing about.
    try:
        for rule in load_rules(rules_path(args, settings)).rules:
            stats.setdefault(rule.id, RuleStats(rule.id))
    except RuleError:
        pass  # the counters stand on their own; `modbot validate` reports the file's problems
    if args.json:
        print(json.dumps({r: {"fired": s.fired, "held": s.held, "upheld": s.upheld, "overturned": s.overturned,
                              "precision": s.precision,
                              "by_stance": {k: {"held": v.held, "upheld": v.upheld, "overturned": v.overturned,
                                                "precision": v.precision} for k, v in s.by_stance.items()}}
                          for r, s in stats.items()}))
    elif not stats:
        print("no rule has fired yet")
    else:
        print("\n".join(format_table(stats)))
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_async(args))
