"""Health endpoints for container runtimes and orchestrators: /healthz (alive) and /readyz (able to work).

The health server starts before anything slow (loading the model can take a minute), so a probe can tell
"starting" from "dead": /healthz answers 200 as long as the daemon's event loop runs; /readyz answers 200 only
once the scorers and rules are loaded and Redis answers a PING, and 503 with the reason otherwise (also while
the daemon stops). Both answer a small JSON object.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from modbot.config import HealthSettings
from modbot.httpserve import serve_app

log = logging.getLogger("modbot.health")
REDIS_PING_TIMEOUT_S = 2.0


@dataclass
class StartupState:
    """What the daemon has got ready so far; the daemon fills it in as it starts and stops."""

    scorers_loaded: bool = False
    rules_loaded: bool = False
    redis: aioredis.Redis | None = None
    stopping: bool = False


async def _redis_check(redis: aioredis.Redis | None) -> str:
    if redis is None:
        return "not connected yet"
    try:
        await asyncio.wait_for(redis.ping(), REDIS_PING_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        return f"unreachable: {type(exc).__name__}: {exc}"
    return "ok"


async def readiness(state: StartupState) -> dict[str, str]:
    """Each check's result: "ok" or what is wrong."""
    return {
        "scorers": "ok" if state.scorers_loaded else "loading",
        "rules": "ok" if state.rules_loaded else "loading",
        "redis": await _redis_check(state.redis),
        "daemon": "stopping" if state.stopping else "ok",
    }


STATE: web.AppKey[StartupState] = web.AppKey("state", StartupState)


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"alive": True})


async def readyz(request: web.Request) -> web.Response:
    checks = await readiness(request.app[STATE])
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


def create_app(state: StartupState) -> web.Application:
    """The health endpoints over `state`."""
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve(settings: HealthSettings, state: StartupState) -> web.AppRunner:
    """Serve /healthz and /readyz on settings.host:port; returns the runner to clean up."""
    runner = await serve_app(create_app(state), settings.host, settings.port, "the health endpoints",
                             "set health.port (or MODBOT_HEALTH__PORT), or health.enabled: false")
    log.info("health endpoints", extra={"url": f"http://{settings.host}:{settings.port}/readyz"})
    return runner
