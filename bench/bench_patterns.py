"""Pattern-stage throughput: comments per second on one core.

    python bench/bench_patterns.py                      # built-in comments of typical news-comment length
    python bench/bench_patterns.py --data ../shared/data/hatexplain/hatexplain.csv --text-column text
    python bench/bench_patterns.py --html                # the same comments as WordPress hands them over

The pattern scorer is pure Python on one thread, so comments/s here is comments/s per core.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modbot.scoring.patterns import PatternScorer  # noqa: E402

SENTENCES = [
    "I read the whole article and I still do not understand why the council voted this way.",
    "The government should explain where the money for the new highway is coming from.",
    "My grandmother lived in that town for sixty years and never saw anything like it.",
    "Great reporting, thank you for covering the local elections in so much detail.",
    "Syria and Lebanon used to be among the most developed countries in the region.",
    "Prices at the supermarket went up again this week, bread is now almost four dollars.",
    "Does anyone know whether the bridge will be closed during the weekend as well?",
    "The rebels and the army have been fighting over the same highway for months now.",
    "This is exactly what happens when nobody checks the contracts before signing them.",
    "Honestly the comments here are more interesting than the article itself, lol.",
]


def synthetic(n: int, seed: int = 1) -> list[str]:
    """Comments of 1-6 sentences (about 80-500 characters, median near 250), like a news site's."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 6))) for _ in range(n)]


def as_html(text: str, seed: int) -> str:
    """`text` as WordPress stores a comment: sentences in <p> paragraphs, typographic apostrophes and
    ampersands as character references, now and then a link or emphasis."""
    rng = random.Random(seed)
    sentences = [s.replace("'", "&#8217;").replace(" and ", " &amp; ") for s in re.split(r"(?<=[.?!]) ", text)]
    if rng.random() < 0.3:
        sentences[0] = f'<a href="https://example.org/{seed}" rel="nofollow ugc">{sentences[0]}</a>'
    if rng.random() < 0.3:
        sentences[-1] = f"<em>{sentences[-1]}</em>"
    return "".join(f"<p>{s}</p>" for s in sentences)


def from_csv(path: Path, column: str, n: int) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        texts = [row[column] for row in csv.DictReader(fh) if row.get(column)]
    return (texts * (n // max(1, len(texts)) + 1))[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patterns", type=Path, default=ROOT / "config" / "patterns.yaml")
    parser.add_argument("--data", type=Path, help="CSV of real comments (optional)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("-n", type=int, default=50_000, help="comments per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--html", action="store_true", help="wrap each comment in WordPress-style HTML")
    args = parser.parse_args()

    scorer = PatternScorer.from_file(args.patterns)
    texts = from_csv(args.data, args.text_column, args.n) if args.data else synthetic(args.n)
    if args.html:
        texts = [as_html(t, i) for i, t in enumerate(texts)]
    lengths = [len(t) for t in texts]
    for t in texts[:2000]:  # warm the character-fold cache
        scorer.match(t)
    rates = []
    matched = 0
    for _ in range(args.rounds):
        start = time.perf_counter()
        matched = sum(1 for t in texts if scorer.match(t))
        rates.append(len(texts) / (time.perf_counter() - start))
    source = f"{args.data or 'built-in synthetic comments'}{' as HTML' if args.html else ''}"
    print(f"source: {source}")
    print(f"comments: {len(texts)}  length chars: median {statistics.median(lengths):.0f}, "
          f"mean {statistics.mean(lengths):.0f}, max {max(lengths)}")
    print(f"comments with a match: {matched} ({matched / len(texts):.1%})")
    print(f"throughput: {max(rates):,.0f} comments/s/core (best of {args.rounds}), "
          f"median {statistics.median(rates):,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
