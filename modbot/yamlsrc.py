"""YAML loading that remembers where every value came from, so errors can name file, line and column."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modbot.errors import ConfigError


@dataclass(frozen=True)
class EnvValue:
    """A value set by an environment variable (modbot.config_env): the variable's name and its text before YAML
    parsing (string and path settings take the text as it is, so `MODBOT_STREAM__CONSUMER=yes` stays 'yes')."""

    var: str
    raw: str


class Located:
    """Mixin: `where(key)` gives the 1-based (line, column) of a key's value; `line`/`column` of the node;
    `env_value(key)` the environment variable that set the key, if one did."""

    line: int | None = None
    column: int | None = None
    _where: dict[Any, tuple[int, int]]
    _env: dict[Any, EnvValue]

    def where(self, key: Any) -> tuple[int | None, int | None]:
        where: dict[Any, tuple[int, int]] = getattr(self, "_where", {})
        return where.get(key, (self.line, self.column))

    def mark_env(self, key: Any, value: EnvValue) -> None:
        """Record that `key` was set by an environment variable, so errors about it name the variable."""
        if not hasattr(self, "_env"):
            self._env = {}
        self._env[key] = value

    def env_value(self, key: Any) -> EnvValue | None:
        env: dict[Any, EnvValue] = getattr(self, "_env", {})
        return env.get(key)


class LDict(dict[str, Any], Located):
    """A mapping from YAML with positions."""


class LList(list[Any], Located):
    """A sequence from YAML with positions."""


class _Loader(yaml.SafeLoader):
    pass


def _mark(obj: Located, node: yaml.Node) -> None:
    obj.line = node.start_mark.line + 1
    obj.column = node.start_mark.column + 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LDict:
    out = LDict()
    out._where = {}
    _mark(out, node)
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1,
                              column=key_node.start_mark.column + 1, hint="remove one of the two")
        out[key] = loader.construct_object(value_node, deep=True)
        out._where[key] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LList:
    out = LList()
    out._where = {}
    _mark(out, node)
    for i, child in enumerate(node.value):
        out.append(loader.construct_object(child, deep=True))
        out._where[i] = (child.start_mark.line + 1, child.start_mark.column + 1)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml_text(text: str, file: str) -> Any:
    """Parse YAML text; syntax errors become ConfigError with the file, line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except ConfigError as exc:
        exc.file = file
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"YAML syntax error: {exc.problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            hint="check indentation and quoting near this spot",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", file=file) from None


def load_yaml(path: Path) -> Any:
    """Read and parse a YAML file with positions (LDict/LList)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(path)) from None
    return load_yaml_text(text, str(path))


def error_at(node: Any, key: Any, message: str, file: str, hint: str | None = None) -> ConfigError:
    """Build a ConfigError pointing at `node[key]` (or at the node itself when key is None)."""
    line: int | None = None
    column: int | None = None
    if isinstance(node, Located):
        env = node.env_value(key) if key is not None else None
        if env is not None:
            return ConfigError(message, file=f"environment variable {env.var}", hint=hint)
        line, column = node.where(key) if key is not None else (node.line, node.column)
    return ConfigError(message, file=file, line=line, column=column, hint=hint)
