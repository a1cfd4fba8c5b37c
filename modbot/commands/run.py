"""Run the moderation daemon: read comments from the stream, decide, deliver; serve the review page."""

from __future__ import annotations

import argparse
import asyncio

from modbot.commands.common import add_config_argument, add_scorers_argument, settings_from_args
from modbot.logs import setup_logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_scorers_argument(parser)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from modbot.daemon import run_daemon
    return asyncio.run(run_daemon(settings))
