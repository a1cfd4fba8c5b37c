"""YAML files are bounded: an alias bomb or an oversized file is a clear ConfigError in well under a second."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from modbot.config import load_settings
from modbot.errors import ConfigError
from modbot.models import Action, Author, Comment, Scores
from modbot.rules import RuleSetInvalid, RulesHolder, load_rules
from modbot.yamlsrc import MAX_YAML_BYTES, load_yaml, load_yaml_text


def laughs(levels: int = 9, width: int = 10) -> str:
    """The classic billion laughs: each anchor is a list of `width` aliases of the one before."""
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def rules_bomb(levels: int = 8) -> str:
    """A rules file whose `when:` expands to 10**levels conditions; the anchors hide in a rule's description,
    which the rules parser does not read, so only the aliases in `when:` cost anything."""
    anchors = ['&c0 {text: [lol]}'] + [f"&c{i} {{any: [{', '.join([f'*c{i - 1}'] * 10)}]}}"
                                        for i in range(1, levels + 1)]
    return ("version: 1\nrules:\n  - id: bomb\n    action: hold\n"
            f"    description: [{', '.join(anchors)}]\n    when: *c{levels}\n")


def test_billion_laughs_fails_fast_with_its_line() -> None:
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases expand to more than") as err:
        load_yaml_text(laughs(), "bomb.yaml")
    assert time.perf_counter() - start < 1.0
    assert err.value.file == "bomb.yaml" and err.value.line is not None and err.value.line > 1
    assert "alias bomb" in str(err.value)


def test_a_few_aliases_still_work() -> None:
    doc = load_yaml_text("base: &b {gte: 0.5, label: toxicity}\none: *b\ntwo: {<<: *b, note: x}\n", "ok.yaml")
    assert doc["one"] == {"gte": 0.5, "label": "toxicity"} and doc["two"]["gte"] == 0.5


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match="recursive"):
        load_yaml_text("a: &a [1, *a]\n", "loop.yaml")


def test_rules_bomb_is_refused_fast_by_validate_and_hot_reload(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("version: 1\nrules:\n  - id: hold-spam\n    action: hold\n    when: {text: [spam]}\n")
    holder = RulesHolder(f)
    before = holder.current
    f.write_text(rules_bomb())
    start = time.perf_counter()
    with pytest.raises(RuleSetInvalid, match="aliases expand"):
        load_rules(f)
    with caplog.at_level(logging.ERROR, logger="modbot.rules"):
        assert holder.reload() is False
    assert time.perf_counter() - start < 1.0
    assert holder.current is before
    assert holder.current.evaluate(Comment("c", "spam", Author("u")), Scores()).action is Action.HOLD
    assert any("aliases expand" in r.getMessage() and f"{f}:" in r.getMessage() for r in caplog.records)


def _oversized(path: Path) -> None:
    # Comments only: valid YAML that parses to nothing, so only the size limit can refuse it.
    line = "# " + "x" * 1021 + "\n"
    with path.open("w") as fh:
        for _ in range(MAX_YAML_BYTES // len(line) + 2):
            fh.write(line)


def test_oversized_files_are_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    _oversized(big)
    assert big.stat().st_size > MAX_YAML_BYTES
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="too large") as err:
        load_yaml(big)
    assert err.value.file == str(big) and "5 MB" in str(err.value)
    with pytest.raises(ConfigError, match="too large"):
        load_settings(big)
    with pytest.raises(RuleSetInvalid, match="too large"):
        load_rules(big)
    assert time.perf_counter() - start < 1.0


def test_hot_reload_refuses_an_oversized_rules_file(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("version: 1\nrules:\n  - id: hold-spam\n    action: hold\n    when: {text: [spam]}\n")
    holder = RulesHolder(f)
    _oversized(f)
    os.utime(f)
    assert holder.reload() is False
    assert holder.last_error is not None and "too large" in str(holder.last_error)
    assert holder.current.rules[0].id == "hold-spam"
