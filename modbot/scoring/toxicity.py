"""Toxicity scores from a Detoxify model, batched and run off the event loop.

Two ways to get a model:

* a local checkpoint (`checkpoint` + `config_dir`): the .ckpt is read here and the transformers model is built
  from the local config.json. detoxify 0.5.4's own loader is not used for this path because it looks the model
  name up on the Hugging Face hub even when given a local folder; this path makes no network call at all.
* a named model (`original`, `unbiased`, ...): detoxify downloads and caches it, so it needs a network (or a
  cache filled at image build time).

Inference runs in a dedicated single-thread executor: the event loop never waits on torch, and two batches never
run through the model at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import pickle
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modbot.config import ToxicitySettings
from modbot.errors import ScorerError
from modbot.models import Comment, ScorerOutput

log = logging.getLogger(__name__)

# Detoxify renames the Jigsaw column names so every model reports the same label names.
LABEL_RENAMES = {"toxic": "toxicity", "severe_toxic": "severe_toxicity", "identity_hate": "identity_attack"}

# The transformers classes Detoxify's checkpoints name, and nothing else: a checkpoint cannot make us
# instantiate an arbitrary attribute of the transformers package.
ARCHITECTURES = {
    "BertForSequenceClassification": "BertTokenizer",
    "AlbertForSequenceClassification": "AlbertTokenizer",
    "RobertaForSequenceClassification": "RobertaTokenizer",
    "XLMRobertaForSequenceClassification": "XLMRobertaTokenizer",
}

_OFFLINE_HINT = ("set scorers.toxicity.checkpoint and scorers.toxicity.config_dir to local files "
                 "(see docs/toxicity.md), or run with `--scorers patterns`")
# Buffers that transformers < 4.31 saved in the state dict and newer versions rebuild at construction.
_STALE_BUFFER = re.compile(r"(^|\.)embeddings\.position_ids$")
_MAX_KEYS_SHOWN = 8


class ModelLoadError(ScorerError):
    """The toxicity model could not be loaded; the message says which file and how to fix it."""


@dataclass(frozen=True)
class DetoxifyModel:
    """A loaded model: transformers model in eval mode, its tokenizer, and the output label names in order."""

    model: Any  # a transformers *ForSequenceClassification
    tokenizer: Any  # the matching transformers tokenizer
    labels: tuple[str, ...]
    version: str


def rename_labels(classes: Sequence[str]) -> tuple[str, ...]:
    """Detoxify's standard label names for a checkpoint's class list (toxic -> toxicity, ...)."""
    return tuple(LABEL_RENAMES.get(c, c) for c in classes)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (checkpoints are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_local_checkpoint(checkpoint: Path, config_dir: Path, *, name: str = "local",
                          device: str = "cpu") -> DetoxifyModel:
    """Load a Detoxify .ckpt with the config and tokenizer files in `config_dir`, without any network access.

    The checkpoint's own `num_classes` and class list decide the output labels; the local config.json supplies
    the architecture's dimensions. Every weight must match: missing or unexpected keys, or shapes that differ,
    raise ModelLoadError naming them.
    """
    import torch
    import transformers

    if not checkpoint.is_file():
        raise ModelLoadError(f"toxicity checkpoint {checkpoint} does not exist")
    if not (config_dir / "config.json").is_file():
        raise ModelLoadError(f"toxicity config_dir {config_dir} has no config.json "
                             "(it needs the HF config and tokenizer files of the checkpoint's base model)")
    loaded = _read_checkpoint(checkpoint, torch)
    arch = _checkpoint_arch(loaded, checkpoint)
    model_name = arch["model_name"]
    num_classes = int(arch["num_classes"])
    classes = _checkpoint_classes(loaded, arch, checkpoint)
    if len(classes) != num_classes:
        raise ModelLoadError(f"{checkpoint}: the checkpoint lists {len(classes)} classes but says num_classes="
                             f"{num_classes}; it is not a Detoxify checkpoint or it is damaged")
    model_class = getattr(transformers, model_name)
    raw_config = _read_config_json(config_dir)
    expected_type = model_class.config_class.model_type
    if raw_config.get("model_type") != expected_type:
        raise ModelLoadError(f"{config_dir / 'config.json'} is for model_type '{raw_config.get('model_type')}', "
                             f"but {checkpoint} is a {model_name} ('{expected_type}'); use the config and "
                             "tokenizer files of the checkpoint's base model")
    declared = len(raw_config["id2label"]) if "id2label" in raw_config else raw_config.get("num_labels")
    if declared is not None and declared != num_classes:
        log.warning("toxicity: %s declares %s labels, the checkpoint has %d; using the checkpoint's",
                    config_dir / "config.json", declared, num_classes)
    # Detoxify passes num_labels=num_classes too; a base-model config.json (bert-base-uncased's has 2 labels)
    # is therefore fine, and the checkpoint stays the authority on how many outputs there are.
    try:
        config = model_class.config_class.from_pretrained(str(config_dir), local_files_only=True,
                                                          num_labels=num_classes)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {config_dir / 'config.json'}: {exc}") from exc
    model = model_class(config)
    _load_weights_strict(model, _clean_state_dict(loaded["state_dict"]), checkpoint)
    try:
        model.to(device)
    except (RuntimeError, AssertionError) as exc:  # torch asserts when it was built without CUDA
        raise ModelLoadError(f"scorers.toxicity.device '{device}' cannot be used: {exc}") from exc
    model.eval()
    tokenizer = _load_tokenizer(arch.get("tokenizer_name") or ARCHITECTURES[model_name], config_dir, transformers)
    if len(tokenizer) > config.vocab_size:
        raise ModelLoadError(f"the tokenizer in {config_dir} has {len(tokenizer)} tokens but the model has "
                             f"{config.vocab_size} embeddings: the folder holds another model's tokenizer")
    version = f"detoxify:{name}:{file_sha256(checkpoint)[:12]}"
    return DetoxifyModel(model=model, tokenizer=tokenizer, labels=rename_labels(classes), version=version)


def load_named_model(name: str, device: str = "cpu") -> DetoxifyModel:
    """Load a published Detoxify model by name through detoxify itself (downloads on first use, then cached)."""
    try:
        from detoxify import Detoxify

        # Download progress goes to stderr: stdout belongs to the command (`modbot check --json`).
        with contextlib.redirect_stdout(sys.stderr):
            detox = Detoxify(name, device=device)
    except KeyError as exc:
        raise ModelLoadError(f"unknown Detoxify model '{name}'") from exc
    except Exception as exc:  # noqa: BLE001 - download, hub and cache failures come in many types
        raise ModelLoadError(f"could not load the Detoxify model '{name}' (it is downloaded on first use and "
                             f"this needs a network): {type(exc).__name__}: {exc}. Fix: {_OFFLINE_HINT}") from exc
    detox.model.eval()
    return DetoxifyModel(model=detox.model, tokenizer=detox.tokenizer, labels=tuple(detox.class_names),
                         version=f"detoxify:{name}")


def load_model(settings: ToxicitySettings) -> DetoxifyModel:
    """The model the settings name: the local checkpoint when one is set, else the named Detoxify model;
    int8-quantized when `quantize` is set."""
    if settings.checkpoint is not None:
        if settings.config_dir is None:
            raise ModelLoadError("scorers.toxicity.checkpoint needs scorers.toxicity.config_dir too")
        loaded = load_local_checkpoint(settings.checkpoint, settings.config_dir, name=settings.model,
                                       device=settings.device)
    else:
        loaded = load_named_model(settings.model, settings.device)
    return quantize(loaded) if settings.quantize else loaded


def quantize(loaded: DetoxifyModel) -> DetoxifyModel:
    """Dynamic int8 quantization of the Linear layers (CPU only): about twice the throughput on CPU, scores
    within about 0.01 of the float model (measured on Detoxify-shaped models; see docs/toxicity.md)."""
    import torch

    if next(loaded.model.parameters()).device.type != "cpu":
        raise ModelLoadError("scorers.toxicity.quantize works on the CPU only; set device: cpu or quantize: false")
    with warnings.catch_warnings():
        # torch marks its eager-mode quantization API as deprecated in favour of torchao; it still works and
        # needs no extra package.
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            loaded.model, {torch.nn.Linear}, dtype=torch.qint8)
    return DetoxifyModel(model=model, tokenizer=loaded.tokenizer, labels=loaded.labels,
                         version=loaded.version + "+int8")


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


def _read_checkpoint(path: Path, torch: Any) -> Mapping[str, Any]:
    try:
        # weights_only refuses pickled code; a Detoxify checkpoint is plain dicts, strings and tensors.
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(f"{path} holds more than tensors and plain data, so it is not loaded "
                             f"(torch.load weights_only): {exc}") from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable torch checkpoint (truncated or damaged?): {exc}") from exc
    if not isinstance(loaded, Mapping) or "config" not in loaded or "state_dict" not in loaded:
        raise ModelLoadError(f"{path} is not a Detoxify checkpoint: it needs the keys 'config' and 'state_dict'")
    return loaded


def _checkpoint_arch(loaded: Mapping[str, Any], path: Path) -> dict[str, Any]:
    try:
        arch = dict(loaded["config"]["arch"]["args"])
        model_name = arch["model_name"]
        int(arch["num_classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a Detoxify checkpoint: config.arch.args (model_name, num_classes) "
                             f"is missing or wrong ({exc!r})") from exc
    if model_name not in ARCHITECTURES:
        raise ModelLoadError(f"{path} names model class '{model_name}'; supported: {', '.join(ARCHITECTURES)}")
    return arch


def _checkpoint_classes(loaded: Mapping[str, Any], arch: Mapping[str, Any], path: Path) -> list[str]:
    """The output names in order: dataset.args.classes in released checkpoints; newer training configs keep
    them in arch.args (classes, then identity_classes)."""
    dataset_args = loaded["config"].get("dataset", {}).get("args", {})
    classes = dataset_args.get("classes") if isinstance(dataset_args, Mapping) else None
    if classes is None and "classes" in arch:
        classes = list(arch["classes"]) + list(arch.get("identity_classes") or [])
    if not isinstance(classes, list | tuple) or not all(isinstance(c, str) for c in classes):
        raise ModelLoadError(f"{path} is not a Detoxify checkpoint: config.dataset.args.classes is missing")
    return list(classes)


def _read_config_json(config_dir: Path) -> dict[str, Any]:
    import json

    path = config_dir / "config.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return raw


def _clean_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """Undo two harmless differences: a Lightning `model.` prefix, and buffers old transformers saved."""
    keys = list(state)
    strip = bool(keys) and all(k.startswith("model.") for k in keys)
    cleaned = {}
    for key, value in state.items():
        name = key[len("model."):] if strip else key
        if _STALE_BUFFER.search(name):
            continue
        cleaned[name] = value
    return cleaned


def _load_weights_strict(model: Any, state: dict[str, Any], path: Path) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                   for k in sorted(set(expected) & set(state)) if tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if items:
            shown = ", ".join(items[:_MAX_KEYS_SHOWN]) + (f" (+{len(items) - _MAX_KEYS_SHOWN} more)"
                                                         if len(items) > _MAX_KEYS_SHOWN else "")
            problems.append(f"{len(items)} {title} weight(s): {shown}")
    if problems:
        raise ModelLoadError(f"{path} does not fit {type(model).__name__} built from its config_dir: "
                             + "; ".join(problems)
                             + ". Fix: use the config.json of the checkpoint's base model (same sizes and vocab)")
    model.load_state_dict(state, strict=True)


def _load_tokenizer(tokenizer_name: str, config_dir: Path, transformers: Any) -> Any:
    # A checkpoint may name the "...Fast" class (XLMRobertaTokenizerFast, ...); transformers 5 keeps those names
    # as aliases of the same tokenizers-backed classes, so they are as safe to accept as the plain ones.
    if tokenizer_name.removesuffix("Fast") not in ARCHITECTURES.values():
        raise ModelLoadError(f"unsupported tokenizer class '{tokenizer_name}'")
    try:
        return getattr(transformers, tokenizer_name).from_pretrained(str(config_dir), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - tokenizer loaders raise OSError, ValueError, ImportError, ...
        raise ModelLoadError(f"cannot load the {tokenizer_name} tokenizer from {config_dir}: "
                             f"{type(exc).__name__}: {exc} (ALBERT and XLM-R need the sentencepiece and "
                             "protobuf packages; BERT needs vocab.txt, RoBERTa vocab.json and merges.txt)") from exc
