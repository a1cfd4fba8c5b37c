"""Every Redis key modbot uses, in one place. All keys start with the configured prefix (default "modbot:").

Keys marked * belong to a partition (`redis.partitions`; a comment's partition is crc32 of its id, mod the
count): everything one comment's decision touches is in one partition, so each Lua script and transaction
touches one Redis Cluster hash slot. With one partition and no cluster (the default) they are named as in the
table; otherwise {p} is followed by the partition's hash tag, e.g. `modbot:{p3}:decision:42`, and readers
merge the partitions. Keys without * are read and written one at a time, so they need no tag (but the dead
letters and their trimmed count change together: tagged, they are `{p}{deadletter}` and `{p}{deadletter}:trimmed`).

| key                         | type   | what                                                                  |
|-----------------------------|--------|-----------------------------------------------------------------------|
| {p}comments                 | stream | input: field `comment` = comment JSON (the stream name is configurable) |
| {p}deadletter               | stream | rejected input: `reason`, `raw` (cut), `raw_length`, `source_id`, `at` |
| {p}deadletter:trimmed       | string | how many dead letters were trimmed off (stream.deadletter_maxlen)     |
| {p}identity                 | hash   | the data's identity: `id`, `created`; `lost_*`: the last data loss    |
| {p}alive:{consumer}         | string | a running daemon's heartbeat (expires after stream.heartbeat_ttl_s)   |
| {p}outbox:state:{sink}      | hash   | delivery state: failures in a row, last error, next attempt, last ok  |
| *{p}comment:{id}            | string | the comment JSON as received (schema of ingest/schema.py)              |
| *{p}decision:{id}           | string | the latest decision JSON for the comment (Decision.to_dict)            |
| *{p}from:{id}               | string | stream id of the message whose text was decided (stale versions lose) |
| *{p}decisions               | stream | every decision ever made, in order: field `decision` = JSON            |
| *{p}review                  | zset   | held comment ids; score orders by priority (high first) then age      |
| *{p}review:escalated        | zset   | held comments a moderator escalated (same scores as {p}review)         |
| *{p}review:counts:{queue}   | hash   | filter counts of held/escalated: `rule|{rule}`, `cat|{category}`, `built` |
| *{p}author:{n}:{site}:{id}  | zset   | author's last 50 decided comment ids by decision time; n = len(site) |
| *{p}escalation:{id}         | string | JSON: who escalated the comment, when, and their note (review/escalation.py) |
| *{p}outbox                  | stream | decisions waiting for delivery: field `decision` = JSON; group `sink` |
| *{p}outbox:failed           | stream | decisions refused for good (4xx, 3xx) or unsendable, with `error`     |
| *{p}rulestats               | hash   | `{rule}|fired`, `{rule}|held`, `{rule}|upheld`, `{rule}|overturned`    |
| *{p}patternstats            | hash   | `{entry}|{stance}|fired`, ...|held, |upheld, |overturned (patternstats.py) |
| *{p}audit                   | stream | moderator actions: who, when, what, previous state                    |
| *{p}claim:{id}              | string | moderator holding a review item (expires)                             |
| *{p}review:pending          | zset   | comment ids with a verdict inside its undo window; score = due time   |
| *{p}pending:{id}            | string | JSON: the pending verdict, who, note, when, due, queue and score it left |
| {p}wp:cursor                | string | WordPress poller position                                             |
| {p}session:{sha256(token)}  | string | review page login session JSON (user, csrf token); expires            |
| {p}lease:outbox:{n}         | string | which daemon delivers partition n's outbox (expires; outbox_lease.py) |
| {p}deliverers               | zset   | daemons that deliver, scored by when their registration runs out       |
"""

from __future__ import annotations

import zlib

OUTBOX_GROUP = "sink"
MAX_PARTITIONS = 1024


class Part:
    """The keys of one partition: all in one hash slot when `base` ends with a hash tag."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.decisions = base + "decisions"
        self.review = base + "review"
        self.review_escalated = base + "review:escalated"
        self.review_counts_held = base + "review:counts:held"
        self.review_counts_escalated = base + "review:counts:escalated"
        self.outbox = base + "outbox"
        self.outbox_failed = base + "outbox:failed"
        self.rulestats = base + "rulestats"
        self.patternstats = base + "patternstats"
        self.audit = base + "audit"
        self.review_pending = base + "review:pending"

    def comment(self, comment_id: str) -> str:
        return f"{self.base}comment:{comment_id}"

    def decision(self, comment_id: str) -> str:
        return f"{self.base}decision:{comment_id}"

    def decided_from(self, comment_id: str) -> str:
        return f"{self.base}from:{comment_id}"

    def escalation(self, comment_id: str) -> str:
        return f"{self.base}escalation:{comment_id}"

    def claim(self, comment_id: str) -> str:
        return f"{self.base}claim:{comment_id}"

    def pending(self, comment_id: str) -> str:
        return f"{self.base}pending:{comment_id}"

    def author(self, site: str | None, author_id: str) -> str:
        """An author's recent decisions on one site, in this partition. Ids may hold ':', so the site's length
        comes first: site "a:b" with author "c" and site "a" with author "b:c" never share a key."""
        site = site or ""
        return f"{self.base}author:{len(site)}:{site}:{author_id}"


class Keys:
    """Key names for one prefix and partition count.

    The methods build the per-comment (or per-session) keys, so every part of modbot spells a key the same way
    and the table above stays the one list of what modbot stores. Per-comment keys are found through the
    comment's partition (`of`); the partition-wide keys through `part(n)`, or, with one partition, the
    attributes of the same name (`keys.outbox`), which refuse to answer when there are several.
    """

    def __init__(self, prefix: str = "modbot:", stream: str = "comments", partitions: int = 1,
                 cluster: bool = False) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"the key prefix {prefix!r} may not contain braces (they would be the hash tag)")
        if not 1 <= partitions <= MAX_PARTITIONS:
            raise ValueError(f"partitions must be 1 to {MAX_PARTITIONS}, not {partitions}")
        self.prefix = prefix
        self.partitions = partitions
        self.cluster = cluster
        # One partition outside a cluster keeps the names modbot always used, so existing data stays readable.
        self.tagged = partitions > 1 or cluster
        self.parts = [Part(f"{prefix}{{p{n}}}:" if self.tagged else prefix) for n in range(partitions)]
        self.comments = prefix + stream
        # The dead letters and their trimmed count change in one script: one slot when tagged.
        self.deadletter = prefix + ("{deadletter}" if self.tagged else "deadletter")
        self.deadletter_trimmed = self.deadletter + ":trimmed"
        self.identity = prefix + "identity"
        self.wp_cursor = prefix + "wp:cursor"
        self.deliverers = prefix + "deliverers"

    def partition_of(self, comment_id: str) -> int:
        """The comment's partition: stable across processes and versions (crc32, not Python's hash)."""
        if self.partitions == 1:
            return 0
        return zlib.crc32(comment_id.encode("utf-8", "surrogatepass")) % self.partitions

    def part(self, n: int) -> Part:
        return self.parts[n]

    def of(self, comment_id: str) -> Part:
        """The keys of the comment's partition."""
        return self.parts[self.partition_of(comment_id)]

    def _only(self) -> Part:
        if self.partitions != 1:
            raise AttributeError("the keys are partitioned: use keys.part(n) or keys.of(comment_id)")
        return self.parts[0]

    # With one partition, its keys by their plain names (tests, and tools of single-partition setups).
    @property
    def decisions(self) -> str:
        return self._only().decisions

    @property
    def review(self) -> str:
        return self._only().review

    @property
    def review_escalated(self) -> str:
        return self._only().review_escalated

    @property
    def review_counts_held(self) -> str:
        return self._only().review_counts_held

    @property
    def review_counts_escalated(self) -> str:
        return self._only().review_counts_escalated

    @property
    def outbox(self) -> str:
        return self._only().outbox

    @property
    def outbox_failed(self) -> str:
        return self._only().outbox_failed

    @property
    def rulestats(self) -> str:
        return self._only().rulestats

    @property
    def patternstats(self) -> str:
        return self._only().patternstats

    @property
    def audit(self) -> str:
        return self._only().audit

    @property
    def review_pending(self) -> str:
        return self._only().review_pending

    def comment(self, comment_id: str) -> str:
        return self.of(comment_id).comment(comment_id)

    def decision(self, comment_id: str) -> str:
        return self.of(comment_id).decision(comment_id)

    def decided_from(self, comment_id: str) -> str:
        return self.of(comment_id).decided_from(comment_id)

    def escalation(self, comment_id: str) -> str:
        return self.of(comment_id).escalation(comment_id)

    def pending(self, comment_id: str) -> str:
        return self.of(comment_id).pending(comment_id)

    def claim(self, comment_id: str) -> str:
        return self.of(comment_id).claim(comment_id)

    def author(self, site: str | None, author_id: str) -> str:
        """The author's index with one partition (several: `part(n).author`, one index per partition)."""
        return self._only().author(site, author_id)

    def alive(self, consumer: str) -> str:
        return f"{self.prefix}alive:{consumer}"

    def outbox_state(self, sink: str) -> str:
        return f"{self.prefix}outbox:state:{sink}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}session:{token_hash}"

    def lease(self, partition: int) -> str:
        return f"{self.prefix}lease:outbox:{partition}"


def review_score(priority: int, created_ts: float) -> float:
    """Sort key for the review zset (ascending): higher priority first, then older first.

    Priorities are clamped to [-9999, 9999]; timestamps in seconds fit well inside a double's exact range.
    """
    p = max(-9999, min(9999, priority))
    return (10_000 - p) * 1e10 + created_ts
