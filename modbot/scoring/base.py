"""The one interface every scorer implements, and how their outputs merge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from modbot.models import Comment, Match, ScorerOutput, Scores


class Scorer(Protocol):
    """A scorer. `score` returns one output per comment, in order; it raises ScorerError on failure."""

    name: str

    @property
    def version(self) -> str: ...

    async def score(self, batch: Sequence[Comment]) -> list[ScorerOutput]: ...

    async def close(self) -> None: ...


def merge(outputs: Sequence[ScorerOutput], errors: dict[str, str] | None = None) -> Scores:
    """Merge one comment's outputs from several scorers into Scores (labels from later scorers win)."""
    labels: dict[str, float] = {}
    matches: list[Match] = []
    for out in outputs:
        labels.update(out.labels)
        matches.extend(out.matches)
    matches.sort(key=lambda m: (m.start, m.end))
    return Scores(labels=labels, matches=tuple(matches), errors=dict(errors or {}))
