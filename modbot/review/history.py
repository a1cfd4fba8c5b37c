"""An author's recent history on a site, for the review page's author panel.

The worker's decision script keeps {p}author:{n}:{site}:{author id}: the ids of the author's last AUTHOR_HISTORY
decided comments, scored by decision time. The panel reads those ids, then each comment's current decision: a
moderator's verdict replaces the decision it judged, so the counts show verdicts without an index of their own.
Cost is bounded: one pipelined ZREVRANGE for all authors on the page, then one MGET of at most
AUTHOR_HISTORY decisions per distinct author. With several partitions (keys.py) each keeps its own index of the
author's comments in it: all are read (partitions x AUTHOR_HISTORY ids at most) and merged by decision time.

Decisions made before the index existed are not in it: such an author shows as having no recorded history
until they comment again (the panel says the history starts with the index, not that they are new).
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from modbot.decisions import AUTHOR_HISTORY
from modbot.keys import Keys
from modbot.models import Decision
from modbot.review.queue import ReviewItem
from modbot.rules.stats import review_outcome
from modbot.slots import mget

RECENT_SHOWN = 5  # decisions listed one by one; the rest only count


@dataclass(frozen=True)
class AuthorHistory:
    """What the page says about one author: their other recent decisions on the site, newest first."""

    decisions: tuple[Decision, ...]

    @property
    def by_action(self) -> dict[str, int]:
        """How many of these comments stand at each action now (a moderator's verdict counts as its action)."""
        return dict(Counter(d.action.value for d in self.decisions))

    @property
    def verdicts(self) -> dict[str, int]:
        """Moderators' verdicts on the author's held comments: how many upheld the hold, how many overturned it."""
        counts = {"upheld": 0, "overturned": 0}
        for d in self.decisions:
            outcome = review_outcome(d.action) if d.source == "moderator" else None
            if outcome:
                counts[outcome] += 1
        return counts

    @property
    def recent(self) -> tuple[Decision, ...]:
        return self.decisions[:RECENT_SHOWN]


def _author(item: ReviewItem) -> tuple[str | None, str]:
    return item.comment.site, item.comment.author.id


async def author_histories(redis: aioredis.Redis, keys: Keys,
                           items: Sequence[ReviewItem]) -> dict[str, AuthorHistory]:
    """Each item's author history by comment id, leaving out the item itself (it is on the page already).

    Two round trips for the whole page, whatever the number of items.
    """
    authors = list(dict.fromkeys(_author(i) for i in items))
    if not authors:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for site, author_id in authors:
            for part in keys.parts:
                pipe.zrevrange(part.author(site, author_id), 0, AUTHOR_HISTORY - 1, withscores=True)
        listed = await pipe.execute()
    ids_by_author: dict[tuple[str | None, str], list[str]] = {}
    for n, who in enumerate(authors):
        per_part = listed[n * keys.partitions:(n + 1) * keys.partitions]
        newest = heapq.merge(*per_part, key=lambda member: -member[1])
        ids_by_author[who] = [i.decode() if isinstance(i, bytes) else str(i)
                              for i, _ in itertools.islice(newest, AUTHOR_HISTORY)]
    all_ids = list(dict.fromkeys(cid for ids in ids_by_author.values() for cid in ids))
    decisions: dict[str, Decision] = {}
    for cid, raw in zip(all_ids, await mget(redis, [keys.decision(c) for c in all_ids]), strict=True):
        if raw is not None:  # an id whose decision was removed by hand: nothing to show for it
            decisions[cid] = Decision.from_dict(json.loads(raw))
    return {item.comment.id: AuthorHistory(tuple(
                decisions[cid] for cid in ids_by_author[_author(item)]
                if cid != item.comment.id and cid in decisions))
            for item in items}
