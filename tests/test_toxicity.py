"""The Detoxify path: tiny checkpoints in Detoxify's format, loaded by the production code with no network."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from modbot.commands import make_test_checkpoint
from modbot.config import ToxicitySettings
from modbot.errors import ScorerError
from modbot.models import Author, Comment, ScorerOutput
from modbot.scoring.tiny_checkpoint import build_tiny_checkpoint
from modbot.scoring.toxicity import (
    ModelLoadError,
    ToxicityScorer,
    load_local_checkpoint,
    load_named_model,
)

DETOXIFY_LABELS = {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
UNBIASED_LABELS = DETOXIFY_LABELS | {"sexual_explicit", "male", "female", "homosexual_gay_or_lesbian", "christian",
                                     "jewish", "muslim", "black", "white", "psychiatric_or_mental_illness"}
MULTILINGUAL_LABELS = DETOXIFY_LABELS | {"sexual_explicit"}
LABELS = {"bert": DETOXIFY_LABELS, "albert": DETOXIFY_LABELS, "roberta": UNBIASED_LABELS,
          "xlm-roberta": MULTILINGUAL_LABELS}
ARCHS = tuple(LABELS)
TEXTS = [
    "You are an idiot!",
    "thanks",
    "",
    "The council approved the budget, but the bridge will open late. " * 4,
    "ok",
    "Stop posting this nonsense on every single story, nobody reads it",
    "Ünïcödé and émojis 🙂 are tokenized too",
    "great photos",
    "could the paper publish the full budget figures please",
    "Спасибо за статью, но автор опять ошибается",
    "Danke, aber das ist völliger Unsinn",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("tiny")
    return {arch: build_tiny_checkpoint(out, arch) for arch in ARCHS}


class NetworkSwitchedOff(Exception):
    """Not an OSError on purpose: HTTP clients would retry those with backoff, this stops them at once."""


class NetworkAttempts:
    """Records (and refuses) every DNS lookup and every IP connection made while installed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def refuse(self, what: str) -> None:
        self.calls.append(what)
        raise NetworkSwitchedOff(f"network is switched off in this test: {what}")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkAttempts]:
    attempts = NetworkAttempts()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.refuse(f"connect {address}")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.refuse(f"connect_ex {address}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.refuse(f"getaddrinfo {a[:2]}"))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: attempts.refuse(f"create_connection {a[:1]}"))
    yield attempts


def settings_for(paths: tuple[Path, Path], **kw: Any) -> ToxicitySettings:
    ckpt, config_dir = paths
    return ToxicitySettings(model="tiny", checkpoint=ckpt, config_dir=config_dir, **kw)


def comments(texts: list[str]) -> list[Comment]:
    return [Comment(id=str(i), text=t, author=Author(id="a")) for i, t in enumerate(texts)]


async def score_both(first: ToxicityScorer, second: ToxicityScorer, texts: list[str]
                     ) -> tuple[list[ScorerOutput], list[ScorerOutput]]:
    """Both scorers' outputs for the same texts; both are closed afterwards."""
    try:
        return await first.score(comments(texts)), await second.score(comments(texts))
    finally:
        await first.close()
        await second.close()


def largest_difference(a: list[ScorerOutput], b: list[ScorerOutput]) -> float:
    """The largest |score difference| over every text and label (the label sets must be equal)."""
    assert all(x.labels.keys() == y.labels.keys() for x, y in zip(a, b, strict=True))
    return max(abs(x.labels[k] - y.labels[k]) for x, y in zip(a, b, strict=True) for k in x.labels)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("hub_offline", [True, False], ids=["HF_HUB_OFFLINE=1", "hub-env-unset"])
async def test_local_checkpoint_loads_and_scores_without_any_network_call(
        tiny: dict[str, tuple[Path, Path]], no_network: NetworkAttempts, monkeypatch: pytest.MonkeyPatch,
        arch: str, hub_offline: bool) -> None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    if hub_offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    scorer = await ToxicityScorer.load(settings_for(tiny[arch], batch_size=4))
    try:
        outputs = await scorer.score(comments(TEXTS))
    finally:
        await scorer.close()
    assert no_network.calls == []
    assert len(outputs) == len(TEXTS)
    for out in outputs:
        assert set(out.labels) == LABELS[arch]
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in out.labels.values())
        assert out.matches == ()
    assert scorer.name == "toxicity"
    digest, _, precision = scorer.version.split(":")[-1].split("@")[0].partition("+")
    assert scorer.version.startswith("detoxify:tiny:") and len(digest) == 12 and precision == "int8"  # the default


def test_the_network_guard_sees_detoxifys_own_loader_reach_for_the_hub(
        tiny: dict[str, tuple[Path, Path]], no_network: NetworkAttempts, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    # Why we bypass detoxify for local files: given the same files, it still asks the hub for "bert-base-uncased".
    from detoxify import Detoxify

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache, whatever this machine holds
    ckpt, config_dir = tiny["bert"]
    with pytest.raises(OSError, match="Can't load the configuration of 'bert-base-uncased'"):
        Detoxify(checkpoint=str(ckpt), huggingface_config_path=str(config_dir))
    assert no_network.calls, "the guard recorded nothing, so it could not have caught our loader either"


@pytest.mark.parametrize("arch", ["bert", "albert"])
def test_scores_are_deterministic_across_loads(tiny: dict[str, tuple[Path, Path]], arch: str) -> None:
    first = ToxicityScorer(load_local_checkpoint(*tiny[arch])).predict(TEXTS)
    second = ToxicityScorer(load_local_checkpoint(*tiny[arch])).predict(TEXTS)
    assert first == second
    # random weights, yet different texts get different scores: the tests below can see a mix-up
    assert len({round(row["toxicity"], 6) for row in first}) > len(TEXTS) // 2


@pytest.mark.parametrize("arch", ARCHS)
def test_batching_and_length_sorting_give_the_scores_of_one_text_at_a_time(
        tiny: dict[str, tuple[Path, Path]], arch: str) -> None:
    model = load_local_checkpoint(*tiny[arch])
    batched = ToxicityScorer(model, batch_size=4).predict(TEXTS)
    single = ToxicityScorer(model, batch_size=1)
    one_by_one = [single.predict([t])[0] for t in TEXTS]
    for got, want in zip(batched, one_by_one, strict=True):
        assert got.keys() == want.keys()
        assert max(abs(got[k] - want[k]) for k in got) < 1e-5


def test_max_length_is_the_window_the_model_reads_at_once(tiny: dict[str, tuple[Path, Path]]) -> None:
    model = load_local_checkpoint(*tiny["bert"])
    long_text = "the council approved the budget " * 50  # 600 tokens, far past the tiny model's 128 positions
    short = ToxicityScorer(model, max_length=32)
    widths: list[int] = []
    handle = model.model.register_forward_pre_hook(
        lambda _m, _a, kw: widths.append(kw["input_ids"].shape[1]), with_kwargs=True)
    prediction = short.predict_windows([long_text])[0]
    handle.remove()
    # 30 tokens between [CLS] and [SEP] per window, neighbours sharing 7: the whole text is read
    assert max(widths) == 32 and prediction.unread == 0
    assert prediction.windows == len(range(0, prediction.tokens - 30, 23)) + 1
    # asked for more than the model's 128 positions, the scorer caps at 128 instead of failing
    capped = ToxicityScorer(model, max_length=100_000)
    assert capped.predict([long_text]) == ToxicityScorer(model, max_length=128).predict([long_text])


def test_the_multilingual_model_reads_non_latin_scripts(tiny: dict[str, tuple[Path, Path]]) -> None:
    # Detoxify's `multilingual` is XLM-R: a cased SentencePiece tokenizer (sentencepiece.bpe.model), 7 labels.
    ckpt, config_dir = tiny["xlm-roberta"]
    assert {f.name for f in config_dir.iterdir()} == {"config.json", "sentencepiece.bpe.model"}  # as docs say
    model = load_local_checkpoint(ckpt, config_dir)
    assert type(model.model).__name__ == "XLMRobertaForSequenceClassification"
    assert set(model.labels) == MULTILINGUAL_LABELS
    texts = ["Ты идиот, никто не читает твои комментарии", "Καλημέρα, ευχαριστώ για το άρθρο", "Schön gesagt!"]
    for text in texts:
        ids = model.tokenizer(text)["input_ids"]
        assert ids[0] == model.tokenizer.bos_token_id and ids[-1] == model.tokenizer.eos_token_id
        assert model.tokenizer.unk_token_id not in ids, model.tokenizer.convert_ids_to_tokens(ids)
    rows = ToxicityScorer(model).predict(texts)
    assert all(set(row) == MULTILINGUAL_LABELS and all(0.0 <= v <= 1.0 for v in row.values()) for row in rows)
    # the text itself reaches the model: different words in the same script give different scores
    assert len({round(row["toxicity"], 6) for row in rows}) == len(texts)
    other = ToxicityScorer(model).predict(["Спасибо за статью о голосовании"])[0]
    assert abs(other["toxicity"] - rows[0]["toxicity"]) > 1e-6


def test_xlm_roberta_positions_cap_max_length(tiny: dict[str, tuple[Path, Path]]) -> None:
    # XLM-R numbers positions from pad_token_id + 1: 130 position embeddings take 128 tokens, not 130.
    model = load_local_checkpoint(*tiny["xlm-roberta"])
    assert model.model.config.max_position_embeddings == 130
    long_text = "Спасибо за статью о голосовании городского совета " * 100
    capped = ToxicityScorer(model, max_length=100_000)
    assert capped.predict([long_text]) == ToxicityScorer(model, max_length=128).predict([long_text])


def test_a_fast_tokenizer_name_in_the_checkpoint_loads_the_same_tokenizer(
        tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["xlm-roberta"]
    fast = rewrite_checkpoint(ckpt, tmp_path / "fast.ckpt", lambda c: c["config"]["arch"]["args"].update(
        tokenizer_name="XLMRobertaTokenizerFast"))
    want = ToxicityScorer(load_local_checkpoint(ckpt, config_dir)).predict(TEXTS)
    assert ToxicityScorer(load_local_checkpoint(fast, config_dir)).predict(TEXTS) == want
    other = rewrite_checkpoint(ckpt, tmp_path / "gpt2tok.ckpt", lambda c: c["config"]["arch"]["args"].update(
        tokenizer_name="GPT2TokenizerFast"))
    with pytest.raises(ModelLoadError, match="unsupported tokenizer class 'GPT2TokenizerFast'"):
        load_local_checkpoint(other, config_dir)


async def test_a_model_failure_during_scoring_is_a_scorer_error(tiny: dict[str, tuple[Path, Path]]) -> None:
    # A tokenizer that knows a word the model has no embedding for: the forward pass itself fails.
    model = load_local_checkpoint(*tiny["bert"])
    model.tokenizer.add_tokens(["zzzunseenword"])
    scorer = ToxicityScorer(model)
    assert len(await scorer.score(comments(["fine words"]))) == 1
    with pytest.raises(ScorerError, match="toxicity model failed on a batch of 2: IndexError"):
        await scorer.score(comments(["fine words", "zzzunseenword"]))
    assert await scorer.score([]) == []
    await scorer.close()


async def test_inference_runs_in_one_worker_thread_and_never_overlaps(tiny: dict[str, tuple[Path, Path]]) -> None:
    scorer = await ToxicityScorer.load(settings_for(tiny["bert"], batch_size=2))
    model = scorer._model.model
    seen: list[str] = []
    in_flight = [0, 0]  # now, most ever

    def before(*_: Any) -> None:
        seen.append(threading.current_thread().name)
        in_flight[0] += 1
        in_flight[1] = max(in_flight)

    def after(*_: Any) -> None:
        in_flight[0] -= 1

    model.register_forward_pre_hook(before)
    model.register_forward_hook(after)
    results = await asyncio.gather(*(scorer.score(comments(TEXTS)) for _ in range(4)))
    await scorer.close()
    assert len(results) == 4 and all(len(r) == len(TEXTS) for r in results)
    assert seen and all(name.startswith("modbot-toxicity") for name in seen)
    assert in_flight[1] == 1


async def test_threads_setting_applies_where_the_model_runs(tiny: dict[str, tuple[Path, Path]]) -> None:
    scorer = await ToxicityScorer.load(settings_for(tiny["bert"], threads=1))
    threads_seen: list[int] = []
    scorer._model.model.register_forward_pre_hook(lambda *_: threads_seen.append(torch.get_num_threads()))
    await scorer.score(comments(["hello there"]))
    await scorer.close()
    assert threads_seen == [1]


def rewrite_checkpoint(src: Path, dst: Path, change: Any) -> Path:
    loaded = torch.load(src, weights_only=True)
    change(loaded)
    torch.save(loaded, dst)
    return dst


def test_a_truncated_checkpoint_is_refused_clearly(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(ckpt.read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="not a readable torch checkpoint"):
        load_local_checkpoint(broken, config_dir)


def test_a_file_without_config_and_state_dict_is_refused(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(ModelLoadError, match="needs the keys 'config' and 'state_dict'"):
        load_local_checkpoint(plain, tiny["bert"][1])


def test_missing_and_unexpected_weights_are_named(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]

    def damage(loaded: dict[str, Any]) -> None:
        sd = loaded["state_dict"]
        del sd["classifier.bias"]
        sd["classifier.extra"] = torch.zeros(1)

    bad = rewrite_checkpoint(ckpt, tmp_path / "bad.ckpt", damage)
    with pytest.raises(ModelLoadError) as err:
        load_local_checkpoint(bad, config_dir)
    assert "1 missing weight(s): classifier.bias" in str(err.value)
    assert "1 unexpected weight(s): classifier.extra" in str(err.value)


def test_a_config_dir_of_another_size_is_refused(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]
    other = copy_config_dir(config_dir, tmp_path / "other-config")
    cfg = json.loads((other / "config.json").read_text())
    cfg["hidden_size"], cfg["intermediate_size"] = 64, 128
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"wrong shape weight\(s\):.*checkpoint \(\d+, 32\) vs model \(\d+, 64\)"):
        load_local_checkpoint(ckpt, other)


def copy_config_dir(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_a_config_dir_of_another_architecture_is_named(tiny: dict[str, tuple[Path, Path]]) -> None:
    with pytest.raises(ModelLoadError, match="is for model_type 'albert', but .* is a BertForSequenceClassification"):
        load_local_checkpoint(tiny["bert"][0], tiny["albert"][1])


def test_a_tokenizer_bigger_than_the_model_is_refused(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]
    other = copy_config_dir(config_dir, tmp_path / "bigger-vocab")
    with (other / "vocab.txt").open("a", encoding="utf-8") as fh:
        fh.write("".join(f"extraword{i}\n" for i in range(50)))
    with pytest.raises(ModelLoadError, match="tokens but the model has .* embeddings"):
        load_local_checkpoint(ckpt, other)


def test_quantize_means_int8_on_the_cpu_and_float16_on_a_cuda_gpu() -> None:
    from modbot.scoring.detoxify_loading import precision_for

    assert precision_for(ToxicitySettings()) == "int8"  # dynamic int8 is a CPU kernel
    assert precision_for(ToxicitySettings(device="cuda")) == "float16"
    assert precision_for(ToxicitySettings(device="cuda:1")) == "float16"
    assert precision_for(ToxicitySettings(device="mps")) == "float32"
    assert {precision_for(ToxicitySettings(device=d, quantize=False)) for d in ("cpu", "cuda", "mps")} == {"float32"}


@pytest.mark.parametrize("arch", ARCHS)
async def test_float16_scores_close_to_float32(tiny: dict[str, tuple[Path, Path]], arch: str) -> None:
    """The float16 path (a GPU's default) through the whole scorer, run here on the CPU where torch has float16
    kernels too: integer inputs, the model's own float mask, logits back to float32 before the sigmoid."""
    from modbot.scoring.detoxify_loading import half

    texts = ["the council vote was a farce", "thanks for the clear report", "Это хорошая статья", "word " * 300]
    plain = ToxicityScorer(load_local_checkpoint(*tiny[arch]), max_length=64)
    halved = ToxicityScorer(half(load_local_checkpoint(*tiny[arch])), max_length=64)
    a, b = await score_both(plain, halved, texts)
    assert {p.dtype for p in halved._model.model.parameters()} == {torch.float16}
    assert (halved.precision, plain.precision) == ("float16", "float32")
    assert halved.version == plain.version.replace("@", "+fp16@")
    assert largest_difference(a, b) < 0.02


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
async def test_on_a_cuda_gpu_the_default_is_float16_close_to_float32(tiny: dict[str, tuple[Path, Path]]) -> None:
    texts = ["the council vote was a farce", "thanks for the clear report", "word " * 600]
    cpu = await ToxicityScorer.load(settings_for(tiny["bert"], quantize=False))
    gpu = await ToxicityScorer.load(settings_for(tiny["bert"], device="cuda"))
    a, b = await score_both(cpu, gpu, texts)
    parameter = next(gpu._model.model.parameters())
    assert (gpu.precision, parameter.dtype, parameter.device.type) == ("float16", torch.float16, "cuda")
    assert largest_difference(a, b) < 0.02


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without CUDA")
def test_an_unusable_device_is_a_load_error(tiny: dict[str, tuple[Path, Path]]) -> None:
    with pytest.raises(ModelLoadError, match="device 'cuda' cannot be used"):
        load_local_checkpoint(*tiny["bert"], device="cuda")


def test_checkpoint_num_classes_wins_over_a_base_config_with_two_labels(
        tiny: dict[str, tuple[Path, Path]], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ckpt, config_dir = tiny["bert"]
    base = copy_config_dir(config_dir, tmp_path / "base-config")
    cfg = json.loads((base / "config.json").read_text())
    cfg["id2label"] = {"0": "LABEL_0", "1": "LABEL_1"}  # what a plain base-model config.json says
    cfg["label2id"] = {"LABEL_0": 0, "LABEL_1": 1}
    (base / "config.json").write_text(json.dumps(cfg))
    with caplog.at_level(logging.WARNING, logger="modbot.scoring.toxicity"):
        model = load_local_checkpoint(ckpt, base)
    assert set(model.labels) == DETOXIFY_LABELS
    assert "declares 2 labels, the checkpoint has 6" in caplog.text
    assert ToxicityScorer(model).predict(["hello"]) == ToxicityScorer(load_local_checkpoint(*tiny["bert"])).predict(
        ["hello"])


def test_num_classes_that_disagrees_with_the_classifier_is_refused(
        tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]

    def three_classes(loaded: dict[str, Any]) -> None:
        loaded["config"]["arch"]["args"]["num_classes"] = 3
        loaded["config"]["dataset"]["args"]["classes"] = ["toxic", "obscene", "insult"]

    bad = rewrite_checkpoint(ckpt, tmp_path / "three.ckpt", three_classes)
    with pytest.raises(ModelLoadError, match=r"classifier.weight: checkpoint \(6, 32\) vs model \(3, 32\)"):
        load_local_checkpoint(bad, config_dir)


def test_class_list_and_num_classes_must_agree(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]
    bad = rewrite_checkpoint(ckpt, tmp_path / "short.ckpt",
                             lambda c: c["config"]["dataset"]["args"]["classes"].pop())
    with pytest.raises(ModelLoadError, match="lists 5 classes but says num_classes=6"):
        load_local_checkpoint(bad, config_dir)


def test_checkpoints_in_older_formats_still_load(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    # transformers < 4.31 saved position_ids; Detoxify's training keeps weights under "model." before conversion
    ckpt, config_dir = tiny["bert"]

    def old_style(loaded: dict[str, Any]) -> None:
        sd = loaded["state_dict"]
        sd["bert.embeddings.position_ids"] = torch.arange(128).unsqueeze(0)
        loaded["state_dict"] = OrderedDict((f"model.{k}", v) for k, v in sd.items())

    old = rewrite_checkpoint(ckpt, tmp_path / "old.ckpt", old_style)
    want = ToxicityScorer(load_local_checkpoint(ckpt, config_dir)).predict(TEXTS)
    assert ToxicityScorer(load_local_checkpoint(old, config_dir)).predict(TEXTS) == want


def test_an_unsupported_architecture_is_named(tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    ckpt, config_dir = tiny["bert"]
    bad = rewrite_checkpoint(ckpt, tmp_path / "gpt.ckpt",
                             lambda c: c["config"]["arch"]["args"].update(model_name="GPT2LMHeadModel"))
    with pytest.raises(ModelLoadError, match="names model class 'GPT2LMHeadModel'; supported: Bert"):
        load_local_checkpoint(bad, config_dir)


def test_a_named_model_without_network_says_how_to_run_offline(
        no_network: NetworkAttempts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached download to fall back on
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError) as err:
        load_named_model("original")
    message = str(err.value)
    assert "could not load the Detoxify model 'original'" in message
    assert "checkpoint" in message and "config_dir" in message and "--scorers patterns" in message
    assert no_network.calls  # it did try: this is the online path


@pytest.mark.parametrize("arch", ["albert", "xlm-roberta"])
def test_make_test_checkpoint_command(tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str) -> None:
    parser = argparse.ArgumentParser()
    make_test_checkpoint.add_arguments(parser)
    assert make_test_checkpoint.run(parser.parse_args([str(tmp_path / "out"), "--arch", arch])) == 0
    printed = capsys.readouterr().out
    ckpt = tmp_path / "out" / f"tiny-{arch}.ckpt"
    assert f"checkpoint: {ckpt.resolve()}" in printed and "config_dir:" in printed
    model = load_local_checkpoint(ckpt, tmp_path / "out" / f"tiny-{arch}-config")
    assert set(model.labels) == LABELS[arch]


async def test_the_default_on_cpu_is_int8_and_scores_close_to_float32(tiny: dict[str, tuple[Path, Path]]) -> None:
    texts = ["the council vote was a farce", "thanks for the clear report", "Это хорошая статья"]
    plain = await ToxicityScorer.load(settings_for(tiny["bert"], quantize=False))
    small = await ToxicityScorer.load(settings_for(tiny["bert"]))  # the defaults: quantize on the CPU
    a, b = await score_both(plain, small, texts)
    assert small.version == plain.version.replace("@", "+int8@")
    assert (small.precision, plain.precision) == ("int8", "float32")
    import torch
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in small._model.model.modules())
    # The tiny model's weights are spread wide on purpose, so int8 rounding moves its scores more than a real
    # model's (bench/bench_toxicity.py --quantize measures that on a full-size model).
    assert largest_difference(a, b) < 0.25
    assert all(0.0 <= v <= 1.0 for y in b for v in y.labels.values())


async def test_check_explain_shows_the_precision_and_the_float32_difference(
        tiny: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    from modbot.commands.check import check, render
    from modbot.config import load_settings
    from tests.helpers import write_config

    ckpt, config_dir = tiny["bert"]
    config = write_config(tmp_path, None, "x:", scorers="patterns, toxicity",
                          extra=f"  toxicity:\n    model: tiny\n    checkpoint: {ckpt}\n    config_dir: {config_dir}\n")
    text = config.read_text().replace("scorers:\n  enabled: [patterns, toxicity]\n", "")
    config.write_text(text.replace("  toxicity:\n", "scorers:\n  enabled: [patterns, toxicity]\n  toxicity:\n", 1))
    settings = load_settings(config)
    comment = Comment(id="check", text="the council vote was a farce", author=Author(id="a"))
    result = await check(settings, comment, explain_model=True)
    model = result["toxicity_model"]
    assert model["precision"] == "int8" and model["version"].endswith("+int8@windows128")
    exact = await ToxicityScorer.load(settings_for(tiny["bert"], quantize=False))
    try:
        reference = (await exact.score([comment]))[0].labels
    finally:
        await exact.close()
    assert model["float32_scores"] == pytest.approx(dict(reference))
    assert model["largest_difference"] == pytest.approx(
        max(abs(result["scores"][k] - v) for k, v in reference.items()))
    shown = render(result, result.pop("_explain_text"))
    assert "(int8 on cpu)" in shown and "int8 vs float32 for this text: largest difference" in shown
    plain = await check(settings, comment)
    assert "toxicity_model" not in plain  # without --explain the float model is not loaded
