"""Tiny Detoxify-format checkpoints with random weights, for tests and demos.

The files have the exact layout of Detoxify's published checkpoints (a torch-saved dict with `config` and
`state_dict`, plus a folder holding the Hugging Face config and tokenizer files), but a model a few hundred
kilobytes big and a vocabulary of a few hundred tokens written by this module. The scores mean nothing; the
point is that the production loading path can be exercised anywhere, offline, in well under a second.
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

# Jigsaw's column names, in the order Detoxify's `original` checkpoints list them.
JIGSAW_CLASSES = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")

# The 16 outputs of Detoxify's `unbiased` checkpoint: 7 toxicity labels, then the identity groups.
UNBIASED_CLASSES = ("toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat",
                    "sexual_explicit", "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish",
                    "muslim", "black", "white", "psychiatric_or_mental_illness")

# The 7 outputs of Detoxify's `multilingual` checkpoint: Jigsaw's names plus `sexual_explicit`.
MULTILINGUAL_CLASSES = (*JIGSAW_CLASSES, "sexual_explicit")

# name -> (Detoxify model_type, transformers model class, tokenizer class, default classes)
TINY_ARCHS = {
    "bert": ("bert-base-uncased", "BertForSequenceClassification", "BertTokenizer", JIGSAW_CLASSES),
    "albert": ("albert-base-v2", "AlbertForSequenceClassification", "AlbertTokenizer", JIGSAW_CLASSES),
    "roberta": ("roberta-base", "RobertaForSequenceClassification", "RobertaTokenizer", UNBIASED_CLASSES),
    "xlm-roberta": ("xlm-roberta-base", "XLMRobertaForSequenceClassification", "XLMRobertaTokenizer",
                    MULTILINGUAL_CLASSES),
}

# Our own sentences: they give the WordPiece vocabulary its words and train the SentencePiece model.
_SENTENCES = (
    "thank you for the clear article about the city council vote",
    "i disagree with the author but the reporting is fair",
    "you are an idiot and nobody wants to read your comments",
    "the mayor said the new bridge will open next spring",
    "stop posting this nonsense on every single story",
    "great photos of the harbour festival this weekend",
    "what a stupid take from a clueless writer",
    "could the paper publish the full budget figures please",
    "people like you should be banned from this site",
    "the school board meets again on tuesday evening",
)
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
_PUNCT = ".,!?'\"-:;()"

# For the multilingual model's SentencePiece model, with the English ones above. XLM-R is cased, so some
# sentences start with capitals; the alphabet lines give every Latin (with common accents), Cyrillic and Greek
# letter a piece of its own, so text in those scripts is not read as <unk> (emoji, CJK, ... still are).
_MULTILINGUAL_SENTENCES = (
    "Danke für den klaren Artikel über die Abstimmung im Stadtrat",
    "Merci pour cet article très clair sur le vote du conseil municipal",
    "Gracias por el artículo, la reseña del presupuesto es justa",
    "Спасибо за статью о голосовании городского совета",
    "ты идиот и никто не хочет читать твои комментарии",
    "Ευχαριστώ για το άρθρο σχετικά με την ψηφοφορία",
    " ".join("ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜÉÈÀÇÑ" + "abcdefghijklmnopqrstuvwxyzäöüßéèêëàâçñáíóúîïôû"
             + "0123456789" + _PUNCT),
    " ".join([chr(c) for c in range(0x410, 0x450)] + ["Ё", "ё"]),
    " ".join([chr(c) for c in range(0x391, 0x3CA) if c != 0x3A2] + list("άέήίόύώς")),
)


def build_tiny_checkpoint(out_dir: Path, arch: str = "bert", *, seed: int = 0,
                          classes: tuple[str, ...] | None = None) -> tuple[Path, Path]:
    """Write `<out_dir>/tiny-<arch>.ckpt` and the folder `<out_dir>/tiny-<arch>-config/`; return both paths.

    `arch` is "bert" (WordPiece vocabulary written here), "albert" (SentencePiece model trained here from a
    few sentences), "roberta" (byte-level BPE with no merges, 16 outputs like `unbiased`) or "xlm-roberta"
    (SentencePiece model trained here from English, German, French, Spanish, Russian and Greek sentences, 7
    outputs like `multilingual`). Weights are random but reproducible from `seed`.
    """
    import torch
    import transformers

    if arch not in TINY_ARCHS:
        raise ValueError(f"unknown arch '{arch}'; choose from {', '.join(TINY_ARCHS)}")
    model_type, model_name, tokenizer_name, default_classes = TINY_ARCHS[arch]
    classes = classes or default_classes
    config_dir = out_dir / f"tiny-{arch}-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    writers = {"bert": _write_bert_vocab, "albert": _write_sentencepiece, "roberta": _write_byte_bpe,
               "xlm-roberta": _write_xlmr_sentencepiece}
    vocab_size = writers[arch](config_dir)
    config = _tiny_config(arch, vocab_size, classes, transformers)
    config.save_pretrained(str(config_dir))

    torch.manual_seed(seed)
    model = getattr(transformers, model_name)(config)
    state_dict = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    checkpoint: dict[str, Any] = {
        "config": {
            "arch": {"args": {"model_type": model_type, "model_name": model_name,
                              "tokenizer_name": tokenizer_name, "num_classes": len(classes)}},
            "dataset": {"args": {"classes": list(classes)}},
        },
        "state_dict": state_dict,
    }
    ckpt_path = out_dir / f"tiny-{arch}.ckpt"
    torch.save(checkpoint, ckpt_path)
    return ckpt_path, config_dir


def _tiny_config(arch: str, vocab_size: int, classes: tuple[str, ...], transformers: Any) -> Any:
    labels = {"id2label": dict(enumerate(classes)), "label2id": {c: i for i, c in enumerate(classes)}}
    common = {"vocab_size": vocab_size, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "max_position_embeddings": 128, "pad_token_id": 0,
              # far wider than the usual 0.02, so that random scores differ clearly from text to text
              "initializer_range": 0.5,
              "problem_type": "multi_label_classification", **labels}
    if arch == "bert":
        return transformers.BertConfig(**common)
    if arch in ("roberta", "xlm-roberta"):
        # RoBERTa numbers positions from pad_token_id + 1, hence two extra position embeddings
        common.update(pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=130)
        if arch == "xlm-roberta":
            return transformers.XLMRobertaConfig(**common)
        return transformers.RobertaConfig(**common)
    return transformers.AlbertConfig(embedding_size=16, **common)


def _write_bert_vocab(config_dir: Path) -> int:
    """A WordPiece vocabulary: specials, single characters (so any ASCII text tokenizes), their `##` forms
    and the whole words of the sentences above."""
    words = sorted({w for s in _SENTENCES for w in s.split()})
    chars = list(_LETTERS) + list(_PUNCT)
    vocab = list(_BERT_SPECIALS) + chars + [f"##{c}" for c in _LETTERS] + [w for w in words if w not in chars]
    (config_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer_config = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 128,
                        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                        "mask_token": "[MASK]"}
    (config_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
    return len(vocab)


def _write_sentencepiece(config_dir: Path) -> int:
    """A unigram SentencePiece model with ALBERT's special pieces at ALBERT's ids (<pad>=0, <unk>=1, [CLS]=2,
    [SEP]=3, [MASK]=4), trained in memory from the sentences above."""
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SENTENCES * 5), model_writer=buffer, model_type="unigram", vocab_size=150,
        hard_vocab_limit=False, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]"], user_defined_symbols=["[MASK]"],
        character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    (config_dir / "spiece.model").write_bytes(buffer.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    return int(processor.get_piece_size())


def _write_xlmr_sentencepiece(config_dir: Path) -> int:
    """A unigram SentencePiece model laid out like XLM-R's `sentencepiece.bpe.model` (<unk>=0, <s>=1, </s>=2).

    The tokenizer does not use these ids as they are: like fairseq, it puts <s>, <pad>, </s>, <unk> at 0-3,
    the remaining pieces after them, and <mask> last, so the model needs two more embeddings than there are
    pieces (XLM-R: 250,000 pieces, vocab_size 250,002).
    """
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter((_SENTENCES + _MULTILINGUAL_SENTENCES) * 5), model_writer=buffer,
        model_type="unigram", vocab_size=400, hard_vocab_limit=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=1.0, num_threads=1, minloglevel=2,
    )
    (config_dir / "sentencepiece.bpe.model").write_bytes(buffer.getvalue())
    processor = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    return int(processor.get_piece_size()) + 2


def _byte_symbols() -> list[str]:
    """GPT-2's byte-level alphabet: one printable character for each of the 256 byte values."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = [], 0
    for b in range(256):
        if b in printable:
            symbols.append(chr(b))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def _write_byte_bpe(config_dir: Path) -> int:
    """A RoBERTa vocabulary of the specials and the 256 byte symbols, with no merges: every byte is a token."""
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *_byte_symbols(), "<mask>"]
    (config_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    (config_dir / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return len(tokens)
