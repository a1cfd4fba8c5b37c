"""Small builders shared by tests (not fixtures)."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def comment_json(cid: str, text: str, **extra: Any) -> str:
    body: dict[str, Any] = {"id": cid, "text": text, "author": {"id": "u1", "name": "Reader",
                                                                 "account_age_days": 400, "approved_count": 12}}
    body.update(extra)
    return json.dumps(body)


def write_config(tmp: Path, redis_url: str | None, prefix: str, sink_url: str | None = None,
                 scorers: str = "patterns", extra: str = "") -> Path:
    """A modbot.yaml in `tmp` using the project's own rules and patterns files."""
    shutil.copy(ROOT / "config" / "rules.yaml", tmp / "rules.yaml")
    shutil.copy(ROOT / "config" / "patterns.yaml", tmp / "patterns.yaml")
    sink = (f"sink:\n  type: webhook\n  webhook:\n    url: {sink_url}\n    secret_env: MODBOT_TEST_SECRET\n"
            f"  backoff_base_s: 0.05\n  backoff_max_s: 0.2\n") if sink_url else "sink:\n  type: log\n"
    text = (f"redis:\n  url: {redis_url or ''}\n  data_dir: data\n  prefix: '{prefix}'\n"
            f"stream:\n  batch_wait_ms: 50\n  reclaim_idle_ms: 500\n"
            f"scorers:\n  enabled: [{scorers}]\n{sink}review:\n  enabled: false\nlog_level: debug\n{extra}")
    path = tmp / "modbot.yaml"
    path.write_text(text)
    return path


def scrape_metrics(port: int) -> str:
    """The daemon's /metrics page on `port`, or "" while it does not answer yet."""
    try:
        return str(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode())
    except OSError:
        return ""
