"""YAML loading that remembers where every value came from, so errors can name file, line and column.

It is also bounded, because rules, patterns and config files are written by people who can make mistakes (or
be attackers): a file over MAX_YAML_BYTES is refused before it is parsed, and so is a document whose aliases
stand for more than MAX_ALIAS_NODES nodes in all (a "billion laughs" file is a few hundred bytes of aliases
of aliases that would expand to gigabytes). Both stop with a ConfigError, long before memory runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modbot.errors import ConfigError

MAX_YAML_BYTES = 5 * 1024 * 1024  # config/modbot.yaml, rules.yaml and patterns.yaml are tens of KB
# Nodes that aliases may stand for, counted as expanded (an alias of a list of 10 aliases counts them all).
# Real files use a few anchors for shared settings; this is far above that and far below trouble.
MAX_ALIAS_NODES = 100_000


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
    """SafeLoader that counts, while composing, how many nodes the aliases expand to, and refuses too many.

    Composing is where an alias is still one reference; every later step (construction, the rules parser
    walking the tree) may pay for each expanded node, so the check must happen here, before any of them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> nodes it stands for, expanded
        self._expanded = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if node is not None:
                self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _children(node))
            return node
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        node = super().compose_node(parent, index)
        size = self._sizes.get(id(node))
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        if size is None:  # the anchored node is still being composed: the alias is inside it
            raise ConfigError("an alias refers to a node that contains it (a recursive structure)",
                              line=line, column=column, hint="YAML anchors here may only be used after their node")
        self._expanded += size
        if self._expanded > MAX_ALIAS_NODES:
            raise ConfigError(f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (a YAML alias bomb?)",
                              line=line, column=column,
                              hint="write the values out, or use fewer aliases of aliases")
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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


def check_size(size: int, file: str) -> None:
    """Refuse a YAML file of `size` bytes (or characters) over MAX_YAML_BYTES, before parsing it."""
    if size > MAX_YAML_BYTES:
        raise ConfigError(f"file is too large ({size:,} bytes; modbot reads YAML files of at most "
                          f"{MAX_YAML_BYTES // (1024 * 1024)} MB)", file=file,
                          hint="rules, patterns and config files are tens of KB; is this the right file?")


def read_limited(path: Path) -> bytes:
    """The bytes of `path`, reading no more than MAX_YAML_BYTES + 1 of them: a larger file is refused
    (ConfigError) without being read whole. An unreadable file is a ConfigError too."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(path)) from None
    check_size(len(data), str(path))
    return data


def load_yaml_text(text: str, file: str) -> Any:
    """Parse YAML text; syntax errors, an oversized text and alias bombs become ConfigError with the file,
    line and column."""
    check_size(len(text), file)
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
    except RecursionError:
        # Thousands of nested [[[...]]] overflow PyYAML's recursive composer; say so instead of crashing.
        raise ConfigError("YAML nested too deeply", file=file,
                          hint="no real config nests more than a few levels") from None
    except MemoryError:
        # Past the size and alias limits this should not happen, but a clear error beats a dead daemon.
        raise ConfigError("YAML document too large to load", file=file) from None


def load_yaml(path: Path) -> Any:
    """Read and parse a YAML file with positions (LDict/LList), refusing files over MAX_YAML_BYTES."""
    data = read_limited(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not valid UTF-8 (byte {exc.start})", file=str(path)) from None
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
