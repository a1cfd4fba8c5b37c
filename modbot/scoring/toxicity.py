"""Toxicity scores from a Detoxify model, batched and run off the event loop.

The model itself is read by modbot.scoring.detoxify_loading (a local checkpoint with no network call, or a named
Detoxify model); its public names are re-exported here so `from modbot.scoring.toxicity import ...` keeps working.

Inference runs in a dedicated single-thread executor: the event loop never waits on torch, and two batches never
run through the model at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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

__all__ = [
    "ARCHITECTURES",
    "LABEL_RENAMES",
    "DetoxifyModel",
    "ModelLoadError",
    "ToxicityScorer",
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
    `batch_size` texts go through the model at once, sorted by length so little compute goes to padding;
    texts longer than `max_length` tokens are truncated.
    """

    name = "toxicity"

    def __init__(self, model: DetoxifyModel, *, batch_size: int = 16, max_length: int = 256,
                 device: str = "cpu", executor: ThreadPoolExecutor | None = None) -> None:
        if batch_size <= 0 or max_length <= 1:
            raise ValueError("batch_size must be positive and max_length at least 2")
        self._model = model
        self._batch_size = batch_size
        # never more tokens than the model has positions for (the tiny test models have 128)
        self._max_length = min(max_length, _position_limit(model.model))
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
                   device=settings.device, executor=executor)

    @property
    def version(self) -> str:
        return self._model.version

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
            rows = await loop.run_in_executor(self._executor, self.predict, texts)
        except ScorerError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, tokenizers raise their own types
            raise ScorerError(f"toxicity model failed on a batch of {len(texts)}: {type(exc).__name__}: {exc}") \
                from exc
        return [ScorerOutput(labels=row) for row in rows]

    def predict(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Score texts synchronously (blocks; `score` runs this in the worker thread). One dict per text."""
        import torch

        if not texts:
            return []
        encoded = self._model.tokenizer(list(texts), truncation=True, max_length=self._max_length,
                                        padding=False)
        ids: list[list[int]] = encoded["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        results: list[dict[str, float]] = [{} for _ in texts]
        with torch.inference_mode():
            for start in range(0, len(order), self._batch_size):
                chunk = order[start:start + self._batch_size]
                logits = self._model.model(**self._pad([ids[i] for i in chunk]))[0]
                probs = torch.sigmoid(logits.float()).cpu().tolist()
                for i, row in zip(chunk, probs, strict=True):
                    results[i] = dict(zip(self._model.labels, (float(p) for p in row), strict=True))
        return results

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
