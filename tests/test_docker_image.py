"""The Dockerfile's pieces that can be checked without Docker: its environment against the shipped config, and
its HEALTHCHECK command against a real health server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from modbot.config import HealthSettings, load_settings
from modbot.errors import ConfigError
from modbot.health import StartupState, serve
from tests.helpers import ROOT
from tests.test_health import _free_port

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[len(name) + 1:].strip() for line in joined.splitlines() if line.startswith(name + " ")]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in _instructions("ENV"):
        for pair in shlex.split(args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def test_the_image_refuses_to_start_until_told_where_the_platform_is(monkeypatch):
    for var in [v for v in os.environ if v.startswith("MODBOT_")]:
        monkeypatch.delenv(var)
    for key, value in image_env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=r"needs 'sink.webhook.url'.*MODBOT_SINK__WEBHOOK__URL"):
        load_settings(ROOT / "config" / "modbot.yaml")
    monkeypatch.setenv("MODBOT_SINK__WEBHOOK__URL", "http://platform:9000/modbot")
    s = load_settings(ROOT / "config" / "modbot.yaml")
    assert s.sink.webhook.url == "http://platform:9000/modbot"
    assert str(s.redis.data_dir) == "/data" and str(s.review.users_file) == "/data/moderators.yaml"
    assert s.review.host == "0.0.0.0" and s.health.enabled and s.health.port == 8081


def test_the_model_cache_is_one_fixed_path_owned_by_the_runtime_user():
    env = image_env()
    assert env["HF_HOME"].startswith("/opt/modbot/cache/") and env["TORCH_HOME"].startswith("/opt/modbot/cache/")
    assert env["HF_HUB_OFFLINE"] == "1"
    run = " ".join(_instructions("RUN"))
    assert "chown -R modbot:modbot /opt/modbot/cache" in run and "load_named_model" in run
    # The cache variables are set before the preload runs, so the preload fills the path the runtime reads.
    assert DOCKERFILE.index("HF_HOME=") < DOCKERFILE.index("load_named_model")
    assert _instructions("USER") == ["modbot"]


async def test_the_healthcheck_command_follows_readiness(redis_client: aioredis.Redis):
    command = json.loads(_instructions("HEALTHCHECK")[0].split(" CMD ", 1)[1])
    assert command[0] == "python"
    port = _free_port()
    state = StartupState()
    runner = await serve(HealthSettings(enabled=True, port=port), state)
    env = dict(os.environ, MODBOT_HEALTH__PORT=str(port))

    def check() -> int:
        return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode

    try:
        assert await asyncio.to_thread(check) != 0  # loading: unhealthy
        state.scorers_loaded = state.rules_loaded = True
        state.redis = redis_client
        assert await asyncio.to_thread(check) == 0
    finally:
        await runner.cleanup()
    assert await asyncio.to_thread(check) != 0  # nothing listens: unhealthy
