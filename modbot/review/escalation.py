"""Who escalated a held comment, when, and the note they left for the senior moderator.

Stored as JSON in {p}escalation:{id}, written in the same transaction that moves the item to the escalated
queue and appends the audit entry (which carries the same moderator, time and note), and deleted when the item
leaves review. Items escalated before this record existed have none; the page says so instead of guessing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from modbot.errors import ModbotError

# A note is for a colleague, not an essay; the page's field holds this many characters and the API refuses more.
MAX_NOTE_CHARS = 500


class InvalidNote(ModbotError):
    """A note that is not text or is longer than MAX_NOTE_CHARS."""


def clean_note(value: object) -> str:
    """The note as stored: text with Windows line breaks made plain and outer blanks dropped.

    Raises InvalidNote for anything but a string, or for more than MAX_NOTE_CHARS characters: a note cut short
    silently could drop exactly the part that says why.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidNote("'note' must be text")
    note = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidNote(f"the note has {len(note)} characters; at most {MAX_NOTE_CHARS} are kept")
    return note


@dataclass(frozen=True)
class Escalation:
    """A moderator passed a held comment on to a senior colleague."""

    moderator: str
    at: datetime
    note: str = ""

    def to_json(self) -> str:
        return json.dumps({"moderator": self.moderator, "at": self.at.isoformat(), "note": self.note})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Escalation | None:
        """The stored record, or None for one that cannot be read (written by hand, cut off): the page then
        shows the item as escalated without details rather than failing to show the queue."""
        try:
            data = json.loads(raw)
            at = datetime.fromisoformat(data["at"])
            return cls(moderator=str(data["moderator"]), at=at if at.tzinfo else at.replace(tzinfo=UTC),
                       note=str(data.get("note", "")))
        except (ValueError, KeyError, TypeError):
            return None
