"""modbot.yaml validation: every mistake names file, line and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.config import load_settings
from modbot.errors import ConfigError
from tests.helpers import ROOT


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "modbot.yaml"
    p.write_text(text)
    return p


def test_shipped_config_loads_with_documented_defaults(monkeypatch):
    for var in ("MODBOT_REDIS_URL", "MODBOT_DATA_DIR", "MODBOT_REVIEW_HOST", "MODBOT_REVIEW_PORT", "MODBOT_USERS_FILE"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings(ROOT / "config" / "modbot.yaml")
    assert s.redis.url is None and s.redis.data_dir == ROOT / "modbot-data"
    assert s.scorers.enabled == ("patterns", "toxicity")
    assert s.scorers.patterns.file == ROOT / "config" / "patterns.yaml"
    assert s.stream.batch_size == 32 and s.sink.type == "webhook"


@pytest.mark.parametrize(("text", "where", "what"), [
    ("stream:\n  batch_sise: 3\n", ":2:", "unknown setting 'stream.batch_sise'"),
    ("stream:\n  batch_size: many\n", ":2:", "must be a whole number"),
    ("sink:\n  type: pigeon\n", ":2:", "unknown sink type 'pigeon'"),
    ("sink:\n  type: log\nscorers:\n  enabled: [patterns, vibes]\n", ":4:", "unknown scorer"),
    ("sink:\n  type: log\nscorers:\n  toxicity:\n    model: huge\n", ":5:", "unknown Detoxify model"),
    ("sink:\n  type: log\nscorers:\n  toxicity:\n    checkpoint: a.ckpt\n", ":", "go together"),
    ("sink:\n  type: log\nstream: [1, 2\n", ":", "YAML syntax error"),
    ("sink:\n  type: log\nsink:\n  type: log\n", ":3:", "duplicate key 'sink'"),
])
def test_errors_name_file_line_and_problem(tmp_path, text, where, what):
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text))
    message = str(err.value)
    assert "modbot.yaml" + where in message and what in message


def test_env_and_scorers_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MODBOT_REDIS_URL", "redis://example:6379/0")
    monkeypatch.setenv("MODBOT_DATA_DIR", "/data")
    monkeypatch.setenv("MODBOT_USERS_FILE", "/data/moderators.yaml")
    s = load_settings(_write(tmp_path, "sink:\n  type: log\n"), scorers="patterns")
    assert s.redis.url == "redis://example:6379/0" and s.redis.data_dir == Path("/data")
    assert s.review.users_file == Path("/data/moderators.yaml")
    assert s.scorers.enabled == ("patterns",)
    with pytest.raises(ConfigError, match="unknown scorer"):
        load_settings(_write(tmp_path, "sink:\n  type: log\n"), scorers="patterns,magic")


def test_nonsense_values_are_all_reported_with_their_lines(tmp_path):
    text = ("review:\n  claim_ttl_s: -5\n  port: 99999\nscorers:\n  toxicity:\n    batch_size: 0\n    device: gpu\n"
            "sink:\n  type: log\n  max_attempts: -3\nredis:\n  prefix: ''\n")
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text))
    message = str(err.value)
    assert message.startswith("6 problems:")
    for where, what in ((":2:", "claim_ttl_s' must be more than zero"), (":3:", "port number"),
                        (":6:", "batch_size' must be more than zero"), (":7:", "unknown torch device 'gpu'"),
                        (":10:", "max_attempts' must be zero or more"), (":12:", "prefix' may not be empty")):
        assert any(where in line and what in line for line in message.splitlines()), (where, what)


def test_type_errors_and_typos_do_not_hide_other_problems(tmp_path):
    text = ("stream:\n  max_text_chars: abc\n  batch_size: 0\nreview:\n  prot: 5\nmetrics:\n  enabled: 'false'\n"
            "sink:\n  type: log\n  backoff_base_s: 100\n  backoff_max_s: 60\n")
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text))
    lines = str(err.value).splitlines()
    assert lines[0] == "5 problems:"
    for where, what in ((":2:", "max_text_chars' must be a whole number"), (":3:", "batch_size' must be more"),
                        (":5:", "unknown setting 'review.prot'"), (":7:", "metrics.enabled' must be true or false"),
                        (":10:", "is above 'sink.backoff_max_s'")):
        assert any(where in line and what in line for line in lines), (where, what)
