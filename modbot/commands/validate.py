"""Check a rules file: print OK with the rule count and version, or every error with file:line:column and a fix.

Exit status 0 when valid, 1 when not. The file is --rules, else rules.file from --config (default
config/modbot.yaml when present), else config/rules.yaml.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from modbot.config import Settings, load_settings, parse_scorer_list
from modbot.errors import RuleError
from modbot.rules import load_rules
from modbot.rules.loader import RuleSetInvalid

DEFAULT_CONFIG = Path("config/modbot.yaml")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help=f"modbot.yaml (default: {DEFAULT_CONFIG} when it exists)")
    parser.add_argument("--rules", type=Path, default=None, help="rules file (default: rules.file from the config)")


def settings_from(args: argparse.Namespace, scorers: str | None = None) -> Settings:
    """Settings from --config, or from config/modbot.yaml in the working directory, or the defaults."""
    path = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    if path is not None:
        return load_settings(path, scorers)
    # Without a config file only the defaults apply; load_settings(None) would insist on a webhook URL, which
    # these offline commands never use.
    settings = Settings()
    if scorers is not None:
        settings = replace(settings, scorers=replace(settings.scorers, enabled=parse_scorer_list(scorers)))
    if os.environ.get("MODBOT_REDIS_URL"):
        settings = replace(settings, redis=replace(settings.redis, url=os.environ["MODBOT_REDIS_URL"]))
    return settings


def rules_path(args: argparse.Namespace) -> Path:
    """The rules file the command should use (see the module docstring)."""
    if args.rules is not None:
        return Path(args.rules)
    if args.config is None and not DEFAULT_CONFIG.exists():
        return Path("config/rules.yaml")
    settings = settings_from(args)
    path = settings.rules.file
    # A default (not written in the file) stays relative; like written paths it belongs next to the config.
    if not path.is_absolute() and settings.source is not None:
        path = settings.source.parent / path
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    path = rules_path(args)
    try:
        ruleset = load_rules(path)
    except RuleSetInvalid as exc:
        for err in exc.errors:
            print(RuleError.__str__(err), file=sys.stderr)
        print(f"{path}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", file=sys.stderr)
        return 1
    print(f"OK {path}: {len(ruleset.rules)} rules, version {ruleset.version}")
    return 0
