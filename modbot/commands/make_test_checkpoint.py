"""Write a tiny Detoxify-format checkpoint (random weights, tiny vocabulary) and its config folder.

The scores it gives mean nothing; it lets you try the offline loading path (scorers.toxicity.checkpoint and
config_dir) and the whole pipeline on a machine without the real model files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from modbot.scoring.tiny_checkpoint import TINY_ARCHS, build_tiny_checkpoint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="folder to write into (created if needed)")
    parser.add_argument("--arch", choices=sorted(TINY_ARCHS), default="bert",
                        help="bert (shape of Detoxify original), albert (original-small), roberta (unbiased) "
                             "or xlm-roberta (multilingual)")


def run(args: argparse.Namespace) -> int:
    ckpt, config_dir = build_tiny_checkpoint(args.out_dir, args.arch)
    print(f"checkpoint: {ckpt.resolve()}")
    print(f"config_dir: {config_dir.resolve()}")
    print("\n# in modbot.yaml (random weights: for tests and demos only)")
    print("scorers:\n  toxicity:")
    print(f"    model: tiny-{args.arch}")
    print(f"    checkpoint: {ckpt.resolve()}")
    print(f"    config_dir: {config_dir.resolve()}")
    return 0
