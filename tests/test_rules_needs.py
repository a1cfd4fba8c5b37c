"""Which scorers the rules need, and the warnings when a rule tests a scorer that is off this run."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from modbot.commands import validate
from modbot.rules import load_rules, parse_rules, rule_needs, ruleset_needs, unused_rules_warnings

ROOT = Path(__file__).resolve().parent.parent
RULES = """version: 1
labels: [spamminess]
rules:
  - id: toxic
    action: hold
    when: {any: [{score: {label: toxicity, gte: 0.9}}, {not: {score: {label: insult, lt: 0.5}}}]}
  - id: trope
    action: hold
    when: {pattern: {category: [antisemitic_conspiracy, slurs]}}
  - id: any-match
    action: hold
    when: {all: [{pattern: {category: any, min_severity: 3}}, {text: [x]}]}
  - id: custom
    action: spam
    when: {score: {label: spamminess, gte: 0.5}}
  - id: words
    action: reject
    when: {text: [casino]}
"""


def test_rule_needs_walks_nested_conditions() -> None:
    rs = parse_rules(RULES.encode(), "r.yaml")
    by_id = {r.id: rule_needs(r) for r in rs.rules}
    assert by_id["toxic"].labels == {"toxicity", "insult"} and not by_id["toxic"].patterns
    assert by_id["trope"].categories == {"antisemitic_conspiracy", "slurs"} and not by_id["trope"].any_pattern
    assert by_id["any-match"].any_pattern and by_id["any-match"].patterns
    assert not by_id["words"].labels and not by_id["words"].patterns
    total = ruleset_needs(rs)
    assert total.labels == {"toxicity", "insult", "spamminess"} and total.any_pattern


def test_warnings_name_each_rule_and_the_missing_scorer() -> None:
    rs = parse_rules(RULES.encode(), "r.yaml")
    assert unused_rules_warnings(rs, ["patterns", "toxicity"]) == []
    only_patterns = unused_rules_warnings(rs, ["patterns"])
    assert only_patterns == ["r.yaml:4: rule 'toxic' tests score insult, toxicity but the 'toxicity' scorer is not "
                             "enabled: those conditions will never hold"]
    none = unused_rules_warnings(rs, ())
    assert len(none) == 3
    assert any("rule 'trope' tests pattern category antisemitic_conspiracy, slurs but the 'patterns'" in w
               for w in none)
    assert any("rule 'any-match' tests pattern category any" in w for w in none)
    assert not any("'custom'" in w or "'words'" in w for w in none)  # custom labels come from no known scorer


def test_shipped_rules_without_toxicity() -> None:
    rs = load_rules(ROOT / "config" / "rules.yaml")
    warned = {w.split("rule '")[1].split("'")[0] for w in unused_rules_warnings(rs, ["patterns"])}
    assert warned == {"severe-toxicity", "threat", "identity-attack", "toxic-or-insulting"}


def test_validate_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text("sink:\n  type: log\nscorers:\n  enabled: [toxicity]\n")
    parser = argparse.ArgumentParser()
    validate.add_arguments(parser)
    assert validate.run(parser.parse_args(["--config", str(cfg)])) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("OK ")
    assert "warning: " in captured.err and "rule 'trope'" in captured.err and "rule 'toxic'" not in captured.err
