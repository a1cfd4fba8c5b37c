"""Per-rule counters in Redis (real Valkey) and `modbot stats`."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.commands import stats as stats_cmd
from modbot.config import load_settings
from modbot.connections import connect
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision
from modbot.rules.stats import RuleStats, read_rule_stats, review_outcome


def _decided(cid: str, action: Action, rule: str | None) -> tuple[Comment, Decision]:
    comment = Comment(id=cid, text=f"text of {cid}", author=Author(id="u"))
    return comment, Decision(comment_id=cid, action=action, rule=rule, reason="r", scores={}, matches=(),
                             versions={}, decided_at=datetime.now(UTC), text_sha256=comment.text_sha256)


async def test_counters_follow_decisions_and_verdicts(redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    for cid in ("h1", "h2", "h3"):
        await store.record(*_decided(cid, Action.HOLD, "toxic"))
    await store.record(*_decided("t1", Action.REJECT, "threat"))
    await store.record(*_decided("s1", Action.SPAM, "links"))
    await store.record(*_decided("a1", Action.APPROVE, None))  # the default action counts nothing
    await store.record(*_decided("h1", Action.HOLD, "toxic"))  # the same text again: not counted twice
    await store.record_verdict("h1", Action.REJECT, "alice")
    await store.record_verdict("h2", Action.APPROVE, "alice")
    await store.record_verdict("h3", Action.SPAM, "bob")
    await store.record_verdict("t1", Action.APPROVE, "bob")  # not a hold: no upheld/overturned
    raw = await redis_client.hgetall(keys.rulestats)
    assert raw[b"toxic|fired"] == b"3" and raw[b"toxic|held"] == b"3" and b"threat|held" not in raw
    stats = await read_rule_stats(redis_client, keys)
    assert stats["toxic"] == RuleStats("toxic", fired=3, held=3, upheld=2, overturned=1)
    assert stats["toxic"].precision == pytest.approx(2 / 3)
    assert stats["threat"] == RuleStats("threat", fired=1)
    assert stats["threat"].precision is None
    assert stats["links"].fired == 1
    assert set(stats) == {"toxic", "threat", "links"}
    assert review_outcome(Action.HOLD) is None


async def test_stats_command(redis_client: aioredis.Redis, redis_url: str, prefix: str, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    keys = Keys(prefix)
    await redis_client.hset(keys.rulestats, mapping={"toxic|fired": 10, "toxic|held": 10, "toxic|upheld": 3,
                                                     "toxic|overturned": 1})
    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n  - id: toxic\n    action: hold\n"
                                         "    when: {text: [x]}\n  - id: quiet\n    action: hold\n"
                                         "    when: {text: [y]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nsink:\n  type: log\n")
    parser = argparse.ArgumentParser()
    stats_cmd.add_arguments(parser)
    assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg)])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rule", "fired", "held", "upheld", "overturned", "precision"]
    assert lines[1].split() == ["toxic", "10", "10", "3", "1", "0.75"]
    assert lines[2].split() == ["quiet", "0", "0", "0", "0", "-"]  # in the rules file, never fired
    assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg), "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["toxic"]["precision"] == 0.75 and data["quiet"]["fired"] == 0


async def test_stats_finds_the_daemons_embedded_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # No redis.url: like `enqueue` and `review`, stats must use the server the running daemon started.
    monkeypatch.delenv("MODBOT_REDIS_URL", raising=False)
    monkeypatch.delenv("MODBOT_DATA_DIR", raising=False)
    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n  - id: toxic\n    action: hold\n"
                                         "    when: {text: [x]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text("redis:\n  data_dir: data\nrules:\n  file: rules.yaml\nsink:\n  type: log\n")
    settings = load_settings(cfg)
    parser = argparse.ArgumentParser()
    stats_cmd.add_arguments(parser)
    daemon = await connect(settings.redis)  # what `modbot run` does: start the embedded server, hold the lock
    try:
        await daemon.redis.hset(Keys(settings.redis.prefix).rulestats, mapping={"toxic|fired": 4, "toxic|held": 4})
        assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg), "--json"])) == 0
        assert json.loads(capsys.readouterr().out)["toxic"]["fired"] == 4
    finally:
        await daemon.close()
