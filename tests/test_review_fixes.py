"""Regressions from the QA pass: parallel logins past the rate limit, `modbot review` on a busy port,
`modbot moderators add` with nothing on standard input."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.cli import main
from modbot.config import ReviewSettings
from modbot.keys import Keys
from modbot.review.auth import load_users
from modbot.review.throttle import FREE_TRIES, FREE_TRIES_PER_ADDRESS, LoginThrottle
from tests.review_helpers import PASSWORDS, Served, client, serve, write_users

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> ReviewSettings:
    return ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60, undo_seconds=0)


async def _form_token(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/login") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found
    return found.group(1)


async def _post_login(http: aiohttp.ClientSession, url: str, token: str, user: str, password: str) -> int:
    async with http.post(url + "/login", data={"csrf": token, "user": user, "password": password},
                         allow_redirects=False) as resp:
        await resp.read()
        return resp.status


async def _parallel_logins(served: Served, attempts: list[tuple[str, str]]) -> list[int]:
    """All attempts at once from one client address, sharing one login form token (double-submit cookie)."""
    async with client() as http:
        token = await _form_token(http, served.url)
        return list(await asyncio.gather(*(_post_login(http, served.url, token, u, p) for u, p in attempts)))


async def test_parallel_wrong_passwords_for_one_user_stop_at_the_limit(
        redis_client: aioredis.Redis, keys: Keys, settings: ReviewSettings) -> None:
    n = FREE_TRIES + 7
    async with serve(redis_client, keys, settings) as served:
        statuses = await _parallel_logins(served, [("alice", f"guess {i}") for i in range(n)])
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= FREE_TRIES, statuses
    assert statuses.count(429) >= n - FREE_TRIES, statuses


async def test_parallel_made_up_names_stop_at_the_address_limit(
        redis_client: aioredis.Redis, keys: Keys, settings: ReviewSettings) -> None:
    n = FREE_TRIES_PER_ADDRESS + 10
    async with serve(redis_client, keys, settings) as served:
        statuses = await _parallel_logins(served, [(f"nobody{i}", "x") for i in range(n)])
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= FREE_TRIES_PER_ADDRESS, statuses
    assert statuses.count(429) >= n - FREE_TRIES_PER_ADDRESS, statuses


async def test_a_good_login_resets_the_users_count(redis_client: aioredis.Redis, keys: Keys,
                                                   settings: ReviewSettings) -> None:
    async with serve(redis_client, keys, settings) as served, client() as http:
        token = await _form_token(http, served.url)
        for _ in range(FREE_TRIES - 1):
            assert await _post_login(http, served.url, token, "alice", "wrong") == 401
        assert await _post_login(http, served.url, token, "alice", PASSWORDS["alice"]) == 303
        token = await _form_token(http, served.url)
        for _ in range(FREE_TRIES - 1):
            assert await _post_login(http, served.url, token, "alice", "wrong") == 401


async def test_good_logins_do_not_use_up_the_address_limit(redis_client: aioredis.Redis, keys: Keys,
                                                           settings: ReviewSettings) -> None:
    """An office behind one address must be able to log in more often than the failure limit."""
    throttle = LoginThrottle(free_tries=100, free_tries_per_address=3, first_delay_s=60)
    async with serve(redis_client, keys, settings, throttle=throttle) as served:
        for _ in range(6):
            async with client() as http:
                token = await _form_token(http, served.url)
                assert await _post_login(http, served.url, token, "bob", PASSWORDS["bob"]) == 303
        statuses = await _parallel_logins(served, [(f"nobody{i}", "x") for i in range(6)])
    assert statuses.count(401) == 3 and statuses.count(429) == 3, statuses


# --- commands ------------------------------------------------------------------------------------------------

def _config(tmp_path: Path, redis_url: str, prefix: str) -> Path:
    path = tmp_path / "modbot.yaml"
    path.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nsink:\n  type: log\n"
                    "review:\n  users_file: moderators.yaml\n")
    return path


def test_review_on_a_busy_port_is_a_one_line_error(tmp_path: Path, redis_url: str, prefix: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, redis_url, prefix)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["review", "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"127.0.0.1:{port}" in err and "set review.port or --port" in err and "Traceback" not in err


@pytest.mark.parametrize(("flag", "message"), [([], "no terminal to ask for the password"),
                                               (["--password-stdin"], "no password given on standard input")])
def test_moderators_add_with_empty_stdin_says_so(tmp_path: Path, flag: list[str], message: str) -> None:
    cfg = _config(tmp_path, "redis://127.0.0.1:1", "x:")
    # A new session has no controlling terminal, so getpass falls back to standard input, as under cron or CI.
    proc = subprocess.run([sys.executable, "-m", "modbot", "moderators", "--config", str(cfg), "add", "carol",
                           *flag], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          start_new_session=True)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    assert load_users(tmp_path / "moderators.yaml") == {}
