"""Add comments from a JSONL file (one comment object per line, '-' for stdin) to the input stream.

Lines are checked against the comment schema first; with --strict any bad line stops the whole file before
anything is added, otherwise bad lines are reported (line number and reason) and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot.commands.common import add_config_argument, settings_from_args
from modbot.config import Settings, keys_for
from modbot.connections import connect
from modbot.errors import InvalidComment, ModbotError
from modbot.ingest.schema import comment_to_dict, decode_message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_argument(parser)
    parser.add_argument("file", type=Path, help="JSONL file of comments, or - for standard input")
    parser.add_argument("--strict", action="store_true", help="add nothing if any line is invalid")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    try:
        data = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    except OSError as exc:
        raise ModbotError(f"cannot read {args.file}: {exc.strerror}") from None
    good: list[str] = []
    bad = 0
    # Lines are split as bytes, so a line that is not UTF-8 is named and skipped like any other bad line.
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            comment = decode_message(line, settings.stream.max_text_chars)
        except InvalidComment as exc:
            bad += 1
            print(f"{args.file}:{n}: skipped: {exc}", file=sys.stderr)
            continue
        good.append(json.dumps(comment_to_dict(comment), ensure_ascii=False))
    if bad and args.strict:
        print(f"{bad} invalid line(s); nothing added (--strict)", file=sys.stderr)
        return 1
    ids = asyncio.run(_add(settings, good))
    print(f"added {len(ids)} comment(s) to {keys_for(settings).comments}"
          + (f"; skipped {bad} invalid line(s)" if bad else ""))
    return 1 if bad else 0


async def _add(settings: Settings, payloads: list[str]) -> list[str]:
    conn = await connect(settings.redis)
    keys = keys_for(settings)
    added: list[str] = []
    try:
        for start in range(0, len(payloads), 500):  # chunks, so a lost connection says how far it got
            async with conn.redis.pipeline(transaction=False) as pipe:
                for payload in payloads[start:start + 500]:
                    pipe.xadd(keys.comments, {"comment": payload})
                added += [str(i) for i in await pipe.execute()]
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise ModbotError(f"lost the connection to Redis after adding {len(added)} of {len(payloads)} "
                          f"comment(s): {exc}") from None
    finally:
        await conn.close()
    return added
