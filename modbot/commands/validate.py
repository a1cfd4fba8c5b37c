"""Check the config, the pattern lexicon and the rules: OK with counts and versions, or every error with
file:line:column and a fix.

Exit status 0 when valid, 1 when not. The file is --rules, else rules.file from --config (default
config/modbot.yaml when present), else config/rules.yaml.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from modbot.commands.common import add_scorers_argument, find_config
from modbot.config import Settings, load_settings
from modbot.errors import ConfigError, RuleError
from modbot.rules import load_rules, unused_rules_warnings
from modbot.rules.loader import RuleSetInvalid
from modbot.scoring.lexicon import load_lexicon


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None,
                        help="modbot.yaml (default: $MODBOT_CONFIG or ./config/modbot.yaml when it exists)")
    parser.add_argument("--rules", type=Path, default=None, help="rules file (default: rules.file from the config)")


def settings_from(args: argparse.Namespace, scorers: str | None = None) -> Settings:
    """Settings from --config, $MODBOT_CONFIG or ./config/modbot.yaml; the defaults when there is none."""
    try:
        path: Path | None = find_config(args.config)
    except ConfigError:
        if args.config is not None or os.environ.get("MODBOT_CONFIG"):
            raise
        path = None
    return load_settings(path, scorers)


def rules_path(args: argparse.Namespace, settings: Settings) -> Path:
    """The rules file the command should use (see the module docstring), from settings already loaded."""
    if args.rules is not None:
        return Path(args.rules)
    return settings.rules.file if settings.source is not None else Path("config/rules.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    add_scorers_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args, args.scorers)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if settings.source is not None:
        print(f"OK {settings.source}")
    path = rules_path(args, settings)
    categories = None
    patterns = settings.scorers.patterns.file if settings.source else Path("config/patterns.yaml")
    if "patterns" not in settings.scorers.enabled:
        pass
    elif settings.source is None and not patterns.exists():
        # No config and no lexicon here: check the rules alone rather than fail on a file nobody named.
        print("patterns: not checked (no config found; pass --config to check the lexicon and the rules' "
              "pattern categories)", file=sys.stderr)
    else:
        try:
            lexicon = load_lexicon(patterns)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        categories = lexicon.categories
        print(f"OK {patterns}: {len(lexicon.entries)} patterns, version {lexicon.version}")
    try:
        ruleset = load_rules(path, categories)
    except RuleSetInvalid as exc:
        for err in exc.errors:
            print(RuleError.__str__(err), file=sys.stderr)
        print(f"{path}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}", file=sys.stderr)
        return 1
    print(f"OK {path}: {len(ruleset.rules)} rules, version {ruleset.version}")
    for warning in unused_rules_warnings(ruleset, settings.scorers.enabled):
        print(f"warning: {warning}", file=sys.stderr)
    return 0
