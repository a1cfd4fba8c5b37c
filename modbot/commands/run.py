"""Run the moderation daemon: read comments from the stream, decide, deliver; serve the review page."""

from __future__ import annotations

import argparse
import asyncio
import signal

from modbot.commands.common import add_config_argument, add_scorers_argument, settings_from_args
from modbot.logs import setup_logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    add_scorers_argument(parser)


def remember_stop_signals(stop: asyncio.Event) -> None:
    """Until the event loop's own handlers take over, SIGTERM and SIGINT only set `stop` instead of killing the
    process (a container runtime may stop us while the daemon's modules are still importing), and SIGHUP is
    ignored (the rules are not loaded yet)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    remember_stop_signals(stop)
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    from modbot.daemon import run_daemon
    return asyncio.run(run_daemon(settings, stop))
