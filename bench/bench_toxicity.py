"""Toxicity scorer throughput: comments per second by batch size, with a full-size random-weight model.

Random weights cost exactly the compute of the trained model of the same shape, so the figures hold for
Detoxify `original` (bert-base-uncased shape) or, given albert-base-v2's folder, `original-small`.

    python bench/bench_toxicity.py                         # ../shared/models/bert-base-uncased, CPU (+ CUDA)
    python bench/bench_toxicity.py CONFIG_DIR --comments 300 --threads 2 --batch-sizes 1,8,32
    python bench/bench_toxicity.py CONFIG_DIR --mix-only --threads 2   # one long comment among 31 short ones

CONFIG_DIR holds config.json and the tokenizer files (vocab.txt, or spiece.model for ALBERT). The comments are
generated here (varied lengths, news-comment sized); no data set is needed.

The mix section scores calls of 31 short comments and one long one (--long-chars, 5,000 by default, read in
windows), first in forward passes of a fixed count of windows (the scorer before max_batch_tokens), then capped
by padded tokens; then it times single comments of growing length, to show the cost grows linearly with it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modbot.config import StreamSettings, ToxicitySettings  # noqa: E402
from modbot.scoring.token_windows import plan_passes  # noqa: E402
from modbot.scoring.toxicity import (  # noqa: E402
    ARCHITECTURES,
    DetoxifyModel,
    ToxicityScorer,
    quantize,
    rename_labels,
)

DEFAULT_CONFIG_DIR = ROOT.parent / "shared" / "models" / "bert-base-uncased"
_WORD_TEXT = ("the council vote budget bridge mayor article reporter story readers people think wrong right city "
          "school police election policy tax rent housing climate weather football team coach season fans "
          "agree disagree honestly really never always because maybe should would could nonsense great idea "
          "why how what when where who government minister party left right media journalism facts opinion")
_WORDS = tuple(_WORD_TEXT.split())


def make_comments(n: int, seed: int = 0) -> list[str]:
    """n comments, mostly 10 to 80 words with a long tail, like reader comments on a news site."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        length = max(3, min(300, int(rng.lognormvariate(3.4, 0.7))))
        words = [rng.choice(_WORDS) for _ in range(length)]
        texts.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", "..."]))
    return texts


def build_random_model(config_dir: Path, device: str) -> DetoxifyModel:
    """The architecture of config_dir/config.json with random weights, and its tokenizer from the folder."""
    import transformers

    config = transformers.AutoConfig.from_pretrained(str(config_dir), local_files_only=True)
    model_name = (config.architectures or ["BertForSequenceClassification"])[0]
    if model_name not in ARCHITECTURES:
        raise SystemExit(f"{config_dir}: architecture {model_name} is not one Detoxify uses")
    model = getattr(transformers, model_name)(config).to(device).eval()
    tokenizer = getattr(transformers, ARCHITECTURES[model_name]).from_pretrained(str(config_dir),
                                                                                 local_files_only=True)
    labels = rename_labels([config.id2label[i] for i in range(config.num_labels)])
    return DetoxifyModel(model=model, tokenizer=tokenizer, labels=labels, version=f"random:{model_name}")


def bench(model: DetoxifyModel, texts: list[str], batch_sizes: list[int], call_size: int, max_length: int,
          device: str, max_batch_tokens: int) -> None:
    """Score `texts` in calls of `call_size` (the worker's stream batch), for each scorer `batch_size`."""
    for batch_size in batch_sizes:
        scorer = ToxicityScorer(model, batch_size=batch_size, max_length=max_length, device=device,
                                max_batch_tokens=max_batch_tokens)
        scorer.predict(texts[:call_size])  # warm-up, not timed
        start = time.perf_counter()
        for i in range(0, len(texts), call_size):
            scorer.predict(texts[i:i + call_size])
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        print(f"  batch_size {batch_size:>3}: {len(texts) / elapsed:8.1f} comments/s "
              f"({1000 * elapsed / len(texts):6.1f} ms/comment, {len(texts)} comments in {elapsed:.1f} s)",
              flush=True)


def long_comment(chars: int, seed: int = 1) -> str:
    """One generated comment of about `chars` characters."""
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(_WORDS))
    return " ".join(words).capitalize() + "."


def timed(scorer: ToxicityScorer, texts: list[str], repeats: int, device: str, warm_up: bool = True) -> float:
    """Seconds per call of `scorer.predict(texts)`, the best of `repeats` (after one untimed call if `warm_up`)."""
    if warm_up:
        scorer.predict(texts)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        scorer.predict(texts)
        if device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def padded_tokens(scorer: ToxicityScorer, texts: list[str], batch_size: int, max_batch_tokens: int) -> int:
    """Token positions the forward passes of one call compute, padding included."""
    rows = [len(r) for t in texts for r in scorer.windows_of(t).rows]
    return sum(len(p) * max(rows[i] for i in p)
               for p in plan_passes(rows, max_tokens=max_batch_tokens, max_rows=batch_size))


def bench_mix(model: DetoxifyModel, args: argparse.Namespace, device: str) -> None:
    """One long comment among 31 short ones: passes of a fixed count of windows, then capped by padded tokens."""
    short = [t for t in make_comments(400, seed=2) if len(t) < 400][:args.call_size - 1]
    mix = short[:len(short) // 2] + [long_comment(args.long_chars)] + short[len(short) // 2:]
    unbounded = 1 << 30
    # before: passes of 16 windows whatever their length (the scorer's old default); after: the defaults
    setups = [
        ("31 short comments alone, after", short, args.mix_batch_size, args.max_batch_tokens),
        ("mix, 16 per pass (before)", mix, 16, unbounded),
        ("mix, token budget (after)", mix, args.mix_batch_size, args.max_batch_tokens),
    ]
    probe = ToxicityScorer(model, max_length=args.max_length)
    windows = probe.windows_of(mix[len(short) // 2])
    print(f"  mix: {len(short)} short comments of {min(map(len, short))}-{max(map(len, short))} chars and one of "
          f"{args.long_chars} chars ({windows.tokens} tokens, {len(windows.rows)} windows); "
          f"after: batch_size {args.mix_batch_size}, max_batch_tokens {args.max_batch_tokens}", flush=True)
    scorers = [ToxicityScorer(model, batch_size=batch_size, max_length=args.max_length, device=device,
                              max_batch_tokens=budget) for _, _, batch_size, budget in setups]
    # The setups take turns, one call each per round, so a machine whose load changes meanwhile (a shared one)
    # slows them alike; each keeps its best round.
    best = [float("inf")] * len(setups)
    for _ in range(args.repeats + 1):  # the first round warms up and counts too: min() drops it if it was slow
        for n, ((_, texts, _, _), scorer) in enumerate(zip(setups, scorers, strict=True)):
            best[n] = min(best[n], timed(scorer, texts, 1, device, warm_up=False))
    for (title, texts, batch_size, budget), scorer, seconds in zip(setups, scorers, best, strict=True):
        tokens = padded_tokens(scorer, texts, batch_size, budget)
        print(f"  {title:<34} {len(texts) / seconds:7.1f} comments/s  {1000 * seconds:7.0f} ms per call  "
              f"{tokens:6d} padded tokens", flush=True)
    print("  one comment of growing length (windows of the same forward pass):", flush=True)
    scorer = ToxicityScorer(model, max_length=args.max_length, device=device, max_batch_tokens=args.max_batch_tokens)
    for chars in (1000, 2500, 5000, 10000):
        text = long_comment(chars)
        seconds = timed(scorer, [text], args.repeats, device)
        read = scorer.windows_of(text)
        print(f"    {chars:>6} chars {read.tokens:>5} tokens {len(read.rows):>3} windows  {1000 * seconds:7.0f} ms "
              f"({1000 * seconds / len(read.rows):5.0f} ms per window)", flush=True)


def main() -> int:
    import torch

    defaults = ToxicitySettings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config_dir", nargs="?", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument("--comments", type=int, default=256)
    parser.add_argument("--batch-sizes", default="1,8,32", help="scorer batch_size values (texts per forward)")
    parser.add_argument("--call-size", type=int, default=StreamSettings().batch_size,
                        help="comments per score() call, as the worker reads them (stream.batch_size)")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch threads; 0 = torch default")
    parser.add_argument("--max-length", type=int, default=defaults.max_length)
    parser.add_argument("--max-batch-tokens", type=int, default=defaults.max_batch_tokens)
    parser.add_argument("--long-chars", type=int, default=5000, help="length of the mix's long comment")
    parser.add_argument("--mix-batch-size", type=int, default=defaults.batch_size,
                        help="batch_size (windows per pass, at most) for the mix section")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per mix setup; the best is shown")
    parser.add_argument("--mix-only", action="store_true", help="run the mix section only")
    parser.add_argument("--no-mix", action="store_true", help="skip the mix section")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA run even when a GPU is present")
    parser.add_argument("--quantize", action="store_true",
                        help="also run the int8-quantized model (scorers.toxicity.quantize) and compare its scores")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    texts = make_comments(args.comments)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.no_cuda else [])
    words = sum(len(t.split()) for t in texts) / len(texts)
    print(f"config: {args.config_dir}  comments: {len(texts)} (mean {words:.0f} words)  "
          f"calls of {args.call_size}  max_length: {args.max_length}  torch {torch.__version__}")
    for device in devices:
        model = build_random_model(args.config_dir, device)
        where = f"cpu, {torch.get_num_threads()} threads" if device == "cpu" else torch.cuda.get_device_name()
        print(f"{model.version} on {where}:")
        if not args.no_mix:
            bench_mix(model, args, device)
        if args.mix_only:
            continue
        bench(model, texts, batch_sizes, args.call_size, args.max_length, device, args.max_batch_tokens)
        if args.quantize and device == "cpu":
            small = quantize(model)
            print(f"{small.version} on {where}:")
            bench(small, texts, batch_sizes, args.call_size, args.max_length, device, args.max_batch_tokens)
            sample = texts[:args.call_size]
            a = ToxicityScorer(model, max_length=args.max_length).predict(sample)
            b = ToxicityScorer(small, max_length=args.max_length).predict(sample)
            diff = max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) for k in x)
            print(f"  int8 vs float scores on {len(sample)} comments: max |difference| {diff:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
