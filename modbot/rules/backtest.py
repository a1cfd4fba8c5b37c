"""Replay comments through rules: score once (cached), judge with one or two rule sets, compare, measure.

Pure work and local files only, except `read_history`, which reads the decision history from Redis.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modbot.errors import InvalidComment, ModbotError
from modbot.ingest.schema import parse_comment
from modbot.keys import Keys
from modbot.models import Action, Comment, ScorerOutput, Scores
from modbot.rules.engine import RuleSet, Verdict
from modbot.scorecache import ScoreCache, cache_key
from modbot.scoring.base import Scorer, merge
from modbot.slots import mget

_COMMENT_KEYS = {"id", "text", "author", "thread_id", "thread_url", "site", "created_at", "metadata"}


@dataclass(frozen=True)
class Case:
    """One comment to replay, with the expected action (`label`) and the decision recorded earlier, if known:
    its action, and the rule and reason that gave it (None for the default action)."""

    comment: Comment
    label: Action | None = None
    recorded: Action | None = None
    recorded_rule: str | None = None
    recorded_reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    case: Case
    verdict: Verdict
    baseline: Verdict | None = None  # the --against rules' verdict (or the recorded decision's action)

    @property
    def baseline_action(self) -> Action | None:
        return self.baseline.action if self.baseline is not None else self.case.recorded

    @property
    def baseline_rule(self) -> str | None:
        """The rule behind the baseline action: the --against rules' or the recorded decision's."""
        return self.baseline.rule if self.baseline is not None else self.case.recorded_rule

    @property
    def baseline_reason(self) -> str | None:
        return self.baseline.reason if self.baseline is not None else self.case.recorded_reason

    @property
    def changed(self) -> bool:
        return self.baseline_action is not None and self.baseline_action is not self.verdict.action

    def to_dict(self) -> dict[str, Any]:
        v = self.verdict
        out: dict[str, Any] = {"id": self.case.comment.id, "action": v.action.value, "rule": v.rule,
                               "reason": v.reason}
        if self.case.label is not None:
            out["label"] = self.case.label.value
        if self.baseline_action is not None:
            out["baseline_action"] = self.baseline_action.value
            out["baseline_rule"] = self.baseline_rule
            out["baseline_reason"] = self.baseline_reason
        return out


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why input lines were not replayed
    cache_hits: int = 0
    cache_misses: int = 0

    def counts(self, baseline: bool = False) -> Counter[str]:
        if baseline:
            return Counter(o.baseline_action.value for o in self.outcomes if o.baseline_action is not None)
        return Counter(o.verdict.action.value for o in self.outcomes)

    def transitions(self) -> Counter[tuple[str, str]]:
        """(baseline action, new action) -> count, over comments that have a baseline."""
        return Counter((o.baseline_action.value, o.verdict.action.value)
                       for o in self.outcomes if o.baseline_action is not None)

    def changed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.changed]

    def metrics(self, baseline: bool = False) -> dict[str, dict[str, float | int | None]]:
        """Precision and recall per action over the labelled comments."""
        pairs = [((o.baseline_action if baseline else o.verdict.action), o.case.label)
                 for o in self.outcomes if o.case.label is not None]
        out: dict[str, dict[str, float | int | None]] = {}
        for action in Action:
            tp = sum(1 for p, t in pairs if p is action and t is action)
            predicted = sum(1 for p, _ in pairs if p is action)
            actual = sum(1 for _, t in pairs if t is action)
            if predicted or actual:
                out[action.value] = {"precision": tp / predicted if predicted else None,
                                     "recall": tp / actual if actual else None,
                                     "predicted": predicted, "labelled": actual}
        return out


def case_from_json(data: Any) -> Case:
    """A corpus line: the comment schema, plus `label` (expected action); author may be left out and unknown
    top-level keys go to metadata, so exported data replays without cleaning."""
    if not isinstance(data, dict):
        raise InvalidComment("each line must be a JSON object")
    data = dict(data)
    label = data.pop("label", None)
    if label is not None and label not in {a.value for a in Action}:
        raise InvalidComment(f"'label' must be one of approve, hold, reject, spam; got {label!r}")
    extra = {k: data.pop(k) for k in list(data) if k not in _COMMENT_KEYS}
    if extra:
        data["metadata"] = {**(data.get("metadata") or {}), **extra}
    data.setdefault("author", {"id": "unknown"})
    return Case(parse_comment(data, max_text_chars=10_000_000), Action(label) if label else None)


def read_corpus(path: Path, skipped: list[str]) -> Iterator[Case]:
    """Cases from a JSONL file; bad lines are reported in `skipped` (line number and reason), not fatal."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield case_from_json(json.loads(line))
            except (json.JSONDecodeError, InvalidComment) as exc:
                skipped.append(f"{path}:{n}: {exc}")


async def read_history(redis: Any, keys: Keys, skipped: list[str], chunk: int = 1000) -> list[Case]:
    """Cases from the decision history: every comment in `{p}decisions` whose text is still in `{p}comment:{id}`.

    The latest automatic decision (its action, rule and reason) becomes the baseline; the latest moderator
    verdict that approved or removed the comment becomes the `label`, but only while it judged the text that is
    stored now (a verdict on a version the author has since edited says nothing about the new text).
    """
    recorded, labels = await _scan_history(redis, keys, skipped, chunk)
    cases = []
    ids = list(dict.fromkeys([*recorded, *labels]))
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        for cid, raw in zip(part, await mget(redis, [keys.comment(c) for c in part]), strict=True):
            if raw is None:
                skipped.append(f"comment {cid}: text no longer stored")
                continue
            try:
                comment = parse_comment(json.loads(raw), max_text_chars=10_000_000, check_ids=False)
            except (ValueError, InvalidComment) as exc:
                skipped.append(f"comment {cid}: {exc}")
                continue
            label = _current_label(comment, labels.get(cid), skipped)
            if cid in recorded:
                action, rule, reason = recorded[cid]
                cases.append(Case(comment, label, action, rule, reason))
            else:  # only a moderator verdict: no baseline
                cases.append(Case(comment, label))
    return cases


async def _scan_history(redis: Any, keys: Keys, skipped: list[str], chunk: int
                        ) -> tuple[dict[str, tuple[Action, str | None, str | None]], dict[str, tuple[Action, str]]]:
    """The latest automatic decision (action, rule, reason) and the latest moderator label (action, text hash)
    per comment id, reading the history streams in chunks. Each comment's decisions are all in its partition's
    stream, in order, so the partitions are read one after the other."""
    recorded: dict[str, tuple[Action, str | None, str | None]] = {}
    labels: dict[str, tuple[Action, str]] = {}
    for part in keys.parts:
        await _scan_stream(redis, part.decisions, skipped, chunk, recorded, labels)
    return recorded, labels


async def _scan_stream(redis: Any, stream: str, skipped: list[str], chunk: int,
                       recorded: dict[str, tuple[Action, str | None, str | None]],
                       labels: dict[str, tuple[Action, str]]) -> None:
    start = "-"
    while True:
        entries = await redis.xrange(stream, min=start, max="+", count=chunk)
        for entry_id, fields in entries:
            raw = fields.get(b"decision") or fields.get("decision")
            try:
                d = json.loads(raw)
                cid, action = str(d["comment_id"]), Action(d["action"])
            except (TypeError, ValueError, KeyError):
                skipped.append(f"decision {entry_id!r}: unreadable")
                continue
            if d.get("source", "auto") == "moderator":
                if action is not Action.HOLD:
                    labels[cid] = (action, str(d.get("text_sha256") or ""))
            else:
                rule, reason = d.get("rule"), d.get("reason")
                recorded[cid] = (action, rule if isinstance(rule, str) else None,
                                 reason if isinstance(reason, str) else None)
        if len(entries) < chunk:
            break
        last = entries[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else last)


def _current_label(comment: Comment, label: tuple[Action, str] | None, skipped: list[str]) -> Action | None:
    """The moderator's label if it judged this text (old decisions without a hash are trusted)."""
    if label is None:
        return None
    action, judged = label
    if judged and judged != comment.text_sha256:
        skipped.append(f"comment {comment.id}: the moderator's verdict was on an earlier version; not a label")
        return None
    return action


async def score_cached(scorers: Sequence[Scorer], comments: Sequence[Comment], cache: ScoreCache) -> list[Scores]:
    """Scores for `comments`, asking each scorer only about texts it has not scored before (same version)."""
    per_comment: list[list[ScorerOutput]] = [[] for _ in comments]
    errors: list[dict[str, str]] = [{} for _ in comments]
    for scorer in scorers:
        version = scorer.version
        keys = [cache_key(scorer.name, version, c.text) for c in comments]
        found = cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            # One text per key: duplicates in the batch are scored once.
            todo = list({keys[i]: i for i in missing}.values())
            try:
                outs = await scorer.score([comments[i] for i in todo])
            except ModbotError as exc:
                for i in missing:
                    errors[i][scorer.name] = str(exc)
                continue
            new = {keys[i]: out for i, out in zip(todo, outs, strict=True)}
            cache.put_many(new)
            found.update(new)
        for i, k in enumerate(keys):
            if k in found:
                per_comment[i].append(found[k])
    return [merge(outs, errs) for outs, errs in zip(per_comment, errors, strict=True)]


def _judge(batch: Sequence[Case], scores: Sequence[Scores], rules: RuleSet, against: RuleSet | None,
           budget_s: float | None) -> list[Outcome]:
    return [Outcome(case, rules.evaluate(case.comment, s, budget_s),
                    against.evaluate(case.comment, s, budget_s) if against else None)
            for case, s in zip(batch, scores, strict=True)]


async def backtest(cases: Sequence[Case], scorers: Sequence[Scorer], rules: RuleSet, against: RuleSet | None,
                   cache: ScoreCache, batch_size: int = 64,
                   progress: Callable[[int], None] | None = None, budget_s: float | None = None) -> Report:
    """Score (through the cache) and judge every case with `rules`, and with `against` when given.

    Judging runs as the daemon's does: in a worker thread, each comment within `budget_s` (rules.budget_ms), so a
    replay shows the `rules-timeout` holds the daemon would make."""
    report = Report()
    hits0, misses0 = cache.hits, cache.misses
    for start in range(0, len(cases), batch_size):
        batch = cases[start:start + batch_size]
        scores = await score_cached(scorers, [c.comment for c in batch], cache)
        report.outcomes.extend(await asyncio.to_thread(_judge, batch, scores, rules, against, budget_s))
        if progress is not None:
            progress(len(batch))
    report.cache_hits, report.cache_misses = cache.hits - hits0, cache.misses - misses0
    return report
