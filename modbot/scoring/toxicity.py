"""Toxicity scores from a Detoxify model, batched and run off the event loop.

The model itself is read by modbot.scoring.detoxify_loading (a local checkpoint with no network call, or a named
Detoxify model); its public names are re-exported here so `from modbot.scoring.toxicity import ...` keeps working.

Inference runs in a dedicated single-thread executor: the event loop never waits on torch, and two batches never
run through the model at the same time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modbot.config import ToxicitySettings
from modbot.errors import ScorerError
from modbot.models import Comment, ScorerOutput
from modbot.scoring.detoxify_loading import (
    ARCHITECTURES,
    LABEL_RENAMES,
    DetoxifyModel,
    ModelLoadError,
    file_sha256,
    load_local_checkpoint,
    load_model,
    load_named_model,
    quantize,
    rename_labels,
)
from modbot.scoring.token_windows import TextWindows, plan_passes, split_windows

log = logging.getLogger(__name__)

__all__ = [
    "ARCHITECTURES",
    "LABEL_RENAMES",
    "DetoxifyModel",
    "ModelLoadError",
    "ToxicityScorer",
    "WindowedPrediction",
    "file_sha256",
    "load_local_checkpoint",
    "load_model",
    "load_named_model",
    "quantize",
    "rename_labels",
]


class ToxicityScorer:
    """Scores comments with a Detoxify model; labels are sigmoid probabilities in [0, 1].

    Build it with `await ToxicityScorer.load(settings)`, which loads the model in the scorer's own worker thread.
    A comment longer than `max_length` tokens is read in overlapping windows (modbot.scoring.token_windows), at
    most `max_windows` of them, and each label is the maximum over its windows. The windows of every comment in
    a call are sorted by length and go through the model in passes of at most `max_batch_tokens` padded tokens
    and `batch_size` windows, so one long comment does not pad many short ones.
    """

    name = "toxicity"

    def __init__(self, model: DetoxifyModel, *, batch_size: int = 32, max_length: int = 256, max_windows: int = 32,
                 max_batch_tokens: int = 4096, device: str = "cpu", executor: ThreadPoolExecutor | None = None) -> None:
        if batch_size <= 0 or max_windows <= 0 or max_batch_tokens <= 0:
            raise ValueError("batch_size, max_windows and max_batch_tokens must be positive")
        self._model = model
        self._batch_size = batch_size
        self._max_windows = max_windows
        self._max_batch_tokens = max_batch_tokens
        self._prefix, self._suffix = _special_tokens(model.tokenizer)
        # never more tokens than the model has positions for (the tiny test models have 128)
        self._max_length = min(max_length, _position_limit(model.model))
        if self._max_length <= len(self._prefix) + len(self._suffix):
            raise ValueError(f"max_length {max_length} leaves no room for text between the special tokens")
        self._device = device
        self._executor = executor or _new_executor()

    @classmethod
    async def load(cls, settings: ToxicitySettings) -> ToxicityScorer:
        """Load the model named by `settings` without blocking the event loop."""
        executor = _new_executor()
        loop = asyncio.get_running_loop()
        try:
            model = await loop.run_in_executor(executor, _load_in_worker, settings)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(model, batch_size=settings.batch_size, max_length=settings.max_length,
                   max_windows=settings.max_windows, max_batch_tokens=settings.max_batch_tokens,
                   device=settings.device, executor=executor)

    @property
    def version(self) -> str:
        """The model's version, plus how text is read: a long comment read in windows scores differently from
        the same comment truncated (`max_windows: 1`), so cached scores of one must not stand for the other."""
        if self._max_windows == 1:
            return self._model.version
        return f"{self._model.version}@windows{self._max_length}"

    @property
    def precision(self) -> str:
        """How the model computes: "int8" (the default on the CPU), "float16" (the default on a CUDA GPU) or
        "float32" (`quantize: false`)."""
        return self._model.precision

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names every output carries, in the model's order."""
        return self._model.labels

    async def score(self, batch: Sequence[Comment]) -> list[ScorerOutput]:
        """One ScorerOutput per comment, in order; raises ScorerError when the model fails."""
        if not batch:
            return []
        texts = [c.text for c in batch]
        loop = asyncio.get_running_loop()
        try:
            predictions = await loop.run_in_executor(self._executor, self.predict_windows, texts)
        except ScorerError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, tokenizers raise their own types
            raise ScorerError(f"toxicity model failed on a batch of {len(texts)}: {type(exc).__name__}: {exc}") \
                from exc
        for comment, prediction in zip(batch, predictions, strict=True):
            if prediction.unread:
                log.warning("toxicity: comment longer than max_windows windows; tokens between the windows "
                            "read were not scored",
                            extra={"comment_id": comment.id, "tokens": prediction.tokens,
                                   "windows_needed": prediction.needed, "windows_read": prediction.windows,
                                   "tokens_unread": prediction.unread})
        return [ScorerOutput(labels=p.labels) for p in predictions]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts synchronously (blocks; `score` runs this in the worker thread). One dict per text."""
        return [dict(p.labels) for p in self.predict_windows(texts)]

    def predict_windows(self, texts: Sequence[str]) -> list[WindowedPrediction]:
        """Like `predict`, with how each text was read: its windows and the tokens they left unread."""
        import torch

        if not texts:
            return []
        split = self._split(texts)
        owners = [n for n, text_windows in enumerate(split) for _ in text_windows.rows]
        rows = [row for text_windows in split for row in text_windows.rows]
        best: list[list[float] | None] = [None] * len(texts)
        with torch.inference_mode():
            for chunk in plan_passes([len(r) for r in rows], max_tokens=self._max_batch_tokens,
                                     max_rows=self._batch_size):
                logits = self._model.model(**self._pad([list(rows[i]) for i in chunk]))[0]
                probs = torch.sigmoid(logits.float()).cpu().tolist()
                for i, row_probs in zip(chunk, probs, strict=True):
                    # a single toxic passage makes the comment toxic, however much harmless text surrounds it
                    seen = best[owners[i]]
                    best[owners[i]] = row_probs if seen is None else [max(a, b) for a, b in zip(seen, row_probs,
                                                                                                 strict=True)]
        return [WindowedPrediction(labels=dict(zip(self._model.labels, (float(p) for p in probs), strict=True)),
                                   tokens=w.tokens, windows=len(w.rows), needed=w.needed, unread=w.unread)
                for probs, w in zip(_all_scored(best), split, strict=True)]

    def windows_of(self, text: str) -> TextWindows:
        """The windows the scorer cuts `text` into (for benchmarks and checks; scoring does this by itself)."""
        return self._split([text])[0]

    def _split(self, texts: Sequence[str]) -> list[TextWindows]:
        # No truncation: the windows decide what the model reads. verbose=False: a text longer than the model
        # is expected here, transformers' warning about it is not.
        encoded = self._model.tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False,
                                        verbose=False)
        content_size = self._max_length - len(self._prefix) - len(self._suffix)
        return [split_windows(ids, size=content_size, max_windows=self._max_windows, prefix=self._prefix,
                              suffix=self._suffix) for ids in encoded["input_ids"]]

    async def close(self) -> None:
        """Stop the worker thread once the batch in hand (if any) is done."""
        await asyncio.to_thread(self._executor.shutdown, True)

    def _pad(self, rows: list[list[int]]) -> dict[str, Any]:
        """Right-pad token id lists to the longest in the chunk, with the attention mask the model needs."""
        import torch

        width = max(len(r) for r in rows)
        pad_id = self._model.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for n, row in enumerate(rows):
            input_ids[n, :len(row)] = torch.tensor(row, dtype=torch.long)
            mask[n, :len(row)] = 1
        return {"input_ids": input_ids.to(self._device), "attention_mask": mask.to(self._device)}


@dataclass(frozen=True)
class WindowedPrediction:
    """One text's scores (each label the maximum over its windows) and how the text was read."""

    labels: Mapping[str, float]
    tokens: int  # content tokens in the text
    windows: int  # windows scored
    needed: int  # windows it would take to read every token
    unread: int  # tokens no scored window covered (max_windows reached)


def _all_scored(best: list[list[float] | None]) -> list[list[float]]:
    """Every text has at least one window (an empty text is its special tokens alone), so none is missing."""
    missing = [n for n, probs in enumerate(best) if probs is None]
    if missing:
        raise ScorerError(f"toxicity: no window was scored for text(s) {missing}")
    return [probs for probs in best if probs is not None]


def _special_tokens(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The ids the tokenizer puts before and after a single text ([CLS] ... [SEP], <s> ... </s>), found by
    tokenizing a probe with and without them: transformers 5's tokenizers no longer expose a method for it."""
    probe = "a b"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start:start + len(bare)] == bare:
            return tuple(full[:start]), tuple(full[start + len(bare):])
    raise ScorerError(f"toxicity: the tokenizer {type(tokenizer).__name__} does not wrap a text in special "
                      f"tokens the windows can copy ({probe!r}: {bare} alone, {full} with special tokens)")


def _position_limit(model: Any) -> int:
    """How many tokens the model can take: RoBERTa-style models start positions after the padding index."""
    config = model.config
    limit = int(getattr(config, "max_position_embeddings", 512))
    if config.model_type in ("roberta", "xlm-roberta"):
        limit -= int(config.pad_token_id or 0) + 1
    return limit


def _new_executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="modbot-toxicity")


def _load_in_worker(settings: ToxicitySettings) -> DetoxifyModel:
    import torch

    if settings.threads > 0:
        # Process-wide in torch; set here so it is in place before the first forward pass.
        torch.set_num_threads(settings.threads)
    return load_model(settings)
