"""modbot.yaml: one schema, validated once at start; the rest of the code gets typed settings.

Every setting has a default here and is documented in config/modbot.yaml. Relative paths are resolved
against the directory of the config file. Any setting can be overridden from the environment, so containers
need no file edits: `MODBOT_<SECTION>__<KEY>` (modbot.config_env), validated like the file's values; relative
paths given there are resolved against the current directory.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from modbot.config_env import env_overrides, overlay
from modbot.errors import ConfigError
from modbot.keys import MAX_PARTITIONS, Keys
from modbot.yamlsrc import LDict, error_at, load_yaml

SCORER_NAMES = ("patterns", "toxicity")
DETOXIFY_MODELS = ("original", "unbiased", "multilingual", "original-small", "unbiased-small")
MAX_UNDO_SECONDS = 300  # review.undo_seconds: long enough to catch a slip, short enough that verdicts flow


@dataclass(frozen=True)
class RedisSettings:
    url: str | None = None  # None: start the embedded Valkey server
    data_dir: Path = Path("modbot-data")  # embedded server's data (append-only file on)
    prefix: str = "modbot:"  # every key modbot writes starts with this
    embedded_port: int = 0  # port of the embedded server on 127.0.0.1; 0 = the first free one from 16379
    partitions: int = 1  # outbox partitions (and hash slots) comments are spread over; fixed once data exists
    cluster: bool = False  # redis.url names one node of a Redis/Valkey cluster


@dataclass(frozen=True)
class StreamSettings:
    name: str = "comments"  # input stream key (after the prefix)
    group: str = "modbot"
    consumer: str | None = None  # None: hostname-pid
    batch_size: int = 256  # messages read and decided together, at most: the model sorts them into forward passes
    batch_wait_ms: int = 0  # wait this long to fill a batch once a comment arrived; 0: take what has arrived
    reclaim_idle_ms: int = 60_000  # pending this long with a dead consumer: reclaimed
    max_text_chars: int = 20_000
    trim_acked: bool = True  # delete input messages once decided (false if other consumer groups read the stream)
    history_maxlen: int = 1_000_000  # decisions kept in the history stream (about); 0 = all
    deadletter_maxlen: int = 10_000  # dead letters kept; older ones are trimmed (counted); 0 = all
    deadletter_raw_bytes: int = 4096  # the rejected message kept in a dead letter is cut to this many bytes
    heartbeat_ttl_s: float = 5.0  # a consumer whose heartbeat is this old is dead: its work is taken at once
    consumer_idle_max_s: float = 3600.0  # idle this long, nothing pending: leaves the groups (no heartbeat: at once)


@dataclass(frozen=True)
class PatternSettings:
    file: Path = Path("patterns.yaml")


@dataclass(frozen=True)
class ToxicitySettings:
    model: str = "original"  # one of DETOXIFY_MODELS (downloaded by Detoxify when online)
    checkpoint: Path | None = None  # local .ckpt in Detoxify's format: no network is used
    config_dir: Path | None = None  # local folder with config.json + tokenizer files for the checkpoint
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    batch_size: int = 32  # windows per forward pass, at most (max_batch_tokens usually decides first)
    max_length: int = 256  # tokens per window (special tokens included); longer texts are read in windows
    max_windows: int = 32  # windows per comment, at most; past it they are spread over the text, gaps unread
    max_batch_tokens: int = 4096  # padded tokens per forward pass (rows x longest row); a longer window goes alone
    quantize: bool = True  # reduced precision: int8 on cpu (1.5-2x faster), float16 on cuda; false: float32


@dataclass(frozen=True)
class ScorerSettings:
    enabled: tuple[str, ...] = ("patterns", "toxicity")
    patterns: PatternSettings = field(default_factory=PatternSettings)
    toxicity: ToxicitySettings = field(default_factory=ToxicitySettings)


@dataclass(frozen=True)
class RulesSettings:
    file: Path = Path("rules.yaml")
    watch: bool = True  # reload on file change (SIGHUP always reloads)
    budget_ms: int = 500  # time the rules may take per comment; past it the comment is held (rule rules-timeout)


@dataclass(frozen=True)
class WebhookSettings:
    url: str = ""
    secret_env: str = "MODBOT_WEBHOOK_SECRET"
    secret_file: Path | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True)
class WordPressSettings:
    url: str = ""  # site root, e.g. https://news.example.com
    user: str = ""
    password_env: str = "MODBOT_WP_APP_PASSWORD"  # an Application Password
    password_file: Path | None = None
    timeout_s: float = 10.0
    poll: bool = False  # also read new comments from WordPress into the stream
    poll_interval_s: float = 30.0


@dataclass(frozen=True)
class SinkSettings:
    type: str = "log"  # webhook | wordpress | log
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    wordpress: WordPressSettings = field(default_factory=WordPressSettings)
    backoff_base_s: float = 0.5
    backoff_max_s: float = 5.0  # the longest wait between tries: a recovered platform is tried this soon
    max_attempts: int = 0  # 0: retry for ever; else park the decision in outbox:failed after this many
    deliver: bool = True  # false: this process decides but delivers nothing (the other daemons deliver)
    lease_ttl_s: float = 10.0  # a partition's delivery lease; a killed daemon's partitions move after about this


@dataclass(frozen=True)
class ReviewSettings:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    users_file: Path = Path("moderators.yaml")
    secure_cookies: bool = False  # set true behind HTTPS
    claim_ttl_s: int = 300
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For names the login's client
    undo_seconds: float = 8.0  # a verdict waits this long (undoable) before it is recorded and sent; 0 = at once


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = False  # serve Prometheus metrics at http://host:port/metrics
    host: str = "127.0.0.1"
    port: int = 9108


@dataclass(frozen=True)
class HealthSettings:
    enabled: bool = False  # serve /healthz and /readyz at http://host:port/ (the shipped config turns it on)
    host: str = "127.0.0.1"
    port: int = 8081


@dataclass(frozen=True)
class Settings:
    redis: RedisSettings = field(default_factory=RedisSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    scorers: ScorerSettings = field(default_factory=ScorerSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    log_level: str = "info"
    source: Path | None = None  # the file these settings came from


def keys_for(settings: Settings) -> Keys:
    """The key names these settings use (prefix, input stream, partitions, cluster)."""
    return Keys(settings.redis.prefix, settings.stream.name, settings.redis.partitions, settings.redis.cluster)


def load_settings(path: Path | None, scorers: str | None = None) -> Settings:
    """Load modbot.yaml (or defaults when path is None), apply env overrides and `--scorers`."""
    base = path.parent.resolve() if path else Path.cwd()
    data: Any = LDict() if path is None else load_yaml(path)
    if data is None:
        data = LDict()
    file = str(path) if path else "<defaults>"
    if not isinstance(data, LDict):
        raise ConfigError("the config must be a mapping of sections", file=file, line=1)
    errors = overlay(data, env_overrides(os.environ))
    settings = _build(Settings, data, file, base, "", errors)
    overrides: dict[str, Any] = {"source": path.resolve() if path else None}
    if scorers is not None:
        overrides["scorers"] = ScorerSettings(parse_scorer_list(scorers), settings.scorers.patterns,
                                              settings.scorers.toxicity)
    final: Settings = _replace(settings, overrides)
    _check(final, data, file, errors)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        errors.sort(key=lambda e: (e.line or 0, e.column or 0))
        raise ConfigError(f"{len(errors)} problems:\n" + "\n".join(str(e) for e in errors))
    return final


def parse_scorer_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in SCORER_NAMES]
    if bad:
        raise ConfigError(f"unknown scorer(s) {bad}; choose from {', '.join(SCORER_NAMES)}")
    return names


def _replace(obj: Any, changes: dict[str, Any]) -> Any:
    from dataclasses import replace
    return replace(obj, **changes)


def _build(cls: type, data: Any, file: str, base: Path, path: str, errors: list[ConfigError]) -> Any:
    """Build one settings section. Problems are collected in `errors` (the setting keeps its default), so
    one run reports every mistake in the file."""
    if not isinstance(data, dict):
        errors.append(ConfigError(f"'{path or 'config'}' must be a mapping of settings", file=file,
                                  line=getattr(data, "line", None)))
        data = {}
    known = {f.name: f for f in fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else key
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            guess = f"did you mean '{close[0]}'? " if close else ""
            errors.append(error_at(data, key, f"unknown setting '{dotted}'", file,
                                   hint=f"{guess}known settings here: {', '.join(sorted(known))}"))
            continue
        if value is None and "None" not in str(known[key].type) and str(known[key].type) not in _SECTIONS:
            continue  # an empty value means "the default"
        try:
            kwargs[key] = _convert(known[key].type, value, data, key, dotted, file, base, errors)
        except ConfigError as exc:
            errors.append(exc)
    for name, f in known.items():
        # Defaults that are relative paths live beside the config file too.
        if name in kwargs:
            continue
        if isinstance(f.default, Path) and not f.default.is_absolute():
            kwargs[name] = Path(os.path.normpath(base / f.default))
        elif str(f.type) in _SECTIONS:
            kwargs[name] = _build(_SECTIONS[str(f.type)], {}, file, base, f"{path}.{name}" if path else name,
                                  errors)
    return cls(**kwargs)


_SECTIONS = {c.__name__: c for c in (RedisSettings, StreamSettings, PatternSettings, ToxicitySettings,
                                      ScorerSettings, RulesSettings, WebhookSettings, WordPressSettings,
                                      SinkSettings, ReviewSettings, MetricsSettings, HealthSettings)}


def _convert(typ: Any, value: Any, node: Any, key: str, dotted: str, file: str, base: Path,  # noqa: C901
             errors: list[ConfigError]) -> Any:
    t = str(typ)
    env = node.env_value(key) if isinstance(node, LDict) else None
    if t in _SECTIONS:
        if value is not None and not isinstance(value, dict):
            raise error_at(node, key, f"'{dotted}' must be a mapping of settings", file)
        return _build(_SECTIONS[t], value if value is not None else {}, file, base, dotted, errors)
    if value is None:
        return None
    if env is not None and not isinstance(value, dict | list) and (t.startswith("Path") or t.startswith("str")):
        value = env.raw  # the variable's text as written: YAML would turn 'yes' or '0755' into other things
    if t.startswith("Path"):
        if not isinstance(value, str):
            raise error_at(node, key, f"'{dotted}' must be a path string", file)
        p = Path(os.path.expanduser(value))
        # A path from the environment comes from a shell: relative to where modbot was started.
        return p if p.is_absolute() else Path(os.path.normpath((Path.cwd() if env else base) / p))
    if t.startswith("tuple"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise error_at(node, key, f"'{dotted}' must be a list of names", file)
        return tuple(value)
    if t.startswith("bool"):
        if not isinstance(value, bool):
            raise error_at(node, key, f"'{dotted}' must be true or false", file)
        return value
    if t.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise error_at(node, key, f"'{dotted}' must be a whole number", file)
        return value
    if t.startswith("float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise error_at(node, key, f"'{dotted}' must be a number", file)
        return float(value)
    if t.startswith("str"):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise error_at(node, key, f"'{dotted}' must be a string", file)
        return str(value)
    raise error_at(node, key, f"'{dotted}' has an unsupported type", file)


def _section(data: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def _check(s: Settings, data: Any, file: str, errors: list[ConfigError]) -> None:  # noqa: C901 - flat list
    """Cross-field and range checks, each pointing at the offending line, added to `errors`."""

    def fail(keys: tuple[str, ...], msg: str, hint: str | None = None) -> None:
        parent = _section(data, *keys[:-1]) if len(keys) > 1 else data
        errors.append(error_at(parent if isinstance(parent, dict) else data, keys[-1], msg, file, hint))

    def positive(keys: tuple[str, ...], value: float, allow_zero: bool = False) -> None:
        if value < 0 or (value == 0 and not allow_zero):
            fail(keys, f"'{'.'.join(keys)}' must be {'zero or more' if allow_zero else 'more than zero'}, "
                       f"not {value:g}")

    bad = [n for n in s.scorers.enabled if n not in SCORER_NAMES]
    if bad:
        fail(("scorers", "enabled"), f"unknown scorer(s) {bad}", f"choose from {', '.join(SCORER_NAMES)}")
    tox = s.scorers.toxicity
    if tox.checkpoint is None and tox.model not in DETOXIFY_MODELS:
        fail(("scorers", "toxicity", "model"), f"unknown Detoxify model '{tox.model}'",
             f"one of {', '.join(DETOXIFY_MODELS)}, or set 'checkpoint' and 'config_dir'")
    if (tox.checkpoint is None) != (tox.config_dir is None):
        fail(("scorers", "toxicity", "checkpoint" if tox.checkpoint is None else "config_dir"),
             "'checkpoint' and 'config_dir' go together", "set both for offline loading, or neither")
    if not _DEVICE.match(tox.device):
        fail(("scorers", "toxicity", "device"), f"unknown torch device '{tox.device}'", "cpu, cuda, cuda:N or mps")
    positive(("scorers", "toxicity", "batch_size"), tox.batch_size)
    positive(("scorers", "toxicity", "max_length"), tox.max_length)
    positive(("scorers", "toxicity", "max_windows"), tox.max_windows)
    positive(("scorers", "toxicity", "max_batch_tokens"), tox.max_batch_tokens)
    positive(("scorers", "toxicity", "threads"), tox.threads, allow_zero=True)
    for name in ("batch_size", "max_text_chars", "reclaim_idle_ms"):
        positive(("stream", name), getattr(s.stream, name))
    positive(("stream", "batch_wait_ms"), s.stream.batch_wait_ms, allow_zero=True)
    positive(("stream", "history_maxlen"), s.stream.history_maxlen, allow_zero=True)
    positive(("stream", "deadletter_maxlen"), s.stream.deadletter_maxlen, allow_zero=True)
    for name in ("deadletter_raw_bytes", "heartbeat_ttl_s", "consumer_idle_max_s"):
        positive(("stream", name), getattr(s.stream, name))
    if not s.redis.prefix:
        fail(("redis", "prefix"), "'redis.prefix' may not be empty", "keep the default 'modbot:'")
    elif "{" in s.redis.prefix or "}" in s.redis.prefix:
        fail(("redis", "prefix"), "'redis.prefix' may not contain braces", "modbot adds its own hash tags")
    if not 1 <= s.redis.partitions <= MAX_PARTITIONS:
        fail(("redis", "partitions"), f"'redis.partitions' must be 1 to {MAX_PARTITIONS}, not {s.redis.partitions}")
    if s.redis.cluster and not s.redis.url:
        fail(("redis", "cluster"), "'redis.cluster' needs 'redis.url'",
             "the embedded Valkey is one server: name a node of your cluster in redis.url")
    if s.sink.type not in ("webhook", "wordpress", "log"):
        fail(("sink", "type"), f"unknown sink type '{s.sink.type}'", "webhook, wordpress or log")
    if s.sink.type == "webhook" and not s.sink.webhook.url:
        fail(("sink", "webhook") if _section(data, "sink", "webhook") is not None else ("sink", "type"),
             "the webhook sink needs 'sink.webhook.url'",
             "set the URL (or MODBOT_SINK__WEBHOOK__URL), or use sink.type: log")
    if s.sink.type == "wordpress" and not (s.sink.wordpress.url and s.sink.wordpress.user):
        fail(("sink", "type"), "the wordpress sink needs 'sink.wordpress.url' and 'sink.wordpress.user'")
    positive(("sink", "backoff_base_s"), s.sink.backoff_base_s)
    positive(("sink", "backoff_max_s"), s.sink.backoff_max_s)
    if s.sink.backoff_base_s > s.sink.backoff_max_s:
        fail(("sink", "backoff_base_s"), f"'sink.backoff_base_s' ({s.sink.backoff_base_s:g}) is above "
             f"'sink.backoff_max_s' ({s.sink.backoff_max_s:g})", "the first wait cannot be longer than the longest")
    positive(("sink", "max_attempts"), s.sink.max_attempts, allow_zero=True)
    positive(("sink", "lease_ttl_s"), s.sink.lease_ttl_s)
    positive(("sink", "webhook", "timeout_s"), s.sink.webhook.timeout_s)
    positive(("sink", "wordpress", "timeout_s"), s.sink.wordpress.timeout_s)
    positive(("sink", "wordpress", "poll_interval_s"), s.sink.wordpress.poll_interval_s)
    if not 0 <= s.redis.embedded_port <= 65535:
        fail(("redis", "embedded_port"), f"'redis.embedded_port' must be 0 or a port, not {s.redis.embedded_port}")
    if not 1 <= s.review.port <= 65535:
        fail(("review", "port"), f"'review.port' must be a port number (1-65535), not {s.review.port}")
    positive(("review", "claim_ttl_s"), s.review.claim_ttl_s)
    positive(("review", "undo_seconds"), s.review.undo_seconds, allow_zero=True)
    if s.review.undo_seconds > MAX_UNDO_SECONDS:
        fail(("review", "undo_seconds"), f"'review.undo_seconds' must be at most {MAX_UNDO_SECONDS}, "
             f"not {s.review.undo_seconds:g}", "a few seconds is enough to catch a slip")
    for proxy in s.review.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            fail(("review", "trusted_proxies"), f"'{proxy}' in 'review.trusted_proxies' is not an address or network",
                 "e.g. 127.0.0.1 or 10.0.0.0/8")
    positive(("rules", "budget_ms"), s.rules.budget_ms)
    if not 1 <= s.metrics.port <= 65535:
        fail(("metrics", "port"), f"'metrics.port' must be a port number (1-65535), not {s.metrics.port}")
    if not 1 <= s.health.port <= 65535:
        fail(("health", "port"), f"'health.port' must be a port number (1-65535), not {s.health.port}")
    if s.log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(("log_level",), f"unknown log level '{s.log_level}'", "debug, info, warning or error")
