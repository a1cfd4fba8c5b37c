"""A reference webhook receiver for trying modbot out: verifies each decision's signature and prints it.

It is what a platform's endpoint does, in a few lines (see modbot/sinks/webhook.py): check the HMAC over the
raw body, drop repeats by Idempotency-Key, answer 2xx. Not for production use as a platform.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from aiohttp import web

from modbot.httpserve import serve_app
from modbot.sinks.webhook import verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--path", default="/modbot", help="URL path to accept decisions on")
    parser.add_argument("--secret-env", default="MODBOT_WEBHOOK_SECRET", help="env var holding the shared secret")


def make_app(secret: str, path: str) -> web.Application:
    seen: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(secret, body, request.headers):
            why = "bad signature, or a timestamp more than 5 minutes off (check both clocks)"
            print(f"REJECTED: {why}", file=sys.stderr, flush=True)
            return web.Response(status=401, text=why)
        key = request.headers.get("Idempotency-Key", "")
        if key in seen:
            return web.Response(status=200, text="duplicate")
        seen.add(key)
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
    return asyncio.run(_serve(make_app(secret, args.path), args.host, args.port, args.path))


async def _serve(app: web.Application, host: str, port: int, path: str) -> int:
    runner = await serve_app(app, host, port, "the receiver",
                             "choose another --port and point sink.webhook.url at it")
    print(f"listening on http://{host}:{port}{path}", flush=True)
    try:
        await asyncio.Event().wait()  # until Ctrl-C
    finally:
        await runner.cleanup()
    return 0
