"""The `modbot` command line. Each subcommand lives in modbot/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from modbot.errors import ModbotError

# command -> (module under modbot.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run the moderation daemon"),
    "enqueue": ("enqueue", "add comments from a JSONL file to the input stream"),
    "check": ("check", "score one text and explain the decision"),
    "receive": ("receive", "a reference webhook receiver that verifies and prints decisions"),
    "validate": ("validate", "check config, lexicon and rules: every error with file, line, column and a fix"),
    "backtest": ("backtest", "replay comments through the rules; compare rule sets; precision and recall"),
    "status": ("status", "what waits where: backlog, dead letters, outbox, review queues"),
    "stats": ("stats", "per-rule statistics: fired, held, upheld, overturned, precision"),
    "suggest": ("suggest", "rules and lexicon entries whose holds are mostly overturned: a change and its backtest"),
    "review": ("review", "serve the moderators' review page on its own"),
    "moderators": ("moderators", "add, remove or list review page moderators"),
    "eval-patterns": ("eval_patterns", "measure the pattern lexicon on a labelled CSV/JSONL file"),
    "make-test-checkpoint": ("make_test_checkpoint", "write a tiny random-weight Detoxify checkpoint for tests"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, the other commands' modules are not imported (their arguments are
    not needed to run this one, and importing them all takes seconds: `modbot run` must reach its signal
    handlers quickly)."""
    parser = argparse.ArgumentParser(prog="modbot", description="Moderation bot for comment sections.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text)
            continue
        cmd = importlib.import_module(f"modbot.commands.{module}")
        p = sub.add_parser(name, help=help_text, description=(cmd.__doc__ or help_text).strip())
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line, when it is a known one (anything else: build the full parser)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen_command(argv)).parse_args(argv)
    try:
        return int(args._run(args))
    except ModbotError as exc:
        print(f"modbot {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
