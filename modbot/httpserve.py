"""Starting the small aiohttp servers modbot runs (review page, metrics, the reference receiver)."""

from __future__ import annotations

from aiohttp import web

from modbot.errors import ConfigError


async def serve_app(app: web.Application, host: str, port: int, what: str, hint: str) -> web.AppRunner:
    """Serve `app` on host:port; a port that cannot be bound is a ConfigError naming `what` and a fix.
    Returns the runner, which the caller cleans up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {exc.strerror}", hint=hint) from None
    return runner
