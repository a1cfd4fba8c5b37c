"""Every Redis key modbot uses, in one place. All keys start with the configured prefix (default "modbot:").

| key                         | type   | what                                                                  |
|-----------------------------|--------|-----------------------------------------------------------------------|
| {p}comments                 | stream | input: field `comment` = comment JSON (the stream name is configurable) |
| {p}deadletter               | stream | rejected input: `reason`, `raw` (cut), `raw_length`, `source_id`, `at` |
| {p}deadletter:trimmed       | string | how many dead letters were trimmed off (stream.deadletter_maxlen)     |
| {p}identity                 | hash   | the data's identity: `id`, `created`; `lost_*`: the last data loss    |
| {p}alive:{consumer}         | string | a running daemon's heartbeat (expires after stream.heartbeat_ttl_s)   |
| {p}outbox:state:{sink}      | hash   | delivery state: failures in a row, last error, next attempt, last ok  |
| {p}comment:{id}             | string | the comment JSON as received (schema of ingest/schema.py)              |
| {p}decision:{id}            | string | the latest decision JSON for the comment (Decision.to_dict)            |
| {p}from:{id}                | string | stream id of the message whose text was decided (stale versions lose) |
| {p}decisions                | stream | every decision ever made, in order: field `decision` = JSON            |
| {p}review                   | zset   | held comment ids; score orders by priority (high first) then age      |
| {p}review:escalated         | zset   | held comments a moderator escalated (same scores as {p}review)         |
| {p}review:counts:{queue}    | hash   | filter counts of held/escalated: `rule|{rule}`, `cat|{category}`, `built` |
| {p}author:{n}:{site}:{id}   | zset   | author's last 50 decided comment ids by decision time; n = len(site) |
| {p}escalation:{id}          | string | JSON: who escalated the comment, when, and their note (review/escalation.py) |
| {p}outbox                   | stream | decisions waiting for delivery: field `decision` = JSON; group `sink` |
| {p}outbox:failed            | stream | decisions refused for good (4xx, 3xx) or unsendable, with `error`     |
| {p}rulestats                | hash   | `{rule}|fired`, `{rule}|held`, `{rule}|upheld`, `{rule}|overturned`    |
| {p}patternstats             | hash   | `{entry}|{stance}|fired`, ...|held, |upheld, |overturned (patternstats.py) |
| {p}audit                    | stream | moderator actions: who, when, what, previous state                    |
| {p}claim:{id}               | string | moderator holding a review item (expires)                             |
| {p}review:pending           | zset   | comment ids with a verdict inside its undo window; score = due time   |
| {p}pending:{id}             | string | JSON: the pending verdict, who, note, when, due, queue and score it left |
| {p}wp:cursor                | string | WordPress poller position                                             |
| {p}session:{sha256(token)}  | string | review page login session JSON (user, csrf token); expires            |
"""

from __future__ import annotations

OUTBOX_GROUP = "sink"


class Keys:
    """Key names for one prefix.

    The methods build the per-comment (or per-session) keys, so every part of modbot spells a key
    the same way and the table above stays the one list of what modbot stores.
    """

    def __init__(self, prefix: str = "modbot:", stream: str = "comments") -> None:
        self.prefix = prefix
        self.comments = prefix + stream
        self.deadletter = prefix + "deadletter"
        self.deadletter_trimmed = prefix + "deadletter:trimmed"
        self.identity = prefix + "identity"
        self.decisions = prefix + "decisions"
        self.review = prefix + "review"
        self.review_escalated = prefix + "review:escalated"
        self.review_counts_held = prefix + "review:counts:held"
        self.review_counts_escalated = prefix + "review:counts:escalated"
        self.review_pending = prefix + "review:pending"
        self.outbox = prefix + "outbox"
        self.outbox_failed = prefix + "outbox:failed"
        self.rulestats = prefix + "rulestats"
        self.patternstats = prefix + "patternstats"
        self.audit = prefix + "audit"
        self.wp_cursor = prefix + "wp:cursor"

    def comment(self, comment_id: str) -> str:
        return f"{self.prefix}comment:{comment_id}"

    def decision(self, comment_id: str) -> str:
        return f"{self.prefix}decision:{comment_id}"

    def decided_from(self, comment_id: str) -> str:
        return f"{self.prefix}from:{comment_id}"

    def escalation(self, comment_id: str) -> str:
        return f"{self.prefix}escalation:{comment_id}"

    def author(self, site: str | None, author_id: str) -> str:
        """An author's recent decisions on one site. Ids may hold ':', so the site's length comes first: site
        "a:b" with author "c" and site "a" with author "b:c" never share a key."""
        site = site or ""
        return f"{self.prefix}author:{len(site)}:{site}:{author_id}"

    def pending(self, comment_id: str) -> str:
        return f"{self.prefix}pending:{comment_id}"

    def claim(self, comment_id: str) -> str:
        return f"{self.prefix}claim:{comment_id}"

    def alive(self, consumer: str) -> str:
        return f"{self.prefix}alive:{consumer}"

    def outbox_state(self, sink: str) -> str:
        return f"{self.prefix}outbox:state:{sink}"

    def session(self, token_hash: str) -> str:
        return f"{self.prefix}session:{token_hash}"


def review_score(priority: int, created_ts: float) -> float:
    """Sort key for the review zset (ascending): higher priority first, then older first.

    Priorities are clamped to [-9999, 9999]; timestamps in seconds fit well inside a double's exact range.
    """
    p = max(-9999, min(9999, priority))
    return (10_000 - p) * 1e10 + created_ts
