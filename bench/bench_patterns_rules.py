"""Patterns + rules together, per core: what the daemon's pattern path costs per comment (issue 11).

    python bench/bench_patterns_rules.py                  # typical comments and hate-dense text, with targets
    python bench/bench_patterns_rules.py --data ../shared/data/hatexplain/hatexplain.csv --text-column text
    python bench/bench_patterns_rules.py --profile        # cProfile of both, top functions by own time
    python bench/bench_patterns_rules.py --per-comment    # patterns by `match` per comment, not in batches

Per batch of 32 comments (`--batch`; a saturated daemon reads 256): `PatternScorer.match_many` on the texts, as the
daemon's `score` runs it (`--per-comment`: `PatternScorer.match` on each text instead), then per comment
`RuleSet.evaluate` (config/rules.yaml) with the matches and random toxicity labels, within the daemon's default
time budget per comment (rules.budget_ms). One thread, pinned to one CPU when the OS allows, timed as the
process's CPU time (`time.process_time`) so that other jobs on a shared machine do not count; best and median of
several rounds.

Typical comments are bench/bench_patterns.py's built-in ones (1-6 ordinary news-comment sentences, median about
250 characters, none matching), or a CSV of real comments with --data. Hate-dense text is the functional
suite's cases (tests/functional/suite.yaml, every function but the HTML one: asserted, refuted, reported, ...)
shuffled and joined to 20k characters (a match every ~80 characters, each read for its stance), then cut into
comments of 1k, 5k and 20k characters: the same text at each length, so the µs per character must stay flat
(linear time).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_patterns import from_csv, synthetic  # noqa: E402

from modbot.config import RulesSettings  # noqa: E402
from modbot.models import Author, Comment, Scores  # noqa: E402
from modbot.rules import load_rules  # noqa: E402
from modbot.rules.engine import RuleSet  # noqa: E402
from modbot.scoring.functional import load_suite  # noqa: E402
from modbot.scoring.patterns import PatternScorer  # noqa: E402

TARGET_PER_S = 50_000  # issue 11: patterns + rules per core on typical comments
LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
DENSE_LENGTHS = (1_000, 5_000, 20_000)


def comments(texts: Sequence[str], seed: int = 1) -> list[tuple[Comment, dict[str, float]]]:
    """Each text as a comment by a random author, with random toxicity labels (mostly low, as in real traffic)."""
    rng = random.Random(seed)
    out = []
    for i, text in enumerate(texts):
        author = Author(f"u{i % 997}", "name", rng.uniform(0, 400), rng.randint(0, 50))
        out.append((Comment(str(i), text, author), {k: rng.random() ** 4 for k in LABELS}))
    return out


def suite_cases() -> list[str]:
    """The functional suite's texts but the HTML ones: asserted, refuted, reported, ... tropes, one per case."""
    return [c.text for c in load_suite(ROOT / "tests" / "functional" / "suite.yaml") if c.function != "asserted_html"]


def with_trope_comments(typical: list[tuple[Comment, dict[str, float]]], share: float, seed: int = 3
                        ) -> list[tuple[Comment, dict[str, float]]]:
    """`typical` with `share` of its comments (spread at random) replaced by functional-suite cases."""
    rng = random.Random(seed)
    cases = suite_cases()
    out = list(typical)
    for i in rng.sample(range(len(out)), round(share * len(out))):
        comment, labels = out[i]
        out[i] = (Comment(comment.id, rng.choice(cases), comment.author), labels)
    return out


def dense_text(length: int, seed: int = 7) -> str:
    """`length` characters of functional-suite cases (no HTML ones), shuffled: a trope every sentence or two."""
    cases = suite_cases()
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        parts.append(rng.choice(cases))
        size += len(parts[-1]) + 1
    return " ".join(parts)[:length]


# Comments per `match_many` call (--batch). The daemon scores whatever has arrived, up to stream.batch_size (256):
# small batches when it idles, full ones when it is saturated, which is when throughput counts. 32 is the cautious
# default; --batch 256 is the saturated daemon.
BATCH = 32
PER_COMMENT = False  # --per-comment: `PatternScorer.match` per comment instead of the batch path
BUDGET_S = RulesSettings().budget_ms / 1000  # the daemon gives each comment's rules this budget (rules.budget_ms)


def judge_all(scorer: PatternScorer, rules: RuleSet, batch: Sequence[tuple[Comment, dict[str, float]]]) -> int:
    """Patterns then rules for every comment, in batches of BATCH as the daemon runs them (`match_many`, which
    `PatternScorer.score` calls, then `evaluate` per comment); returns how many had a pattern match."""
    matched = 0
    for k in range(0, len(batch), BATCH):
        part = batch[k:k + BATCH]
        if PER_COMMENT:
            found = [tuple(scorer.match(c.text)) for c, _ in part]
        else:
            found = scorer.match_many([c.text for c, _ in part])
        for (comment, labels), matches in zip(part, found, strict=True):
            matched += bool(matches)
            rules.evaluate(comment, Scores(labels, matches), BUDGET_S)
    return matched


def cpu_seconds(fn: Callable[[], object], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.process_time()
        fn()
        out.append(time.process_time() - start)
    return out


def pin_one_core(cpu: int | None) -> str:
    """Run on one CPU: the given one, else the highest allowed (CPU 0 takes most interrupts: on the 2-core
    development machine it measured 25 % slower)."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    cpu = max(os.sched_getaffinity(0)) if cpu is None else cpu
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patterns", type=Path, default=ROOT / "config" / "patterns.yaml")
    parser.add_argument("--rules", type=Path, default=ROOT / "config" / "rules.yaml")
    parser.add_argument("--data", type=Path, help="CSV of real comments instead of the built-in typical ones")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("-n", type=int, default=20_000, help="typical comments per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions instead of timing")
    parser.add_argument("--cpu", type=int, help="CPU to run on (default: the highest allowed)")
    parser.add_argument("--batch", type=int, default=32, help="comments per match_many call (default 32; the "
                        "daemon reads up to stream.batch_size, 256, when saturated)")
    parser.add_argument("--mix", type=float, default=0.01,
                        help="share of the typical comments replaced by functional-suite cases, which match (a site "
                             "where some comments assert, quote or discuss a trope); 0 leaves it out")
    parser.add_argument("--per-comment", action="store_true",
                        help="patterns by `match` per comment instead of the daemon's batch path (`match_many`)")
    args = parser.parse_args()
    global PER_COMMENT, BATCH
    PER_COMMENT = args.per_comment
    BATCH = max(1, args.batch)

    print(pin_one_core(args.cpu))
    print("patterns: " + ("PatternScorer.match per comment" if args.per_comment else
                          f"PatternScorer.match_many on batches of {BATCH} (the daemon's path)"))
    scorer = PatternScorer.from_file(args.patterns)
    rules = load_rules(args.rules, scorer.lexicon.categories)
    texts = from_csv(args.data, args.text_column, args.n) if args.data else synthetic(args.n)
    typical = comments(texts)
    # The same 20k characters cut into comments of each length: equal text and equal trope density, so the µs per
    # character can differ only by how the cost grows with a comment's length.
    whole = dense_text(max(DENSE_LENGTHS))
    dense = {n: comments([whole[i:i + n] for i in range(0, len(whole), n)] * 2) for n in DENSE_LENGTHS}
    judge_all(scorer, rules, typical[:2000])  # warm the character-fold cache
    for batch in dense.values():
        judge_all(scorer, rules, batch[:1])

    if args.profile:
        for name, batch in (("typical", typical), ("hate-dense 20k", dense[20_000])):
            prof = cProfile.Profile()
            prof.runcall(judge_all, scorer, rules, batch)
            print(f"\n--- {name}: top functions by own time ---")
            pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(14)
        return 0

    matched = judge_all(scorer, rules, typical)
    times = cpu_seconds(lambda: judge_all(scorer, rules, typical), args.rounds)
    rates = [len(typical) / t for t in times]
    lengths = [len(t) for t in texts]
    print(f"typical: {args.data or 'built-in comments (bench_patterns.py)'}, {len(typical)} comments, median "
          f"{statistics.median(lengths):.0f} chars, {matched / len(typical):.1%} with a match")
    print(f"  patterns + rules: {max(rates):,.0f} comments/s/core (best of {args.rounds}), median "
          f"{statistics.median(rates):,.0f}   target >= {TARGET_PER_S:,}  "
          f"{'OK' if max(rates) >= TARGET_PER_S else 'BELOW'}")
    if args.mix > 0:
        mixed = with_trope_comments(typical, args.mix)
        found = judge_all(scorer, rules, mixed)
        rates = [len(mixed) / t for t in cpu_seconds(lambda: judge_all(scorer, rules, mixed), args.rounds)]
        print(f"typical with {args.mix:.0%} functional-suite cases mixed in ({found / len(mixed):.1%} with a match):")
        print(f"  patterns + rules: {max(rates):,.0f} comments/s/core (best of {args.rounds}), median "
              f"{statistics.median(rates):,.0f}")
    print("hate-dense (functional-suite cases joined), patterns + rules:")
    flat = []
    # Lengths interleaved round by round, so that a busy spell on a shared machine hits them alike.
    dense_times: dict[int, list[float]] = {n: [] for n in dense}
    for _ in range(args.rounds):
        for n, batch in dense.items():
            dense_times[n] += cpu_seconds(lambda b=batch: judge_all(scorer, rules, b), 1)  # type: ignore[misc]
    for n, batch in dense.items():
        best = min(dense_times[n]) / len(batch)
        flat.append(best * 1e6 / n)
        found = sum(len(scorer.match(c.text)) for c, _ in batch) / len(batch)
        print(f"  {n:>6,} chars: {found:6.1f} matches, {best * 1e3:8.2f} ms/comment, {flat[-1]:.2f} µs/char, "
              f"{best * 1e6 / found:.0f} µs/match")
    print(f"  20k / 1k µs-per-char ratio: {flat[-1] / flat[0]:.2f}   target: flat (about 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
