"""A local cache of scorer outputs, so that replaying a corpus after a rule change re-scores nothing.

Keyed by scorer name + scorer version + sha256 of the text: a new model or pattern file (new version) misses,
the same text under the same scorer hits. Stored in SQLite, one row per key, JSON value.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from modbot.models import Match, ScorerOutput


def default_cache_path() -> Path:
    """$XDG_CACHE_HOME/modbot/scores.sqlite (~/.cache when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modbot" / "scores.sqlite"


def cache_key(scorer_name: str, scorer_version: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{scorer_name}|{scorer_version}|{digest}"


def _dump(out: ScorerOutput) -> str:
    return json.dumps({"labels": dict(out.labels), "matches": [m.to_dict() for m in out.matches]})


def _load(text: str) -> ScorerOutput:
    d = json.loads(text)
    return ScorerOutput(labels=d["labels"], matches=tuple(Match(**m) for m in d["matches"]))


class ScoreCache:
    """SQLite-backed cache; `path=None` keeps it in memory (nothing persists). Counts hits and misses."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(":memory:" if path is None else str(path))
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Iterable[str]) -> dict[str, ScorerOutput]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, ScorerOutput] = {}
        # SQLite limits bound variables per statement; 500 stays well under every build's limit.
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            rows = self._db.execute(f"SELECT key, value FROM scores WHERE key IN ({','.join('?' * len(chunk))})",
                                    chunk).fetchall()
            found.update((k, _load(v)) for k, v in rows)
        self.hits += len(found)
        self.misses += len(wanted) - len(found)
        return found

    def put_many(self, items: Mapping[str, ScorerOutput]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)",
                             [(k, _dump(v)) for k, v in items.items()])
        self._db.commit()

    def close(self) -> None:
        self._db.close()
