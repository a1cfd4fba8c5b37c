"""/healthz and /readyz: alive from the first moment, ready only with scorers, rules and a reachable Redis."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import HealthSettings
from modbot.health import StartupState, serve


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, StartupState]]:
    state = StartupState()
    port = _free_port()
    runner = await serve(HealthSettings(enabled=True, port=port), state)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def _get(url: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.json()


async def test_alive_while_starting_ready_once_everything_is_loaded(served, redis_client: aioredis.Redis) -> None:
    url, state = served
    assert await _get(url + "/healthz") == (200, {"alive": True})
    status, body = await _get(url + "/readyz")
    assert status == 503 and body["checks"] == {"scorers": "loading", "rules": "loading",
                                                "redis": "not connected yet", "daemon": "ok"}
    state.scorers_loaded = state.rules_loaded = True
    state.redis = redis_client
    status, body = await _get(url + "/readyz")
    assert status == 200 and body["ready"] is True
    state.stopping = True
    status, body = await _get(url + "/readyz")
    assert status == 503 and body["checks"]["daemon"] == "stopping"


async def test_not_ready_when_redis_does_not_answer(served) -> None:
    url, state = served
    state.scorers_loaded = state.rules_loaded = True
    state.redis = aioredis.from_url(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    try:
        status, body = await _get(url + "/readyz")
    finally:
        await state.redis.aclose()
    assert status == 503 and body["checks"]["redis"].startswith("unreachable: ConnectionError")
