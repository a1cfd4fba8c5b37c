"""The typed records that cross module boundaries: Comment in, Scores and Decision out."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Action(enum.StrEnum):
    """What happens to a comment. `hold` sends it to the review queue."""

    APPROVE = "approve"
    HOLD = "hold"
    REJECT = "reject"
    SPAM = "spam"


@dataclass(frozen=True)
class Author:
    id: str
    name: str = ""
    account_age_days: float | None = None  # None when the platform does not say
    approved_count: int = 0
    flags: frozenset[str] = frozenset()  # trust flags from the platform: "moderator", "trusted", "verified", ...

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.flags


@dataclass(frozen=True)
class Comment:
    """A comment as the platform sent it (schema: modbot/ingest/schema.py)."""

    id: str
    text: str
    author: Author
    thread_id: str = ""
    thread_url: str | None = None
    site: str | None = None
    created_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8", "surrogatepass")).hexdigest()


class Stance(enum.StrEnum):
    """How the writer uses a matched trope (modbot.scoring.stance decides it from the words around it)."""

    ASSERTED = "asserted"      # the writer's own claim, or a quote the writer endorses
    QUOTED = "quoted"          # someone else's words, with no sign of the writer's own view
    REPORTED = "reported"      # news or history: an event in which others said or did it; a symbol explained
    REFUTED = "refuted"        # negated, or called a myth, lie, smear, conspiracy theory: condemned
    QUESTIONED = "questioned"  # asked about or challenged ("where is your evidence that ...?")
    SELF = "self"              # a member of the group speaking of what is said about them


@dataclass(frozen=True)
class Match:
    """A pattern hit; `start`/`end` index the original (un-normalised) comment text.

    `stance` says how the trope is used; `cue` is the text that decided it (None for a plain assertion) and
    `cue_start`/`cue_end` its span in the original text."""

    category: str
    pattern: str
    start: int
    end: int
    text: str
    severity: int = 1
    stance: Stance = Stance.ASSERTED
    cue: str | None = None
    cue_start: int | None = None
    cue_end: int | None = None

    def __post_init__(self) -> None:
        # Decisions read back from Redis carry the stance as a plain string.
        if not isinstance(self.stance, Stance):
            object.__setattr__(self, "stance", Stance(self.stance))

    def to_dict(self) -> dict[str, Any]:
        return {"category": self.category, "pattern": self.pattern, "start": self.start,
                "end": self.end, "text": self.text, "severity": self.severity, "stance": self.stance.value,
                "cue": self.cue, "cue_start": self.cue_start, "cue_end": self.cue_end}

    @staticmethod
    def strongest(matches: Sequence[Match]) -> Match | None:
        """The match a reason names: the most severe, the longest among equals."""
        return max(matches, key=lambda m: (m.severity, m.end - m.start), default=None)

    def describe_stance(self) -> str:
        """"quoted — cue: 'shouted'", or "asserted" when nothing framed the trope."""
        return f"{self.stance.value} — cue: {self.cue!r}" if self.cue else self.stance.value


@dataclass(frozen=True)
class ScorerOutput:
    """What one scorer says about one comment."""

    labels: Mapping[str, float] = field(default_factory=dict)
    matches: tuple[Match, ...] = ()


@dataclass(frozen=True)
class Scores:
    """Everything the scorers said about one comment, merged. `errors` names scorers that failed."""

    labels: Mapping[str, float] = field(default_factory=dict)
    matches: tuple[Match, ...] = ()
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A decision with its explanation, as stored in Redis and posted to the platform."""

    comment_id: str
    action: Action
    rule: str | None
    reason: str
    scores: Mapping[str, float]
    matches: tuple[Match, ...]
    versions: Mapping[str, str]  # "rules", "patterns", "toxicity", ... -> version string
    decided_at: datetime
    source: str = "auto"  # "auto" (the rules) or "moderator" (a review verdict)
    moderator: str | None = None
    priority: int = 0
    scorer_errors: Mapping[str, str] = field(default_factory=dict)
    site: str | None = None
    thread_id: str = ""
    text_sha256: str = ""  # which version of the text was decided: an edited comment is decided again
    # How the matches the deciding rule relied on are used (the strongest of them); None when the rule did not
    # rely on a pattern match. Counted per rule in `modbot stats`.
    stance: Stance | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "comment_id": self.comment_id,
            "action": self.action.value,
            "rule": self.rule,
            "reason": self.reason,
            "scores": dict(self.scores),
            "matches": [m.to_dict() for m in self.matches],
            "versions": dict(self.versions),
            "decided_at": self.decided_at.isoformat(),
            "source": self.source,
            "moderator": self.moderator,
            "priority": self.priority,
            "scorer_errors": dict(self.scorer_errors),
            "site": self.site,
            "thread_id": self.thread_id,
            "text_sha256": self.text_sha256,
            "stance": self.stance.value if self.stance else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(
            comment_id=d["comment_id"],
            action=Action(d["action"]),
            rule=d.get("rule"),
            reason=d.get("reason", ""),
            scores=d.get("scores", {}),
            matches=tuple(Match(**m) for m in d.get("matches", [])),
            versions=d.get("versions", {}),
            decided_at=datetime.fromisoformat(d["decided_at"]),
            source=d.get("source", "auto"),
            moderator=d.get("moderator"),
            priority=int(d.get("priority", 0)),
            scorer_errors=d.get("scorer_errors", {}),
            site=d.get("site"),
            thread_id=d.get("thread_id", ""),
            text_sha256=d.get("text_sha256", ""),
            stance=Stance(d["stance"]) if d.get("stance") else None,
        )
