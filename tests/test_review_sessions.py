"""Sessions follow the users file: `modbot moderators remove` or a password change ends them at the next request."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.cli import main
from modbot.config import ReviewSettings
from modbot.keys import Keys
from tests.review_helpers import Served, client, serve, write_users
from tests.test_review import login
from tests.test_review_commands import add, config


@pytest.fixture
def cfg(tmp_path: Path, redis_url: str, prefix: str) -> Path:
    write_users(tmp_path / "moderators.yaml")  # beside the config, where its users_file points
    return config(tmp_path, redis_url, prefix)


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys, cfg: Path) -> AsyncIterator[Served]:
    settings = ReviewSettings(users_file=cfg.parent / "moderators.yaml")
    async with serve(redis_client, keys, settings) as s:
        yield s


async def sessions(redis: aioredis.Redis, keys: Keys) -> int:
    return len([k async for k in redis.scan_iter(match=keys.session("*"))])


async def test_removing_a_moderator_ends_their_sessions_at_once(served: Served, cfg: Path,
                                                                redis_client: aioredis.Redis, keys: Keys) -> None:
    async with client() as alice, client() as bob:
        assert (await login(alice, served.url)).status == 200
        assert (await login(bob, served.url, user="bob")).status == 200
        assert await sessions(redis_client, keys) == 2
        assert main(["moderators", "--config", str(cfg), "remove", "alice"]) == 0
        async with alice.get(served.url + "/", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with alice.get(served.url + "/api/queue") as resp:
            assert resp.status == 401
        assert await sessions(redis_client, keys) == 1  # alice's was deleted, not just refused
        async with bob.get(served.url + "/api/queue") as resp:
            assert resp.status == 200  # the others carry on
        assert (await login(alice, served.url)).status == 401


async def test_a_password_change_logs_out_other_sessions(served: Served, cfg: Path, redis_client: aioredis.Redis,
                                                         keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    async with client() as laptop, client() as phone, client() as bob:
        assert (await login(laptop, served.url)).status == 200
        assert (await login(phone, served.url)).status == 200
        assert (await login(bob, served.url, user="bob")).status == 200
        assert add(cfg, "alice", "a brand new long secret", monkeypatch) == 0
        for http in (laptop, phone):
            async with http.get(served.url + "/api/queue") as resp:
                assert resp.status == 401
        async with bob.get(served.url + "/api/queue") as resp:
            assert resp.status == 200
        assert (await login(laptop, served.url)).status == 401  # the old password is gone
        assert (await login(laptop, served.url, password="a brand new long secret")).status == 200
        async with laptop.get(served.url + "/api/queue") as resp:
            assert resp.status == 200


async def test_a_session_without_a_password_fingerprint_is_refused(served: Served, redis_client: aioredis.Redis,
                                                                   keys: Keys) -> None:
    # Sessions stored before fingerprints existed carry none; they are asked to log in again.
    async with client() as http:
        await login(http, served.url)
        [key] = [k async for k in redis_client.scan_iter(match=keys.session("*"))]
        raw = await redis_client.get(key)
        assert raw is not None
        old = {k: v for k, v in json.loads(raw).items() if k != "pw"}
        await redis_client.set(key, json.dumps(old))
        async with http.get(served.url + "/api/queue") as resp:
            assert resp.status == 401
