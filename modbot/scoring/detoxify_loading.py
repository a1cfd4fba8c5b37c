"""Reading a Detoxify model into memory: a local checkpoint without any network call, or a named model.

Two ways to get a model:

* a local checkpoint (`checkpoint` + `config_dir`): the .ckpt is read here and the transformers model is built
  from the local config.json. detoxify 0.5.4's own loader is not used for this path because it looks the model
  name up on the Hugging Face hub even when given a local folder; this path makes no network call at all.
* a named model (`original`, `unbiased`, ...): detoxify downloads and caches it, so it needs a network (or a
  cache filled at image build time).

modbot.scoring.toxicity runs the loaded model; it re-exports the public names here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import pickle
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modbot.config import ToxicitySettings
from modbot.errors import ScorerError

# The logger keeps the name it had before this module was split out of toxicity.py, so operators' log filters
# and level settings for "modbot.scoring.toxicity" still cover the loading warnings.
log = logging.getLogger("modbot.scoring.toxicity")

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
    precision: str = "float32"  # "int8": Linear layers in dynamic int8 (quantize()); "float16": halved (half())


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
    """The model the settings name: the local checkpoint when one is set, else the named Detoxify model; in
    reduced precision unless `quantize: false` (int8 on the CPU, float16 on a CUDA GPU: `precision_for`)."""
    if settings.checkpoint is not None:
        if settings.config_dir is None:
            raise ModelLoadError("scorers.toxicity.checkpoint needs scorers.toxicity.config_dir too")
        loaded = load_local_checkpoint(settings.checkpoint, settings.config_dir, name=settings.model,
                                       device=settings.device)
    else:
        loaded = load_named_model(settings.model, settings.device)
    precision = precision_for(settings)
    # in place: the float32 weights are dropped as the smaller ones are made, not kept beside a full copy
    if precision == "int8":
        return quantize(loaded, inplace=True)
    if precision == "float16":
        return half(loaded)
    return loaded


def precision_for(settings: ToxicitySettings) -> str:
    """How the model computes. With `quantize` (the default): int8 on the CPU, where dynamic quantization is a
    CPU kernel, and float16 on a CUDA GPU, whose tensor cores run it at several times float32's speed. Anything
    else (`quantize: false`, mps) runs float32 as loaded."""
    if not settings.quantize:
        return "float32"
    if settings.device == "cpu":
        return "int8"
    return "float16" if settings.device.startswith("cuda") else "float32"


def quantize(loaded: DetoxifyModel, *, inplace: bool = False) -> DetoxifyModel:
    """Dynamic int8 quantization of the Linear layers (CPU only): 1.5-2x the throughput on CPU, scores within
    about 0.01 of the float model (measured on Detoxify-shaped models: docs/performance.md; `modbot check
    --explain` shows the difference for one text). `inplace` converts `loaded`'s own model (which is then no
    longer float) instead of a copy: lower peak memory when the float model is not needed afterwards."""
    import torch

    if next(loaded.model.parameters()).device.type != "cpu":
        raise ModelLoadError("scorers.toxicity.quantize works on the CPU only; set device: cpu or quantize: false")
    with warnings.catch_warnings():
        # torch marks its eager-mode quantization API as deprecated in favour of torchao; it still works and
        # needs no extra package.
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            loaded.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=inplace)
    return DetoxifyModel(model=model, tokenizer=loaded.tokenizer, labels=loaded.labels,
                         version=loaded.version + "+int8", precision="int8")


def half(loaded: DetoxifyModel) -> DetoxifyModel:
    """The model in float16, converted in place (`loaded`'s own model is halved). Meant for a GPU; on the CPU it
    works too but is slower than float32. Token ids and the attention mask stay integers (the model builds its
    float mask in its own dtype), and the scorer turns the logits back into float32 before the sigmoid."""
    return DetoxifyModel(model=loaded.model.half(), tokenizer=loaded.tokenizer, labels=loaded.labels,
                         version=loaded.version + "+fp16", precision="float16")


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
