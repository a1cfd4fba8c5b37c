"""The worker: read a batch, validate, score together, apply rules, store each decision and acknowledge."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from modbot import metrics
from modbot.config import StreamSettings
from modbot.deadletter import DeadLetterLimits
from modbot.decisions import Ack, DecisionStore, Outcome
from modbot.errors import InvalidComment
from modbot.ingest.schema import decode_message
from modbot.ingest.stream import StreamMessage, StreamReader
from modbot.keys import Keys
from modbot.models import Comment, Scores
from modbot.pipeline import decide_batch, score_batch, versions
from modbot.retry import pause_after_outage, run_resilient
from modbot.rules import RuleSet
from modbot.rules.engine import RULES_TIMEOUT
from modbot.scoring.base import Scorer

log = logging.getLogger("modbot.worker")


@dataclass(frozen=True)
class ScoredBatch:
    """A batch's comments that need a decision, each with its message's ack, and their scores, in order."""

    items: list[tuple[Comment, Ack]]
    scores: list[Scores]
    started: float  # time.perf_counter() when the batch was taken up: the batch-seconds metric counts from here


class Worker:
    """One consumer of the input stream.

    scorers: loaded scorers, run together on each batch.
    rules: a callable returning the current RuleSet (so hot reload swaps rules between batches).
    rules_budget_ms: the time the rules may take per comment (rules.budget_ms, default 500); past it the comment
        is held by the `rules-timeout` pseudo-rule.
    """

    def __init__(self, redis: aioredis.Redis, keys: Keys, settings: StreamSettings, consumer: str,
                 scorers: Sequence[Scorer], rules: Callable[[], RuleSet], rules_budget_ms: int = 500) -> None:
        self.keys = keys
        self.settings = settings
        self.reader = StreamReader(redis, keys, settings, consumer)
        self.store = DecisionStore(redis, keys, settings.history_maxlen,
                                   DeadLetterLimits(settings.deadletter_maxlen, settings.deadletter_raw_bytes))
        self.scorers = list(scorers)
        self.rules = rules
        self.rules_budget_s = rules_budget_ms / 1000
        self.processed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until `stop` is set; the batch in hand is always finished and acknowledged.

        Batches overlap: while batch k's decisions are made and stored (rules in a thread, one Redis pipeline),
        batch k+1 is read and scored, so the model starts again as soon as it is free, with whatever has arrived.
        Batch k is stored before batch k+1, so one comment's decisions are stored in the order it was read.
        """
        log.info("worker started", extra={"stream": self.keys.comments, "group": self.settings.group,
                                          "consumer": self.reader.consumer})
        loop = asyncio.get_running_loop()
        next_trim = 0.0
        storing: asyncio.Task[None] | None = None

        async def step() -> None:
            nonlocal next_trim, storing
            batch = await self.reader.read_batch()
            scored = await self._score(batch) if batch else None
            if storing is not None:
                # the previous batch first: order per comment, and its Redis errors surface here (its messages
                # then stay pending and are reclaimed, as with any failed store)
                previous, storing = storing, None
                await previous
            if scored is not None:
                storing = asyncio.create_task(self._store(scored, stop), name="worker-store")
            if self.settings.trim_acked and loop.time() >= next_trim:
                next_trim = loop.time() + 10.0  # trimming is housekeeping: every few seconds is plenty
                await self.reader.trim_acked()

        try:
            await run_resilient(step, self.reader.ensure_group, stop, log)
        finally:
            if storing is not None:
                try:
                    await storing
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    # stopping during an outage: the batch stays pending and is decided by whoever reads next
                    log.warning("last batch not stored: redis unavailable; it stays pending",
                                extra={"error": str(exc)})

    async def process(self, batch: Sequence[StreamMessage]) -> None:
        """Decide one batch. Bad messages are dead-lettered; already-decided comments are only acknowledged."""
        scored = await self._score(batch)
        if scored is not None:
            await self._store(scored)

    async def _score(self, batch: Sequence[StreamMessage]) -> ScoredBatch | None:
        """Read, dead-letter, drop duplicates and score a batch; None when nothing in it needs a decision."""
        started = time.perf_counter()
        group = self.settings.group
        valid: list[tuple[Comment, Ack]] = []
        for msg in batch:
            ack = Ack(self.keys.comments, group, msg.id)
            raw = msg.fields.get(b"comment")
            try:
                if raw is None:
                    raise InvalidComment("message has no 'comment' field (XADD <stream> * comment <json>)")
                comment = decode_message(raw, self.settings.max_text_chars)
            except Exception as exc:  # noqa: BLE001 - any message that cannot be read must not stop the worker
                # InvalidComment carries its reason; anything else is a bug in reading, kept with its message.
                reason = str(exc) if isinstance(exc, InvalidComment) else f"unreadable: {type(exc).__name__}: {exc}"
                log.warning("dead-lettered", extra={"message_id": msg.id, "reason": reason},
                            exc_info=not isinstance(exc, InvalidComment))
                await self.store.dead_letter(ack, raw if raw is not None else repr(msg.fields).encode(), reason)
                metrics.COMMENTS.labels("deadlettered").inc()
                continue
            valid.append((comment, ack))

        # The same comment twice in one batch (a retry, or an edit) is decided once, in its latest version.
        latest = {comment.id: n for n, (comment, _) in enumerate(valid)}
        fresh: list[tuple[Comment, Ack]] = []
        skipped: list[Ack] = []
        done = await self.store.decided([c for c, _ in valid])
        for n, (comment, ack) in enumerate(valid):
            if latest[comment.id] != n or comment.id in done:
                log.info("already decided; acknowledged" if comment.id in done else "superseded in batch",
                         extra={"comment_id": comment.id})
                skipped.append(ack)
                metrics.COMMENTS.labels("duplicate").inc()
                continue
            fresh.append((comment, ack))
        await self.store.acknowledge(*skipped)
        if not fresh:
            return None
        scores = await score_batch(self.scorers, [c for c, _ in fresh])
        return ScoredBatch(fresh, scores, started)

    async def _store(self, scored: ScoredBatch, stop: asyncio.Event | None = None) -> None:
        """Apply the rules and store each decision, its message acknowledged in the same step.

        With `stop` (the run loop), a Redis outage is waited out and the same decisions are stored again
        (storing twice is harmless: the same text is only acknowledged), so a batch already scored is not
        lost to a broken connection; stopping meanwhile leaves its messages pending for the next reader."""
        fresh = scored.items
        comments = [c for c, _ in fresh]
        ruleset = self.rules()
        vers = versions(self.scorers, ruleset)
        decisions = await decide_batch(comments, scored.scores, ruleset, vers, self.rules_budget_s)
        items = [(c, d, a) for (c, a), d in zip(fresh, decisions, strict=True)]
        failures = 0
        while True:
            try:
                stored = await self.store.record_many(items)
                break
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if stop is None or stop.is_set():
                    raise
                failures += 1
                await pause_after_outage(exc, failures, stop, log)
        self.processed += len(fresh)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - scored.started)
        for (comment, _), decision, outcome in zip(fresh, decisions, stored, strict=True):
            metrics.COMMENTS.labels(outcome.metric).inc()
            if outcome is not Outcome.ALREADY:
                metrics.DECISIONS.labels(decision.action.value, decision.rule or "(default)").inc()
            if decision.rule == RULES_TIMEOUT:
                log.warning("rules ran past their time budget; held", extra={"comment_id": comment.id,
                                                                             "reason": decision.reason})
            log.info(outcome.log_message,
                     extra={"comment_id": comment.id, "action": decision.action.value, "rule": decision.rule,
                            "reason": decision.reason})
