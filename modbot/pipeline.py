"""The pure middle of the data path: build scorers, score a batch, turn rules' verdicts into decisions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from modbot import metrics
from modbot.config import Settings
from modbot.models import Comment, Decision, Match, ScorerOutput, Scores
from modbot.rules import RuleSet
from modbot.scoring.base import Scorer, merge

log = logging.getLogger("modbot.pipeline")


async def build_scorers(settings: Settings) -> list[Scorer]:
    """The scorers named in `scorers.enabled` (or `--scorers`), loaded and ready."""
    scorers: list[Scorer] = []
    for name in settings.scorers.enabled:
        if name == "patterns":
            from modbot.scoring.patterns import PatternScorer
            scorers.append(PatternScorer.from_file(settings.scorers.patterns.file))
        elif name == "toxicity":
            from modbot.scoring.toxicity import ToxicityScorer
            scorers.append(await ToxicityScorer.load(settings.scorers.toxicity))
    return scorers


def pattern_categories(scorers: Sequence[Scorer]) -> frozenset[str] | None:
    """The categories the pattern lexicon defines, so rules naming an unknown one are refused; None when the
    pattern scorer is not in use (then any category name is accepted)."""
    from modbot.scoring.patterns import PatternScorer
    for s in scorers:
        if isinstance(s, PatternScorer):
            return s.lexicon.categories
    return None


async def score_batch(scorers: Sequence[Scorer], comments: Sequence[Comment]) -> list[Scores]:
    """Run every scorer over the batch concurrently. A scorer that fails is named in each comment's
    `Scores.errors`; the rules' scorer-failure policy decides what that means."""
    if not comments:
        return []
    results = await asyncio.gather(*(_timed(s, comments) for s in scorers), return_exceptions=True)
    per_comment: list[list[ScorerOutput]] = [[] for _ in comments]
    errors: dict[str, str] = {}
    for scorer, result in zip(scorers, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            errors[scorer.name] = f"{type(result).__name__}: {result}"
            metrics.SCORER_FAILURES.labels(scorer.name).inc()
            log.error("scorer failed", extra={"scorer": scorer.name, "error": errors[scorer.name],
                                              "batch": len(comments)})
            continue
        if len(result) != len(comments):
            errors[scorer.name] = f"returned {len(result)} results for {len(comments)} comments"
            continue
        for outputs, out in zip(per_comment, result, strict=True):
            outputs.append(out)
    return [merge(outputs, errors) for outputs in per_comment]


async def _timed(scorer: Scorer, comments: Sequence[Comment]) -> list[ScorerOutput]:
    with metrics.SCORER_SECONDS.labels(scorer.name).time():
        return await scorer.score(comments)


def versions(scorers: Sequence[Scorer], ruleset: RuleSet) -> dict[str, str]:
    """What produced a decision (each scorer's model or lexicon version, and the rules file's), recorded on it so
    a decision can be traced and re-judged after a model or rules change."""
    out = {s.name: s.version for s in scorers}
    out["rules"] = ruleset.version
    return out


def decide(comment: Comment, scores: Scores, ruleset: RuleSet, versions: dict[str, str],
           budget_s: float | None = None) -> Decision:
    """Apply the rules (within `budget_s` seconds, see RuleSet.evaluate) and build the decision record."""
    verdict = ruleset.evaluate(comment, scores, budget_s)
    relied_on = Match.strongest(verdict.matches)
    return Decision(
        comment_id=comment.id,
        action=verdict.action,
        rule=verdict.rule,
        reason=verdict.reason,
        scores=dict(scores.labels),
        matches=scores.matches,
        versions=versions,
        decided_at=datetime.now(UTC),
        priority=verdict.priority,
        scorer_errors=dict(scores.errors),
        site=comment.site,
        thread_id=comment.thread_id,
        text_sha256=comment.text_sha256,
        stance=relied_on.stance if relied_on else None,
    )


async def decide_batch(comments: Sequence[Comment], scores: Sequence[Scores], ruleset: RuleSet,
                       versions: dict[str, str], budget_s: float | None) -> list[Decision]:
    """Decide a scored batch in a worker thread: rules are plain Python and must never hold up the event loop
    (Redis, delivery, the review page). Each comment has its own `budget_s`, so one slow comment cannot use up
    the others' time."""
    def run() -> list[Decision]:
        return [decide(c, s, ruleset, versions, budget_s) for c, s in zip(comments, scores, strict=True)]

    return await asyncio.to_thread(run)


async def close_scorers(scorers: Sequence[Scorer]) -> None:
    """Release what the scorers hold (the toxicity model's worker thread) on shutdown; one at a time, in order."""
    for s in scorers:
        await s.close()
