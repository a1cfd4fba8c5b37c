"""Backtest: replay a corpus or the Redis history, cached scores, --against shadow mode, precision and recall."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.commands import backtest as backtest_cmd
from modbot.config import load_settings
from modbot.connections import connect
from modbot.decisions import DecisionStore
from modbot.errors import ScorerError
from modbot.ingest.schema import comment_to_dict
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision, Match, ScorerOutput
from modbot.rules import load_rules, parse_rules
from modbot.rules.backtest import Case, backtest, read_corpus, read_history
from modbot.scorecache import ScoreCache

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
TROPE = "Zionist supported terror"


class FixedScorer:
    """A deterministic in-test scorer: toxic when the text says "idiot", a trope match on TROPE. Counts texts."""

    def __init__(self, version: str = "1", fail: bool = False) -> None:
        self.name = "fixed"
        self._version = version
        self.fail = fail
        self.scored: list[str] = []

    @property
    def version(self) -> str:
        return self._version

    async def score(self, batch: Sequence[Comment]) -> list[ScorerOutput]:
        if self.fail:
            raise ScorerError("model unavailable")
        out = []
        for c in batch:
            self.scored.append(c.text)
            matches = ()
            if TROPE in c.text:
                start = c.text.index(TROPE)
                matches = (Match("antisemitic_conspiracy", "trope", start, start + len(TROPE), TROPE, 3),)
            out.append(ScorerOutput({"toxicity": 0.95 if "idiot" in c.text else 0.02}, matches))
        return out

    async def close(self) -> None:
        return None


RULES_A = """
version: 1
rules:
  - id: antisemitic
    priority: 100
    action: hold
    reason: "Antisemitic conspiracy trope: {{match}}"
    when: {pattern: {category: antisemitic_conspiracy}}
  - id: toxic
    action: hold
    when: {score: {label: toxicity, gte: 0.9}}
"""
RULES_B = RULES_A.replace("action: hold\n    when: {score", "action: reject\n    when: {score")


def corpus(tmp_path: Path) -> Path:
    lines = [
        {"id": "a", "text": f"thanks to {TROPE} forces", "label": "hold"},
        {"id": "b", "text": "you idiot", "label": "reject", "author": {"id": "u2", "name": "Rude"}},
        {"id": "c", "text": "Troops crossed the river.", "label": "approve", "extra_field": 1},
        {"id": "d", "text": "another idiot take", "label": "hold"},
    ]
    path = tmp_path / "comments.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n{broken\n" + json.dumps({"id": "e"}) + "\n")
    return path


def test_read_corpus_skips_bad_lines_with_their_number(tmp_path: Path) -> None:
    skipped: list[str] = []
    cases = list(read_corpus(corpus(tmp_path), skipped))
    assert [c.comment.id for c in cases] == ["a", "b", "c", "d"]
    assert cases[1].label is Action.REJECT and cases[1].comment.author.name == "Rude"
    assert cases[2].comment.metadata == {"extra_field": 1}
    assert len(skipped) == 2 and ":5:" in skipped[0] and ":6:" in skipped[1] and "'text' is required" in skipped[1]


async def test_second_run_hits_the_cache_and_scores_nothing(tmp_path: Path) -> None:
    cases = list(read_corpus(corpus(tmp_path), []))
    rules = parse_rules(RULES_A.encode(), "a.yaml")
    scorer = FixedScorer()
    cache_file = tmp_path / "cache" / "scores.sqlite"
    cache = ScoreCache(cache_file)
    first = await backtest(cases, [scorer], rules, None, cache)
    cache.close()
    assert (first.cache_hits, first.cache_misses) == (0, 4)
    assert len(scorer.scored) == 4
    # A rule change: a new rule set, a new process (new cache handle on the same file).
    cache = ScoreCache(cache_file)
    second = await backtest(cases, [scorer], parse_rules(RULES_B.encode(), "b.yaml"), None, cache)
    assert (second.cache_hits, second.cache_misses) == (4, 0)
    assert len(scorer.scored) == 4  # nothing re-scored
    assert [o.verdict.action for o in second.outcomes] == [Action.HOLD, Action.REJECT, Action.APPROVE,
                                                           Action.REJECT]
    # A new scorer version misses.
    third = await backtest(cases, [FixedScorer(version="2")], rules, None, cache)
    assert third.cache_misses == 4
    cache.close()


async def test_scorer_failure_follows_policy_and_is_not_cached(tmp_path: Path) -> None:
    cases = list(read_corpus(corpus(tmp_path), []))
    cache = ScoreCache(None)
    report = await backtest(cases, [FixedScorer(fail=True)], parse_rules(RULES_A.encode(), "a.yaml"), None, cache)
    assert {o.verdict.action for o in report.outcomes} == {Action.HOLD}
    assert all(o.verdict.scorer_failed for o in report.outcomes)
    again = await backtest(cases, [FixedScorer()], parse_rules(RULES_A.encode(), "a.yaml"), None, cache)
    assert again.cache_hits == 0


async def test_against_shows_changes_transitions_and_metrics(tmp_path: Path) -> None:
    cases = list(read_corpus(corpus(tmp_path), []))
    new, old = parse_rules(RULES_B.encode(), "b.yaml"), parse_rules(RULES_A.encode(), "a.yaml")
    report = await backtest(cases, [FixedScorer()], new, old, ScoreCache(None), batch_size=3)
    assert [o.case.comment.id for o in report.changed()] == ["b", "d"]
    assert report.transitions() == {("hold", "hold"): 1, ("hold", "reject"): 2, ("approve", "approve"): 1}
    m = report.metrics()
    assert m["reject"] == {"precision": 0.5, "recall": 1.0, "predicted": 2, "labelled": 1}
    assert m["hold"]["recall"] == 0.5 and m["hold"]["precision"] == 1.0
    base = report.metrics(baseline=True)
    assert base["hold"]["precision"] == pytest.approx(2 / 3)
    assert base["reject"]["recall"] == 0.0


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    backtest_cmd.add_arguments(parser)
    return backtest_cmd.run(parser.parse_args(list(argv)))


def test_cli_with_against_labels_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Without scorers the rules judge text, author and features: enough to exercise the whole command.
    new = tmp_path / "new.yaml"
    new.write_text("version: 1\nrules:\n  - id: trope-text\n    action: hold\n    reason: 'Antisemitic: {{match}}'\n"
                   f"    when: {{text (includes): ['{TROPE}']}}\n"
                   "  - id: insults\n    action: reject\n    when: {text: [idiot]}\n")
    old = tmp_path / "old.yaml"
    old.write_text("version: 1\nrules:\n  - id: never\n    action: hold\n    when: {text: [zzz-never-said]}\n")
    out = tmp_path / "decisions.jsonl"
    rc = run_cli("--scorers", "", "--rules", str(new), "--against", str(old), "--input", str(corpus(tmp_path)),
                 "--output", str(out), "--no-cache", "--no-progress")
    assert rc == 0
    text = capsys.readouterr().out
    assert "replayed 4 comments" in text
    assert "actions: approve 1, hold 1, reject 2, spam 0" in text
    assert "3 of 4 decisions would change" in text
    assert "b: approve (default) -> reject (insults)" in text
    assert "  approve         1        1        2        0" in text  # transition row from the baseline "approve"
    assert "against labels (4 labelled comments)" in text
    assert "skipped" in text and ":5:" in text
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0] == {"id": "a", "action": "hold", "rule": "trope-text", "reason": f"Antisemitic: {TROPE}",
                       "label": "hold", "baseline_action": "approve", "baseline_rule": None,
                       "baseline_reason": "No rule matched"}
    assert {r["id"]: r["action"] for r in rows} == {"a": "hold", "b": "reject", "c": "approve", "d": "reject"}


def test_cli_reports_cache_hits_on_the_second_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = FixedScorer()

    async def build(settings: object) -> list[FixedScorer]:
        return [scorer]

    # The real scorers need the pipeline module and a model; the command's scorer factory is its seam.
    monkeypatch.setattr(backtest_cmd, "build_scorers", build)
    args = ["--rules", str(ROOT / "config" / "rules.yaml"), "--input", str(DATA / "rules_seed.jsonl"),
            "--cache", str(tmp_path / "c.sqlite"), "--no-progress"]
    assert run_cli(*args) == 0
    first = capsys.readouterr().out
    assert "score cache: 0 hits, 13 misses" in first
    assert "actions: approve 12, hold 1, reject 0, spam 0" in first
    assert "hold          1.00    1.00" in first and "approve       1.00    1.00" in first
    assert run_cli(*args) == 0
    assert "score cache: 13 hits, 0 misses" in capsys.readouterr().out
    assert len(scorer.scored) == 13


async def test_from_redis_history(redis_client: aioredis.Redis, redis_url: str, prefix: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    keys = Keys(prefix)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    texts = {"h1": "you idiot", "h2": "Troops crossed the river.", "h3": "gone"}
    for cid, text in texts.items():
        if cid != "h3":  # h3's text expired: reported, not replayed
            await redis_client.set(keys.comment(cid), json.dumps(comment_to_dict(Comment(cid, text, Author("u")))))

    def decision(cid: str, action: Action, source: str = "auto") -> str:
        return json.dumps(Decision(cid, action, None, "", {}, (), {}, now, source=source).to_dict())

    for cid, action, source in [("h1", Action.APPROVE, "auto"), ("h1", Action.HOLD, "auto"),
                                ("h1", Action.REJECT, "moderator"), ("h2", Action.APPROVE, "auto"),
                                ("h3", Action.APPROVE, "auto")]:
        await redis_client.xadd(keys.decisions, {"decision": decision(cid, action, source)})
    skipped: list[str] = []
    cases = await read_history(redis_client, keys, skipped, chunk=2)
    assert {c.comment.id: (c.recorded, c.label) for c in cases} == {"h1": (Action.HOLD, Action.REJECT),
                                                                    "h2": (Action.APPROVE, None)}
    assert skipped == ["comment h3: text no longer stored"]

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: insults\n    action: reject\n    when: {text: [idiot]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nrules:\n  file: rules.yaml\n"
                   "scorers:\n  enabled: []\nsink:\n  type: log\n")
    parser = argparse.ArgumentParser()
    backtest_cmd.add_arguments(parser)
    args = parser.parse_args(["--config", str(cfg), "--from-redis", "--no-cache", "--no-progress"])
    assert await backtest_cmd.run_async(args) == 0
    out = capsys.readouterr().out
    assert "replayed 2 comments" in out
    assert "baseline: the recorded decisions; 1 of 2 decisions would change" in out
    assert "h1: hold (default) -> reject (insults)" in out
    assert "reject        1.00    1.00" in out


async def test_from_redis_baseline_names_the_recorded_rule(redis_client: aioredis.Redis, redis_url: str, prefix: str,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = Keys(prefix)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await redis_client.set(keys.comment("c-2"), json.dumps(comment_to_dict(Comment("c-2", "nice", Author("u")))))
    held = Decision("c-2", Action.HOLD, "antisemitic-conspiracy", f"Antisemitic conspiracy trope: {TROPE}", {}, (),
                    {}, now)
    await redis_client.xadd(keys.decisions, {"decision": json.dumps(held.to_dict())})
    cases = await read_history(redis_client, keys, [])
    assert [(c.recorded, c.recorded_rule, c.recorded_reason) for c in cases] == [
        (Action.HOLD, "antisemitic-conspiracy", f"Antisemitic conspiracy trope: {TROPE}")]

    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n  - id: r\n    action: hold\n    when: {text: [x]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text(f"redis:\n  url: {redis_url}\n  prefix: '{prefix}'\nrules:\n  file: rules.yaml\n"
                   "scorers:\n  enabled: []\nsink:\n  type: log\n")
    out_file = tmp_path / "out.jsonl"
    parser = argparse.ArgumentParser()
    backtest_cmd.add_arguments(parser)
    args = parser.parse_args(["--config", str(cfg), "--from-redis", "--no-cache", "--no-progress",
                              "--output", str(out_file)])
    assert await backtest_cmd.run_async(args) == 0
    assert "c-2: hold (antisemitic-conspiracy) -> approve (default)" in capsys.readouterr().out
    row = json.loads(out_file.read_text())
    assert row["baseline_rule"] == "antisemitic-conspiracy" and row["baseline_reason"].startswith("Antisemitic")


async def test_from_redis_finds_the_daemons_embedded_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MODBOT_REDIS_URL", raising=False)
    monkeypatch.delenv("MODBOT_DATA_DIR", raising=False)
    (tmp_path / "rules.yaml").write_text("version: 1\nrules:\n  - id: r\n    action: hold\n    when: {text: [x]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text("redis:\n  data_dir: data\nrules:\n  file: rules.yaml\nscorers:\n  enabled: []\n"
                   "sink:\n  type: log\n")
    settings = load_settings(cfg)
    daemon = await connect(settings.redis)  # what `modbot run` does: start the embedded server, hold the lock
    try:
        keys = Keys(settings.redis.prefix, settings.stream.name)
        await daemon.redis.set(keys.comment("e1"), json.dumps(comment_to_dict(Comment("e1", "x marks", Author("u")))))
        d = Decision("e1", Action.APPROVE, None, "No rule matched", {}, (), {}, datetime(2026, 1, 1, tzinfo=UTC))
        await daemon.redis.xadd(keys.decisions, {"decision": json.dumps(d.to_dict())})
        parser = argparse.ArgumentParser()
        backtest_cmd.add_arguments(parser)
        args = parser.parse_args(["--config", str(cfg), "--from-redis", "--no-cache", "--no-progress"])
        assert await backtest_cmd.run_async(args) == 0
        out = capsys.readouterr().out
        assert "replayed 1 comments" in out and "e1: approve (default) -> hold (r)" in out
    finally:
        await daemon.close()


def test_warns_about_rules_whose_scorer_is_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\nrules:\n  - id: toxic\n    action: hold\n"
                     "    when: {score: {label: toxicity, gte: 0.9}}\n")
    assert run_cli("--scorers", "", "--rules", str(rules), "--input", str(corpus(tmp_path)), "--no-cache",
                   "--no-progress") == 0
    err = capsys.readouterr().err
    assert f"warning: {rules}:3: rule 'toxic' tests score toxicity but the 'toxicity' scorer is not enabled" in err


def test_seed_corpus_is_labelled_and_parses() -> None:
    cases = list(read_corpus(DATA / "rules_seed.jsonl", []))
    assert len(cases) == 13 and cases[0].label is Action.HOLD
    assert all(isinstance(c, Case) for c in cases)
    assert load_rules(ROOT / "config" / "rules.yaml").rules


async def test_from_redis_drops_a_label_given_to_an_earlier_version(redis_client: aioredis.Redis,
                                                                     prefix: str) -> None:
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    now = datetime.now(UTC)
    first = Comment("e1", "the media is owned by the j3ws", Author("u"))
    held = Decision("e1", Action.HOLD, "antisemitic-conspiracy", "", {}, (), {}, now, text_sha256=first.text_sha256)
    await store.record(first, held)
    await store.record_verdict("e1", Action.APPROVE, "alice", text_sha256=first.text_sha256)
    edited = Comment("e1", "the media is owned by the j3ws, wake up (edited)", Author("u"))
    await store.record(edited, replace(held, text_sha256=edited.text_sha256))  # decided again after the edit
    skipped: list[str] = []
    [case] = await read_history(redis_client, keys, skipped)
    assert case.comment.text == edited.text and case.recorded is Action.HOLD
    assert case.label is None  # alice approved the old text, not this one
    assert skipped == ["comment e1: the moderator's verdict was on an earlier version; not a label"]
