"""Serve the moderators' review page on its own (the daemon serves it too when review.enabled is true).

Connects to the configured Redis, or to the embedded server a running `modbot run` started.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from modbot.commands.common import add_config_argument, settings_from_args
from modbot.config import Settings, keys_for
from modbot.connections import connect
from modbot.errors import ConfigError
from modbot.httpserve import serve_app
from modbot.logs import setup_logging
from modbot.review.app import create_app


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("--host", default=None, help="address to listen on (default: review.host)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default: review.port)")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    return asyncio.run(serve(settings, args.host or settings.review.host,
                             settings.review.port if args.port is None else args.port))


async def serve(settings: Settings, host: str, port: int, stop: asyncio.Event | None = None) -> int:
    """Serve until SIGINT/SIGTERM (or `stop`)."""
    stop = stop or asyncio.Event()
    conn = await connect(settings.redis, start_embedded=False)
    keys = keys_for(settings)
    try:
        # Usually a busy port is another `modbot review` or the daemon; serve_app says so in one line.
        runner = await serve_app(create_app(conn.redis, keys, settings.review), host, port, "the review page",
                                 "set review.port or --port")
    except ConfigError:
        await conn.close()
        raise
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(f"review page on http://{host}:{port}/ (moderators from {settings.review.users_file})", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        await conn.close()
    return 0
