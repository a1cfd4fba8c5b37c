"""ONNX Runtime against torch for the toxicity model, side by side (issue 11: "consider ONNX Runtime if it beats
torch's dynamic int8 here, measured side by side").

    pip install onnxruntime onnx        # bench only: modbot itself does not use them
    python bench/bench_onnx.py [--rounds 6] [--comments 500] [--threads 2]

One process, the same model and inputs for all four:
- torch fp32, and torch with dynamic int8 on the Linear layers (modbot's CPU default, `quantize: true`);
- ONNX Runtime on the same model exported to ONNX (opset 17, dynamic batch and sequence axes), in fp32 and
  after `onnxruntime.quantization.quantize_dynamic` (int8 weights, QInt8).
The model is a full-size BERT in Detoxify `original`'s shape with random weights (../shared/models'
bert-base-uncased config and tokenizer, built by bench_daemon.build_checkpoint), the inputs HateXplain comments
(../shared/data), tokenized once, sorted by token length, in batches of 32 (the raw best of bench_daemon.py).
The four take turns round by round, each round starting with the next one, so a shared machine's changing load
slows them alike; the output gives the median comments/s, each round's figures, the ratio to torch int8 within
each round (paired), and the largest score difference from torch fp32.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_daemon import DEFAULT_COMMENTS, DEFAULT_CONFIG_DIR, build_checkpoint, read_comments  # noqa: E402

from modbot.scoring.detoxify_loading import load_local_checkpoint, quantize  # noqa: E402

BATCH = 32
Batches = list[tuple[list[int], Any, Any]]


def batches_of(tokenizer: Any, texts: Sequence[str], max_length: int) -> Batches:
    """Every text tokenized once, sorted by length, padded per batch of 32 (numpy int64, as both runtimes take)."""
    import numpy as np

    ids = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: Batches = []
    for at in range(0, len(order), BATCH):
        chunk = order[at:at + BATCH]
        width = max(len(ids[i]) for i in chunk)
        input_ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros((len(chunk), width), np.int64)
        for row, i in enumerate(chunk):
            input_ids[row, :len(ids[i])] = ids[i]
            mask[row, :len(ids[i])] = 1
        out.append((chunk, input_ids, mask))
    return out


def export(model: Any, example: Batches, path: Path) -> None:
    """The model as ONNX, from a copy: tracing for export changes the model it is given."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    _, input_ids, mask = example[0]
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "logits": {0: "batch"}}
    torch.onnx.export(Logits(copy.deepcopy(model)).eval(), (torch.from_numpy(input_ids), torch.from_numpy(mask)),
                      str(path), input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      opset_version=17, dynamic_axes=axes, dynamo=False)


def torch_runner(model: Any, batches: Batches, n: int) -> Callable[[], list[list[float]]]:
    import torch

    def run() -> list[list[float]]:
        out: list[list[float]] = [[] for _ in range(n)]
        with torch.inference_mode():
            for chunk, input_ids, mask in batches:
                logits = model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask))[0]
                for i, row in zip(chunk, torch.sigmoid(logits).tolist(), strict=True):
                    out[i] = row
        return out
    return run


def ort_runner(path: Path, threads: int, batches: Batches, n: int) -> Callable[[], list[list[float]]]:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run() -> list[list[float]]:
        out: list[list[float]] = [[] for _ in range(n)]
        for chunk, input_ids, mask in batches:
            logits = session.run(["logits"], {"input_ids": input_ids, "attention_mask": mask})[0]
            for i, row in zip(chunk, (1 / (1 + np.exp(-logits))).tolist(), strict=True):
                out[i] = row
        return out
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument("--data", type=Path, default=DEFAULT_COMMENTS)
    parser.add_argument("--comments", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "modbot-bench-onnx")
    args = parser.parse_args()
    try:
        import onnxruntime  # noqa: F401
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        print("needs onnxruntime and onnx: pip install onnxruntime onnx (bench only)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    checkpoint = build_checkpoint(args.config_dir, args.work / "bert-random.ckpt")
    fp32 = load_local_checkpoint(checkpoint, args.config_dir)
    int8 = quantize(load_local_checkpoint(checkpoint, args.config_dir))
    texts = read_comments(args.data)[:args.comments]
    batches = batches_of(fp32.tokenizer, texts, args.max_length)
    onnx32, onnx8 = args.work / "bert-fp32.onnx", args.work / "bert-int8.onnx"
    export(fp32.model, batches, onnx32)
    quantize_dynamic(str(onnx32), str(onnx8), weight_type=QuantType.QInt8)
    n = len(texts)
    runs = {"torch fp32": torch_runner(fp32.model, batches, n),
            "torch int8 (modbot's CPU default)": torch_runner(int8.model, batches, n),
            "ONNX Runtime fp32": ort_runner(onnx32, args.threads, batches, n),
            "ONNX Runtime int8 (quantize_dynamic)": ort_runner(onnx8, args.threads, batches, n)}
    scores = {name: run() for name, run in runs.items()}  # warm-up, and the scores compared below
    names = list(runs)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            runs[name]()
            rates[name].append(n / (time.perf_counter() - start))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()), flush=True)
    base = "torch int8 (modbot's CPU default)"
    print(f"{n} comments, batches of {BATCH} by token length, {args.threads} threads, {args.rounds} rounds")
    for name in names:
        paired = [a / b for a, b in zip(rates[name], rates[base], strict=True)]
        diff = max(abs(x - y) for p, q in zip(scores[name], scores["torch fp32"], strict=True)
                   for x, y in zip(p, q, strict=True))
        print(f"  {name:38s} {statistics.median(rates[name]):6.1f} comments/s   x torch int8 per round: "
              f"median {statistics.median(paired):.2f} ({min(paired):.2f}-{max(paired):.2f})   "
              f"largest difference from torch fp32 {diff:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
