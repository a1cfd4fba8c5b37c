"""Long comments read whole in windows, and forward passes capped by padded tokens, on tiny real checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from modbot.config import load_settings
from modbot.errors import ConfigError
from modbot.models import Author, Comment
from modbot.scoring.detoxify_loading import DetoxifyModel
from modbot.scoring.tiny_checkpoint import build_tiny_checkpoint
from modbot.scoring.toxicity import ToxicityScorer, load_local_checkpoint

HARMLESS = "the mayor said the new bridge will open next spring " * 35  # 350 tokens: each word is one
TOXIC_TEXT = ("you are an idiot and nobody wants to read your comments what a stupid take from a clueless writer "
              "people like you should be banned from this site")
TOXIC_WORDS = TOXIC_TEXT.split(" ")
SHORT = ["thanks", "great photos", "ok", "could the paper publish the full budget figures please",
         "i disagree with the author but the reporting is fair", "stop posting this nonsense"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DetoxifyModel]:
    out = tmp_path_factory.mktemp("tiny")
    return {arch: load_local_checkpoint(*build_tiny_checkpoint(out, arch)) for arch in ("bert", "roberta")}


def content_tokens(model: DetoxifyModel, text: str) -> list[int]:
    ids: list[int] = model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    return ids


def old_truncating_scores(model: DetoxifyModel, text: str) -> dict[str, float]:
    """What the scorer computed before windows: the first 128 tokens (the tiny model's positions), the rest cut."""
    encoded = model.tokenizer([text], truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        logits = model.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])[0]
    return dict(zip(model.labels, torch.sigmoid(logits.float())[0].tolist(), strict=True))


def record_passes(model: DetoxifyModel) -> tuple[list[tuple[int, int]], Any]:
    """(rows, padded width) of every forward pass through the model, and the hook handle to remove."""
    shapes: list[tuple[int, int]] = []

    def hook(_module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        rows, width = kwargs["input_ids"].shape
        shapes.append((int(rows), int(width)))

    return shapes, model.model.register_forward_pre_hook(hook, with_kwargs=True)


def test_a_toxic_passage_after_300_harmless_tokens_is_read(models: dict[str, DetoxifyModel]) -> None:
    model = models["bert"]
    scorer = ToxicityScorer(model)  # max_length 256 is capped at the tiny model's 128 positions: windows of 126
    passage = " ".join((TOXIC_WORDS * 10)[:126])  # exactly one window of content
    assert len(content_tokens(model, HARMLESS)) == 350 and len(content_tokens(model, passage)) == 126
    long_text = HARMLESS + passage

    alone = scorer.predict([passage])[0]
    whole = scorer.predict([long_text])[0]
    old = old_truncating_scores(model, long_text)
    # The label the passage moves most; the old path, cut after 126 tokens of council and budget, never saw it.
    label = max(alone, key=lambda k: alone[k] - old[k])
    assert alone[label] - old[label] > 0.05, (alone, old)
    # Read in windows, the comment scores at least what the passage alone scores, on every label: the last
    # window is exactly the passage, and each label is the maximum over the windows.
    for k in alone:
        assert whole[k] >= alone[k] - 1e-5, (k, whole[k], alone[k])
    assert whole[label] > old[label] + 0.05
    # With one window the scorer reads as the old one did: the passage is missed.
    truncating = ToxicityScorer(model, max_windows=1).predict([long_text])[0]
    assert max(abs(truncating[k] - old[k]) for k in old) < 1e-5
    # The two readings score long comments differently, so cached scores carry which one made them.
    assert ToxicityScorer(model, max_windows=1).version != scorer.version


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_each_label_is_the_maximum_over_the_windows(models: dict[str, DetoxifyModel], arch: str) -> None:
    # RoBERTa reads bytes (every character a token) and wraps windows in <s> ... </s> instead of [CLS] ... [SEP]
    model = models[arch]
    scorer = ToxicityScorer(model, max_windows=64)  # RoBERTa's bytes make this text 35 windows long
    text = HARMLESS + " ".join(TOXIC_WORDS * 8) + " great photos of the harbour festival this weekend" * 6
    ids = content_tokens(model, text)
    prediction = scorer.predict_windows([text])[0]
    assert prediction.tokens == len(ids) and prediction.windows == prediction.needed > 3
    assert prediction.unread == 0
    # score each window by hand, as its own text of 126 content tokens, then take the maximum per label
    step = 126 - 31
    starts = [*range(0, len(ids) - 126, step), len(ids) - 126]
    assert len(starts) == prediction.windows
    by_hand = []
    for start in starts:
        window = model.tokenizer.decode(ids[start:start + 126])
        assert content_tokens(model, window) == ids[start:start + 126]
        by_hand.append(scorer.predict([window])[0])
    for k in prediction.labels:
        assert abs(prediction.labels[k] - max(row[k] for row in by_hand)) < 1e-5


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_token_budget_batches_score_as_one_at_a_time_and_stay_within_budget(
        models: dict[str, DetoxifyModel], arch: str) -> None:
    model = models[arch]
    texts = [SHORT[i % len(SHORT)] + f" {i}" for i in range(31)]
    texts.insert(7, HARMLESS * 3)  # one long comment among 31 short ones: about ten windows of 128 tokens
    budget = 512
    batched = ToxicityScorer(model, max_batch_tokens=budget, batch_size=32)
    single = ToxicityScorer(model, batch_size=1)
    one_by_one = [single.predict([t])[0] for t in texts]
    shapes, handle = record_passes(model)
    try:
        got = batched.predict(texts)
    finally:
        handle.remove()
    for a, b in zip(got, one_by_one, strict=True):
        assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) < 1e-5
    assert all(rows * width <= budget for rows, width in shapes), shapes
    assert sum(rows for rows, _ in shapes) == 31 + batched.predict_windows([texts[7]])[0].windows
    # the short comments went together, not padded to the long one's 128 tokens
    assert all(width < 100 for rows, width in shapes if rows > budget // 128)


def test_a_window_larger_than_the_budget_goes_through_alone(models: dict[str, DetoxifyModel]) -> None:
    model = models["bert"]
    texts = ["thanks", HARMLESS, "great photos"]
    scorer = ToxicityScorer(model, max_batch_tokens=64)  # one 128-token window alone is over the budget
    shapes, handle = record_passes(model)
    try:
        got = scorer.predict(texts)
    finally:
        handle.remove()
    assert sorted(shapes) == [(1, 128), (1, 128), (1, 128), (1, 128), (2, 4)], shapes
    want = [ToxicityScorer(model, batch_size=1).predict([t])[0] for t in texts]
    for a, b in zip(got, want, strict=True):
        assert max(abs(a[k] - b[k]) for k in a) < 1e-5


async def test_max_windows_bounds_the_work_and_the_gap_is_logged(
        models: dict[str, DetoxifyModel], caplog: pytest.LogCaptureFixture) -> None:
    model = models["bert"]
    huge = "the mayor said the new bridge will open next spring " * 1000  # 10,000 tokens: 105 windows
    scorer = ToxicityScorer(model, max_windows=5)
    shapes, handle = record_passes(model)
    try:
        with caplog.at_level(logging.WARNING, logger="modbot.scoring.toxicity"):
            outputs = await scorer.score([Comment(id="c-long", text=huge, author=Author(id="a")),
                                          Comment(id="c-short", text="thanks", author=Author(id="a"))])
    finally:
        handle.remove()
        await scorer.close()
    assert len(outputs) == 2
    assert sum(rows for rows, _ in shapes) == 6  # five windows of the long one, no more, and the short one
    warned = [r for r in caplog.records if getattr(r, "comment_id", None) == "c-long"]
    assert len(warned) == 1 and not any(getattr(r, "comment_id", None) == "c-short" for r in caplog.records)
    record: Any = warned[0]
    assert (record.tokens, record.windows_needed, record.windows_read) == (10_000, 105, 5)
    assert record.tokens_unread == 10_000 - 5 * 126


def test_knobs_are_read_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "modbot.yaml"
    config.write_text("scorers:\n  toxicity:\n    max_windows: 4\n    max_batch_tokens: 1024\n")
    tox = load_settings(config).scorers.toxicity
    assert (tox.max_windows, tox.max_batch_tokens) == (4, 1024)
    config.write_text("scorers:\n  toxicity:\n    max_windows: 0\n")
    with pytest.raises(ConfigError, match="max_windows' must be more than zero"):
        load_settings(config)
