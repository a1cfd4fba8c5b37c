"""Rules evaluation speed: comments per second through config/rules.yaml (scores given, no scorer runs).

Run: python bench/bench_rules.py [N]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from modbot.models import Author, Comment, Match, Scores
from modbot.rules import load_rules

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rs = load_rules(ROOT / "config" / "rules.yaml")
    rnd = random.Random(1)
    words = ["the", "troops", "moved", "into", "the", "province", "while", "officials", "said", "talks",
             "would", "resume", "next", "week"]
    comments, scores = [], []
    for i in range(n):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(10, 80)))
        comments.append(Comment(str(i), text, Author("u", "name", rnd.uniform(0, 400), rnd.randint(0, 50))))
        labels = {k: rnd.random() ** 4 for k in ("toxicity", "severe_toxicity", "obscene", "threat", "insult",
                                                 "identity_attack")}
        matches = (Match("conspiracy", "p", 0, 3, "the", 2),) if i % 50 == 0 else ()
        scores.append(Scores(labels, matches))
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    for c, s in zip(comments, scores, strict=True):
        a = rs.evaluate(c, s).action.value
        counts[a] = counts.get(a, 0) + 1
    dt = time.perf_counter() - t0
    print(f"{n} comments, {len(rs.rules)} rules: {n / dt:,.0f} comments/s (one core); actions {counts}")
    t0 = time.perf_counter()
    for c, s in list(zip(comments, scores, strict=True))[:2000]:
        rs.explain(c, s)
    print(f"explain: {2000 / (time.perf_counter() - t0):,.0f} comments/s")


if __name__ == "__main__":
    main()
