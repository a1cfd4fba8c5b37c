"""Rules run off the event loop, each comment within a time budget; a comment past it is held, not lost."""

from __future__ import annotations

import asyncio
import random
import string
import time
from pathlib import Path

import pytest

from modbot.config import StreamSettings, load_settings
from modbot.decisions import DecisionStore
from modbot.errors import ConfigError
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Scores
from modbot.rules import RuleSetInvalid, parse_rules
from modbot.worker import Worker
from tests.helpers import comment_json

# A thousand regex values, each one search of a long text: some 25 ms per 20,000 characters, about
# a hundred times what a short comment costs (the length test comes first and stops there).
SLOW_VALUES = ", ".join(f"'w{i}(?:[a-z]+ ?){{1,20}}q'" for i in range(1000))
RULES = f"""\
version: 1
rules:
  - id: slow-shouting
    priority: 10
    action: reject
    when:
      features: {{length: "> 10000"}}
      text (includes, regex): [{SLOW_VALUES}]
  - id: hold-spam
    action: hold
    when: {{text: [spam]}}
"""


def long_text(seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_lowercase + "    ") for _ in range(20_000))


def make_worker(redis_client, prefix: str, budget_ms: int) -> Worker:  # type: ignore[no-untyped-def]
    ruleset = parse_rules(RULES.encode(), "rules.yaml")
    return Worker(redis_client, Keys(prefix), StreamSettings(batch_wait_ms=30), "w1", [], lambda: ruleset,
                  rules_budget_ms=budget_ms)


async def drain(worker: Worker) -> None:
    await worker.reader.ensure_group()
    while batch := await worker.reader.read_batch(poll_ms=50):
        await worker.process(batch)


async def test_comment_over_budget_is_held_with_the_overrun_recorded(redis_client, prefix):
    keys = Keys(prefix)
    for payload in (comment_json("long", long_text(1)), comment_json("spam", "spam here"),
                    comment_json("fine", "a fine remark")):
        await redis_client.xadd(keys.comments, {"comment": payload})
    await drain(make_worker(redis_client, prefix, budget_ms=4))
    store = DecisionStore(redis_client, keys)
    long = await store.get("long")
    assert long is not None and long.action is Action.HOLD and long.rule == "rules-timeout"
    assert "time budget of 4 ms" in long.reason and "ran out in rule 'slow-shouting'" in long.reason
    # The others in the batch had their own budget and were judged by the rules as usual.
    spam, fine = await store.get("spam"), await store.get("fine")
    assert spam is not None and (spam.action, spam.rule) == (Action.HOLD, "hold-spam")
    assert fine is not None and fine.action is Action.APPROVE
    assert b"long" in await redis_client.zrange(keys.review, 0, -1)  # waiting for a moderator, not lost
    assert (await redis_client.xpending(keys.comments, "modbot"))["pending"] == 0


async def test_rules_do_not_block_the_event_loop(redis_client, prefix):
    keys = Keys(prefix)
    for i in range(12):
        await redis_client.xadd(keys.comments, {"comment": comment_json(f"c{i}", long_text(i))})
    worker = make_worker(redis_client, prefix, budget_ms=60_000)
    await worker.reader.ensure_group()
    batch = await worker.reader.read_batch(poll_ms=50)
    assert len(batch) == 12
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await worker.process(batch)
    took = time.perf_counter() - start
    task.cancel()
    decision = await DecisionStore(redis_client, keys).get("c0")
    assert decision is not None and decision.action is Action.APPROVE
    assert took > 0.1, took  # the rules were slow ...
    assert max(gaps) < took / 2, (max(gaps), took)  # ... and the loop kept running meanwhile


def test_explain_shows_where_the_budget_ran_out() -> None:
    ruleset = parse_rules(RULES.encode(), "rules.yaml")
    comment = Comment("c", long_text(2) + " spam", Author("u"))
    explanation = ruleset.explain(comment, Scores(), budget_s=0.004)
    assert explanation.verdict.rule == "rules-timeout" and explanation.verdict.action is Action.HOLD
    assert explanation.to_dict()["over_budget"] is True
    by_id = {r.id: r for r in explanation.rules}
    assert by_id["slow-shouting"].skipped == "stopped: the rules' time budget of 4 ms ran out"
    assert by_id["hold-spam"].skipped == "not evaluated: the rules' time budget of 4 ms ran out"
    assert ruleset.evaluate(comment, Scores(), budget_s=0.004).rule == "rules-timeout"
    # Without a budget (or a generous one) the same rules decide as written.
    assert ruleset.evaluate(comment, Scores()).rule == "hold-spam"
    assert ruleset.explain(comment, Scores(), budget_s=60.0).verdict.rule == "hold-spam"


def test_rules_timeout_is_a_reserved_rule_id() -> None:
    with pytest.raises(RuleSetInvalid, match="reserved"):
        parse_rules(b"version: 1\nrules:\n  - id: rules-timeout\n    action: hold\n    when: {text: [x]}\n", "r.yaml")


def test_budget_setting_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "modbot.yaml"
    path.write_text("rules:\n  budget_ms: 250\n")
    assert load_settings(path).rules.budget_ms == 250
    path.write_text("rules:\n  budget_ms: 0\n")
    with pytest.raises(ConfigError, match="budget_ms"):
        load_settings(path)


def test_the_budget_runs_out_inside_a_negated_text_search() -> None:
    """A `not:` around a text condition is written out inline (modbot.rules.judge): a search that runs past the
    budget there still holds the comment by rules-timeout, naming its rule."""
    rules = parse_rules(f"""\
version: 1
rules:
  - id: slow-negated
    action: reject
    when:
      all:
        - features: {{length: "> 10000"}}
        - not:
            text (includes, regex): [{SLOW_VALUES}]
""".encode(), "rules.yaml")
    verdict = rules.evaluate(Comment("c", long_text(1), Author("u")), Scores(), budget_s=0.002)
    assert verdict.action is Action.HOLD and verdict.over_budget
    assert "it ran out in rule 'slow-negated'" in verdict.reason
    assert rules.evaluate(Comment("c", long_text(1), Author("u")), Scores()).rule == "slow-negated"
