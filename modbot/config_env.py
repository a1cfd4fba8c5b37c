"""Settings from the environment: `MODBOT_<SECTION>__<KEY>__<SUBKEY>=value` overrides any setting.

The variable's name is the setting's dotted path, upper-cased, with `__` between the parts
(`MODBOT_SINK__WEBHOOK__URL`, `MODBOT_STREAM__BATCH_SIZE`). Its value is read as a YAML scalar (`64` is a
number, `true` a boolean, `[patterns]` a list) and laid over the config file's data before validation, so it
meets exactly the checks a value in the file meets; an error about it names the variable instead of a line.
An empty variable is ignored (it does not blank the file's value).

The older single-underscore names stay: MODBOT_REDIS_URL, MODBOT_DATA_DIR, MODBOT_REVIEW_HOST,
MODBOT_REVIEW_PORT, MODBOT_USERS_FILE, MODBOT_LOG_LEVEL. Other MODBOT_ variables without `__`
(MODBOT_CONFIG, MODBOT_WEBHOOK_SECRET, ...) are not settings and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml

from modbot.errors import ConfigError
from modbot.yamlsrc import EnvValue, LDict

PREFIX = "MODBOT_"
SEPARATOR = "__"
LEGACY = {
    "MODBOT_REDIS_URL": ("redis", "url"),
    "MODBOT_DATA_DIR": ("redis", "data_dir"),
    "MODBOT_REVIEW_HOST": ("review", "host"),
    "MODBOT_REVIEW_PORT": ("review", "port"),
    "MODBOT_USERS_FILE": ("review", "users_file"),
    "MODBOT_LOG_LEVEL": ("log_level",),
}


def env_overrides(environ: Mapping[str, str]) -> dict[tuple[str, ...], EnvValue]:
    """The setting paths the environment sets, each with its variable. New-style names win over the older ones
    when both name the same setting."""
    found: dict[tuple[str, ...], EnvValue] = {}
    for var, path in LEGACY.items():
        if environ.get(var):
            found[path] = EnvValue(var, environ[var])
    for var in sorted(environ):
        if not var.startswith(PREFIX) or SEPARATOR not in var or not environ[var]:
            continue
        parts = tuple(p.lower() for p in var[len(PREFIX):].split(SEPARATOR))
        if not all(parts):
            raise ConfigError(f"environment variable {var}: empty part in the setting's name",
                              hint="write MODBOT_SECTION__KEY, e.g. MODBOT_SINK__WEBHOOK__URL")
        found[parts] = EnvValue(var, environ[var])
    return found


def parse_scalar(value: EnvValue) -> object:
    """The variable's value as YAML reads it; a mapping is refused (set its keys one variable each)."""
    try:
        parsed = yaml.safe_load(value.raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"environment variable {value.var}: not a YAML value ({exc})",
                          hint="quote it, or write it as it would appear after 'key:' in modbot.yaml") from None
    if isinstance(parsed, dict):
        raise ConfigError(f"environment variable {value.var} holds a mapping",
                          hint=f"set each key with its own variable, e.g. {value.var}__KEY")
    return parsed


def overlay(data: LDict, overrides: dict[tuple[str, ...], EnvValue]) -> list[ConfigError]:
    """Lay the overrides over the config file's data, in place, marking each key with its variable. Returns
    the problems found (a variable that names a key inside a setting that is not a section)."""
    errors: list[ConfigError] = []
    for path, value in overrides.items():
        node = data
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = LDict()
                child._where = {}
                node[part] = child
                node.mark_env(part, value)
            if not isinstance(child, LDict):
                errors.append(ConfigError(
                    f"environment variable {value.var}: '{'.'.join(path[:i + 1])}' is a setting, not a section",
                    hint=f"set it with MODBOT_{SEPARATOR.join(p.upper() for p in path[:i + 1])}"))
                break
            node = child
        else:
            try:
                node[path[-1]] = parse_scalar(value)
            except ConfigError as exc:
                errors.append(exc)
                continue
            node.mark_env(path[-1], value)
    return errors
