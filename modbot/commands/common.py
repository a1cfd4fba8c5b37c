"""Options shared by several commands: where the config is and which scorers to use."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from modbot.config import Settings, load_settings
from modbot.errors import ConfigError

CONFIG_SEARCH = (Path("config/modbot.yaml"), Path("modbot.yaml"))


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="modbot.yaml (default: $MODBOT_CONFIG, ./config/modbot.yaml or ./modbot.yaml)")


def add_scorers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scorers", default=None, metavar="LIST",
                        help="comma-separated scorers to use this run: patterns,toxicity (default: from config)")


def find_config(arg: Path | None) -> Path:
    if arg is not None:
        if not arg.exists():
            raise ConfigError(f"config file {arg} does not exist")
        return arg
    env = os.environ.get("MODBOT_CONFIG")
    if env:
        return find_config(Path(env))
    for candidate in CONFIG_SEARCH:
        if candidate.exists():
            return candidate
    raise ConfigError("no config found: pass --config FILE, set MODBOT_CONFIG, or run from a folder with "
                      "config/modbot.yaml (the repository's config/ folder is a commented starting point)")


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(find_config(args.config), getattr(args, "scorers", None))
