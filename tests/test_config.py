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
    assert s.stream.batch_size == 256 and s.sink.type == "webhook"


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


# --- settings from the environment: MODBOT_<SECTION>__<KEY> ----------------------------------------------------

def test_any_setting_can_be_overridden_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODBOT_SINK__WEBHOOK__URL", "http://platform:9000/modbot")
    monkeypatch.setenv("MODBOT_STREAM__BATCH_SIZE", "64")
    monkeypatch.setenv("MODBOT_STREAM__CONSUMER", "yes")  # a string setting keeps the text YAML would make True
    monkeypatch.setenv("MODBOT_METRICS__ENABLED", "true")
    monkeypatch.setenv("MODBOT_SCORERS__ENABLED", "[patterns]")
    monkeypatch.setenv("MODBOT_SCORERS__TOXICITY__QUANTIZE", "false")  # the default is true
    monkeypatch.setenv("MODBOT_RULES__FILE", "/etc/modbot/rules.yaml")
    monkeypatch.setenv("MODBOT_WEBHOOK_SECRET", "not a setting: left alone")
    s = load_settings(_write(tmp_path, "sink:\n  type: webhook\n  webhook:\n    url: http://127.0.0.1:9000/x\n"
                                       "stream:\n  batch_size: 8\n"))
    assert s.sink.webhook.url == "http://platform:9000/modbot" and s.sink.type == "webhook"
    assert s.stream.batch_size == 64 and s.stream.consumer == "yes"
    assert s.metrics.enabled is True and s.scorers.enabled == ("patterns",) and not s.scorers.toxicity.quantize
    assert s.rules.file == Path("/etc/modbot/rules.yaml")


def test_the_webhook_url_can_come_from_the_environment_alone(tmp_path, monkeypatch):
    """The shipped config posts to 127.0.0.1; a container must be able to point it elsewhere without a file."""
    monkeypatch.setenv("MODBOT_SINK__WEBHOOK__URL", "http://platform.internal/modbot")
    assert load_settings(ROOT / "config" / "modbot.yaml").sink.webhook.url == "http://platform.internal/modbot"
    monkeypatch.setenv("MODBOT_SINK__TYPE", "webhook")
    assert load_settings(None).sink.webhook.url == "http://platform.internal/modbot"


@pytest.mark.parametrize(("var", "value", "what"), [
    ("MODBOT_SINK__WEBHOOK__URLL", "http://x", "unknown setting 'sink.webhook.urll' (fix: did you mean 'url'?"),
    ("MODBOT_STREEM__BATCH_SIZE", "3", "unknown setting 'streem' (fix: did you mean 'stream'?"),
    ("MODBOT_STREAM__BATCH_SIZE", "many", "'stream.batch_size' must be a whole number"),
    ("MODBOT_STREAM__BATCH_SIZE", "0", "'stream.batch_size' must be more than zero"),
    ("MODBOT_REVIEW_PORT", "http", "'review.port' must be a whole number"),
    ("MODBOT_SINK__TYPE", "pigeon", "unknown sink type 'pigeon'"),
    ("MODBOT_SINK__WEBHOOK", "http://x", "'sink.webhook' must be a mapping of settings"),
    ("MODBOT_SINK__TYPE__X", "1", "'sink.type' is a setting, not a section"),
    ("MODBOT_LOG_LEVEL__X", "1", "'log_level' must be a string"),
])
def test_a_bad_environment_value_is_named_by_its_variable(tmp_path, monkeypatch, var, value, what):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, "sink:\n  type: log\nstream:\n  batch_size: 4\n"))
    message = str(err.value)
    assert message.startswith(f"environment variable {var}: ") and what in message, message


def test_older_variable_names_still_work_and_relative_paths_start_at_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODBOT_REVIEW_PORT", "8181")
    monkeypatch.setenv("MODBOT_LOG_LEVEL", "debug")
    monkeypatch.setenv("MODBOT_DATA_DIR", "state")
    s = load_settings(ROOT / "config" / "modbot.yaml")
    assert s.review.port == 8181 and s.log_level == "debug" and s.redis.data_dir == tmp_path / "state"
    monkeypatch.setenv("MODBOT_REVIEW__PORT", "8282")  # the new name wins over the old one
    assert load_settings(ROOT / "config" / "modbot.yaml").review.port == 8282


def test_the_undo_window_is_checked_and_can_come_from_the_environment(tmp_path, monkeypatch):
    assert load_settings(None).review.undo_seconds == 8.0
    assert load_settings(_write(tmp_path, "sink:\n  type: log\nreview:\n  undo_seconds: 0\n")).review.undo_seconds == 0
    for value, what in (("-1", "'review.undo_seconds' must be zero or more"),
                        ("301", "'review.undo_seconds' must be at most 300"),
                        ("soon", "'review.undo_seconds' must be a number")):
        with pytest.raises(ConfigError, match=what):
            load_settings(_write(tmp_path, f"sink:\n  type: log\nreview:\n  undo_seconds: {value}\n"))
    monkeypatch.setenv("MODBOT_REVIEW__UNDO_SECONDS", "2.5")
    assert load_settings(_write(tmp_path, "sink:\n  type: log\n")).review.undo_seconds == 2.5
