"""`modbot moderators` and `modbot review`: the users file they write and the page they serve."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import stat
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from modbot.cli import main
from modbot.commands.review import serve
from modbot.config import load_settings
from modbot.review.auth import load_users
from tests.review_helpers import client


def config(tmp_path: Path, redis_url: str, prefix: str) -> Path:
    path = tmp_path / "modbot.yaml"
    path.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nsink:\n  type: log\n"
                    "review:\n  users_file: moderators.yaml\n")
    return path


def add(cfg: Path, name: str, password: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["moderators", "--config", str(cfg), "add", name, "--password-stdin"])


def test_moderators_add_list_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, "redis://127.0.0.1:1", "x:")
    assert add(cfg, "alice", "a long enough secret", monkeypatch) == 0
    assert add(cfg, "bob", "another long secret", monkeypatch) == 0
    users_file = tmp_path / "moderators.yaml"
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    users = load_users(users_file)
    assert users["alice"].startswith("$argon2id$") and "a long enough secret" not in users_file.read_text()
    assert PasswordHasher().verify(users["alice"], "a long enough secret")
    assert main(["moderators", "--config", str(cfg), "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == ["alice", "bob"]
    assert main(["moderators", "--config", str(cfg), "remove", "bob"]) == 0
    assert set(load_users(users_file)) == {"alice"}
    assert main(["moderators", "--config", str(cfg), "remove", "bob"]) == 1


def test_moderators_refuses_short_passwords_and_odd_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(tmp_path, "redis://127.0.0.1:1", "x:")
    assert add(cfg, "carol", "short", monkeypatch) == 2
    assert add(cfg, "<script>", "a long enough secret", monkeypatch) == 2
    assert load_users(tmp_path / "moderators.yaml") == {}


async def test_review_command_serves_the_page(tmp_path: Path, redis_url: str, prefix: str,
                                              redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(tmp_path, redis_url, prefix)
    assert add(cfg, "alice", "a long enough secret", monkeypatch) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(load_settings(cfg), "127.0.0.1", port, stop))
    url = f"http://127.0.0.1:{port}"
    try:
        async with client() as http:
            for _ in range(100):
                try:
                    async with http.get(url + "/login") as resp:
                        token = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            assert token
            async with http.post(url + "/login", data={"csrf": token.group(1), "user": "alice",
                                                       "password": "a long enough secret"}) as resp:
                assert resp.status == 200 and "Nothing to review here." in await resp.text()
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 10) == 0
