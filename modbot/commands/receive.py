"""A reference webhook receiver for trying modbot out: verifies each decision's signature and prints it.

It is what a platform's endpoint does, in a few lines (see modbot/sinks/webhook.py): check the HMAC over the
raw body, drop repeats by Idempotency-Key, answer 2xx. The keys seen within the replay window are kept in a
small file (`--state`), so a request captured before a restart is still recognised as a replay after it. Not
for production use as a platform.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from modbot.httpserve import serve_app
from modbot.sinks.webhook import KEY_HEADER, MAX_AGE_S, TIMESTAMP_HEADER, verify

DEFAULT_STATE = Path("modbot-receive-seen.jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--path", default="/modbot", help="URL path to accept decisions on")
    parser.add_argument("--secret-env", default="MODBOT_WEBHOOK_SECRET", help="env var holding the shared secret")
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE, metavar="FILE",
                        help=f"where the idempotency keys of the last {MAX_AGE_S} s are kept across restarts "
                             f"(default: ./{DEFAULT_STATE})")


class SeenKeys:
    """Idempotency keys received within the replay window, kept in a file so a restart still refuses replays.

    Each new key is appended as one JSON line, [timestamp, key], and flushed before the request is answered.
    On start the file is read and rewritten without the keys whose signed timestamp has left the window: a
    request that old fails the signature check anyway, so its key need not be remembered.
    """

    def __init__(self, path: Path, window_s: int = MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.window_s = window_s
        self._clock = clock
        self._keys: dict[str, int] = {}
        self._load()
        self._file = path.open("a", encoding="utf-8")

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str, timestamp: int) -> None:
        """Remember `key`, signed at `timestamp`, in memory and on disk."""
        self._keys[key] = timestamp
        self._file.write(json.dumps([timestamp, key]) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        oldest = self._clock() - self.window_s - 1
        for line in lines:
            try:
                timestamp, key = json.loads(line)
            except (ValueError, TypeError):
                continue  # a line cut short by a crash
            if isinstance(key, str) and isinstance(timestamp, int) and timestamp >= oldest:
                self._keys[key] = timestamp
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps([t, k]) + "\n" for k, t in self._keys.items()), encoding="utf-8")
        tmp.replace(self.path)


def make_app(secret: str, path: str, seen: SeenKeys) -> web.Application:

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, body, request.headers):
            why = "bad signature, or a timestamp more than 5 minutes off (check both clocks)"
            print(f"REJECTED: {why}", file=sys.stderr, flush=True)
            return web.Response(status=401, text=why)
        key = request.headers.get(KEY_HEADER, "")
        if key in seen:
            # A retry of a decision already stored, or a replay of a captured request: answered, not redone.
            print(f"duplicate ignored (key {key})", file=sys.stderr, flush=True)
            return web.Response(status=200, text="duplicate")
        seen.add(key, int(request.headers[TIMESTAMP_HEADER]))
        d = json.loads(body)
        print(f"{d['comment_id']}: {d['action'].upper()} rule={d['rule']} reason={d['reason']!r} "
              f"(signature ok, key {key})", flush=True)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post(path, receive)
    return app


def run(args: argparse.Namespace) -> int:
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"set ${args.secret_env} to the secret modbot signs with", file=sys.stderr)
        return 2
    seen = SeenKeys(args.state)
    try:
        return asyncio.run(_serve(make_app(secret, args.path, seen), args.host, args.port, args.path))
    finally:
        seen.close()


async def _serve(app: web.Application, host: str, port: int, path: str) -> int:
    runner = await serve_app(app, host, port, "the receiver",
                             "choose another --port and point sink.webhook.url at it")
    print(f"listening on http://{host}:{port}{path}", flush=True)
    try:
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await runner.cleanup()
    return 0
