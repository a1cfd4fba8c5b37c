"""Per lexicon entry and stance counters (real Valkey), the Wilson interval, and `modbot stats --patterns`."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.commands import stats as stats_cmd
from modbot.decisions import DecisionStore
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision, Match, Stance
from modbot.rules.patternstats import PatternStats, read_pattern_stats, wilson


def _match(entry: str, stance: Stance = Stance.ASSERTED) -> Match:
    return Match(category="trope", pattern=entry, start=0, end=4, text="text", stance=stance)


def decided(cid: str, action: Action, rule: str | None, *matches: Match, text: str = "") -> tuple[Comment, Decision]:
    comment = Comment(id=cid, text=text or f"text of {cid}", author=Author(id="u"))
    return comment, Decision(comment_id=cid, action=action, rule=rule, reason="r", scores={}, matches=matches,
                             versions={}, decided_at=datetime.now(UTC), text_sha256=comment.text_sha256)


async def test_counters_follow_decisions_and_verdicts(redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    quoted = _match("greed", Stance.QUOTED)
    # Two matches of one entry and stance in one comment count once; another stance counts on its own line.
    await store.record(*decided("h1", Action.HOLD, "trope", quoted, quoted, _match("greed")))
    await store.record(*decided("h2", Action.HOLD, "trope", quoted))
    await store.record(*decided("h3", Action.HOLD, "trope", _match("greed")))
    await store.record(*decided("a1", Action.APPROVE, None, quoted))  # fired, not held
    await store.record(*decided("h1", Action.HOLD, "trope", quoted, _match("greed")))  # same text: not again
    await store.record_verdict("h1", Action.APPROVE, "alice")
    await store.record_verdict("h2", Action.APPROVE, "alice")
    await store.record_verdict("h3", Action.REJECT, "bob")
    await store.record_verdict("a1", Action.REJECT, "bob")  # not a hold: neither upheld nor overturned
    stats = {(s.entry, s.stance): s for s in await read_pattern_stats(redis_client, keys)}
    assert stats == {("greed", "quoted"): PatternStats("greed", "quoted", fired=3, held=2, overturned=2),
                     ("greed", "asserted"): PatternStats("greed", "asserted", fired=2, held=2, upheld=1,
                                                         overturned=1)}
    assert stats[("greed", "quoted")].precision == 0.0
    # An edited text is decided again, and counted again, like the per-rule counters.
    await store.record(*decided("h2", Action.HOLD, "trope", quoted, text="edited"))
    assert (await redis_client.hget(keys.patternstats, "greed|quoted|held")) == b"3"


async def test_entry_names_with_a_bar_read_back(redis_client: aioredis.Redis, prefix: str) -> None:
    keys = Keys(prefix)
    await DecisionStore(redis_client, keys).record(*decided("x", Action.HOLD, "r", _match("a|b")))
    assert await read_pattern_stats(redis_client, keys) == [PatternStats("a|b", "asserted", fired=1, held=1)]


def test_wilson_interval() -> None:
    assert wilson(0, 0) is None
    low, high = wilson(8, 10)  # type: ignore[misc]
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson(0, 5) == (0.0, pytest.approx(0.4345, abs=1e-4))
    low, high = wilson(10, 10)  # type: ignore[misc]
    assert high == 1.0 and low == pytest.approx(0.7225, abs=1e-4)
    # More verdicts, narrower interval around the same share.
    few, many = wilson(1, 4), wilson(25, 100)
    assert few is not None and many is not None and (many[1] - many[0]) < (few[1] - few[0])


async def test_stats_patterns_command(redis_client: aioredis.Redis, redis_url: str, prefix: str, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    keys = Keys(prefix)
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nsink:\n  type: log\n")
    parser = argparse.ArgumentParser()
    stats_cmd.add_arguments(parser)
    assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg), "--patterns"])) == 0
    assert capsys.readouterr().out.strip() == "no lexicon entry has matched in a decision yet"
    await redis_client.hset(keys.patternstats, mapping={"greed|quoted|fired": 30, "greed|quoted|held": 20,
                                                        "greed|quoted|upheld": 2, "greed|quoted|overturned": 8,
                                                        "greed|asserted|fired": 5})
    assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg), "--patterns"])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["entry", "stance", "fired", "held", "upheld", "overturned", "precision", "95%",
                                "interval"]
    assert lines[1].split() == ["greed", "asserted", "5", "0", "0", "0", "-", "-"]
    assert lines[2].split() == ["greed", "quoted", "30", "20", "2", "8", "0.20", "0.06-0.51"]
    assert await stats_cmd.run_async(parser.parse_args(["--config", str(cfg), "--patterns", "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[1]["entry"] == "greed" and data[1]["precision"] == 0.2
    assert data[1]["interval"] == [pytest.approx(0.0567, abs=1e-3), pytest.approx(0.5098, abs=1e-3)]
