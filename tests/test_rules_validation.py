"""Every validation error names file:line:column and a fix; `modbot validate` reports all of them."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from modbot.commands import validate
from modbot.errors import RuleError
from modbot.rules import RuleSetInvalid, load_rules, parse_rules

ROOT = Path(__file__).resolve().parent.parent


def errors_of(body: str, categories: list[str] | None = None) -> list[RuleError]:
    with pytest.raises(RuleSetInvalid) as info:
        parse_rules(textwrap.dedent(body).lstrip("\n").encode(), "rules.yaml", categories)
    assert isinstance(info.value, RuleError)
    return info.value.errors


def single(body: str, categories: list[str] | None = None) -> RuleError:
    errs = errors_of(body, categories)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


def rule_with(when: str) -> str:
    head = "version: 1\nrules:\n  - id: r\n    action: hold\n    when:\n"
    return head + textwrap.indent(when.strip(), "      ") + "\n"


@pytest.mark.parametrize(("body", "line", "message", "hint"), [
    (rule_with("score: {label: toxicty, gte: 0.9}"), 6, "unknown score label 'toxicty'", "did you mean 'toxicity'"),
    ("version: 1\nrules:\n  - id: r\n    action: delete\n    when: {text: [x]}\n", 4, "unknown action 'delete'",
     "approve, hold, reject, spam"),
    (rule_with('text (regex): ["(unclosed"]'), 6, "bad regex '(unclosed'", "regular expression"),
    (rule_with("score: {label: toxicity, gte: 90}"), 6, "outside 0..1", "between 0 and 1"),
    ("version: 1\nthresholds:\n  toxic: 1.2\n", 3, "threshold 'toxic' = 1.2 is outside 0..1", "between 0 and 1"),
    ("version: 1\nrules:\n  - id: same\n    action: hold\n    when: {text: [a]}\n"
     "  - id: same\n    action: hold\n    when: {text: [b]}\n", 6, "duplicate rule id 'same'", "line 3"),
    (rule_with("colour: [red]"), 6, "unknown condition or field 'colour'", "known:"),
    (rule_with("text (includes-wrd): [x]"), 6, "unknown match mode or modifier 'includes-wrd'", "includes-word"),
    (rule_with("text (includes, starts-with): [x]"), 6, "more than one match mode", "keep one"),
    (rule_with("author.nick: [x]"), 6, "unknown condition or field 'author.nick'", "did you mean 'author"),
    (rule_with('author: {account_age: "< 7 dayz"}'), 6, "unknown unit 'dayz'", "< 7 days"),
    (rule_with('author: {account_age: "7 days"}'), 6, "is not a comparison", "operator"),
    (rule_with('author: {karma: "> 5"}'), 6, "unknown author condition 'karma'", "account_age"),
    (rule_with('features: {linkz: ">= 2"}'), 6, "unknown text feature 'linkz'", "did you mean 'links'"),
    (rule_with('features: {caps_ratio: "> 70"}'), 6, "caps_ratio 70 is outside 0..1", "share"),
    (rule_with("score: {label: toxicity, gte: toxic}"), 6, "unknown threshold 'toxic'", "thresholds:"),
    (rule_with("score: {label: toxicity, above: 0.5}"), 6, "unknown score comparison 'above'", "gte"),
    (rule_with("pattern: {category: conspiracy, min_severity: 0}"), 6, "'min_severity' must be a whole number >= 1",
     None),
    (rule_with("any: []"), 6, "'any' takes a non-empty list", "any:"),
    (rule_with("body: [x]"), 6, "unknown condition or field 'body'", "'text' here"),
    ("version: 1\nrules:\n  - id: r\n    action: hold\n    reason: 'score {{score.insul}}'\n    when: {text: [x]}\n",
     5, "unknown placeholder '{{score.insul}}'", "did you mean 'score.insult'"),
    ("version: 1\nrules:\n  - id: r\n    action: hold\n    when: {text: [x]}\n    prio: 3\n", 6,
     "unknown rule key 'prio'", "priority"),
    ("version: 1\nrules:\n  - id: r\n    action: hold\n", 3, "has no 'when'", "when:"),
    ("version: 1\nrules:\n  - action: hold\n    when: {text: [x]}\n", 3, "needs an 'id'", "id:"),
    ("version: 1\ndefaults: {on_scorer_error: reject}\n", 2, "unknown action 'reject'", "approve, hold"),
    ("version: 2\n", 1, "unsupported rules version 2", "version: 1"),
    ("version: 1\nrulez: []\n", 2, "unknown top-level key 'rulez'", "did you mean 'rules'"),
    ("version: 1\nthresholds:\n  toxic: 0.5\n  sites:\n    a.com: {toxik: 0.9}\n", 5,
     "override of unknown threshold 'toxik'", "did you mean 'toxic'"),
    ("version: 1\nrules:\n  - id: r\n    action: hold\n    when: {text: [x]\n", 6, "YAML syntax error", "indentation"),
])
def test_each_error_names_its_line_and_a_fix(body: str, line: int, message: str, hint: str | None) -> None:
    err = single(body)
    assert err.file == "rules.yaml"
    assert err.line == line, str(err)
    assert err.column is not None and err.column >= 1
    assert message in err.message
    if hint:
        assert err.hint and hint in err.hint
    assert str(err).startswith(f"rules.yaml:{line}:")


def test_unknown_pattern_category_when_categories_are_known() -> None:
    err = single(rule_with("pattern: {category: antisemitc_conspiracy}"), ["antisemitic_conspiracy", "conspiracy"])
    assert "unknown pattern category 'antisemitc_conspiracy'" in err.message
    assert err.hint and "antisemitic_conspiracy" in err.hint


def test_custom_labels_can_be_declared() -> None:
    body = "version: 1\nlabels: [spamminess]\n" + rule_with("score: {label: spamminess, gte: 0.5}").split("\n", 1)[1]
    assert parse_rules(body.encode(), "rules.yaml").rules[0].id == "r"


def test_bad_regex_in_a_list_points_at_the_item() -> None:
    err = single(rule_with('text (regex):\n  - "fine"\n  - "b[ad"'))
    assert (err.line, err.column) == (8, 11)


def test_all_errors_are_reported_in_file_order() -> None:
    errs = errors_of("""
        version: 1
        defaults: {action: aprove}
        thresholds:
          toxic: 3
        rules:
          - id: a
            action: hold
            when: {score: {label: toxicty, gte: 0.9}}
          - id: a
            action: zap
            when: {text (regex): ["("]}
        """)
    assert [e.line for e in errs] == sorted(e.line or 0 for e in errs)
    messages = " | ".join(e.message for e in errs)
    for part in ("unknown action 'aprove'", "outside 0..1", "unknown score label", "duplicate rule id",
                 "unknown action 'zap'", "bad regex"):
        assert part in messages
    assert len(errs) == 6


def test_missing_file_is_a_rule_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")


def run_validate(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    validate.add_arguments(parser)
    return validate.run(parser.parse_args(list(argv)))


def test_validate_command_ok(capsys: pytest.CaptureFixture[str]) -> None:
    rules = ROOT / "config" / "rules.yaml"
    assert run_validate("--rules", str(rules)) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK ") and f"version {load_rules(rules).version}" in out
    assert f"{len(load_rules(rules).rules)} rules" in out


def test_validate_command_lists_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nrules:\n  - id: a\n    action: nope\n    when: {text: [x]}\n"
                   "  - id: b\n    action: hold\n    when: {score: {label: toxicity, gte: 2}}\n")
    assert run_validate("--rules", str(bad)) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4:" in err and "unknown action 'nope'" in err
    assert f"{bad}:8:" in err and "outside 0..1" in err
    assert "2 errors" in err


def test_validate_reads_rules_file_from_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "my-rules.yaml").write_text("version: 1\nrules:\n  - id: r\n    action: hold\n    when: {text: [x]}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text("rules:\n  file: my-rules.yaml\nsink:\n  type: log\nscorers:\n  enabled: [toxicity]\n")
    assert run_validate("--config", str(cfg)) == 0
    assert "my-rules.yaml: 1 rules" in capsys.readouterr().out


def test_validate_checks_the_lexicon_and_rule_categories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from tests.helpers import ROOT
    shutil.copy(ROOT / "config" / "patterns.yaml", tmp_path / "patterns.yaml")
    (tmp_path / "rules.yaml").write_text(
        "version: 1\nrules:\n  - id: r1\n    action: hold\n    reason: x\n    when:\n"
        "      pattern: {category: antisemitic_conspiracyy}\n")
    cfg = tmp_path / "modbot.yaml"
    cfg.write_text("sink:\n  type: log\nscorers:\n  enabled: [patterns]\n")
    assert run_validate("--config", str(cfg)) == 1
    captured = capsys.readouterr()
    assert "patterns.yaml:" in captured.out and " patterns, version " in captured.out
    assert "rules.yaml:7" in captured.err and "antisemitic_conspiracyy" in captured.err
    (tmp_path / "patterns.yaml").write_text("entries: [\n")
    assert run_validate("--config", str(cfg)) == 1
    assert "patterns.yaml:" in capsys.readouterr().err


# A truncated file (an editor or `cp` mid-write, `: > rules.yaml`) would approve every comment if it loaded.
@pytest.mark.parametrize(("body", "line"), [
    ("", 1),
    ("# all rules removed for now\n", 1),
    ("---\n", 1),
    ("version: 1\n", 1),
    ("version: 1\nrules: []\n", 2),
    ("version: 1\ndefaults: {action: approve}\nrules:\n", 3),
])
def test_a_file_without_rules_is_invalid(body: str, line: int) -> None:
    err = single(body)
    assert "no rules" in err.message
    assert err.line == line and str(err).startswith(f"rules.yaml:{line}:")
    assert err.hint and "at least one rule" in err.hint and "approve-all" in err.hint


def test_the_catch_all_rule_in_the_hint_is_valid() -> None:
    hint = single("version: 1\nrules: []\n").hint or ""
    rule = hint[hint.index('"') + 1:hint.rindex('"')]
    rs = parse_rules(f"version: 1\nrules:\n  {rule}\n".encode(), "rules.yaml")
    assert [r.id for r in rs.rules] == ["approve-all"]


def test_every_rule_disabled_is_invalid() -> None:
    err = single("version: 1\nrules:\n  - id: r\n    action: hold\n    enabled: false\n    when: {text: [x]}\n")
    assert "every rule is disabled" in err.message and err.line == 3


def test_validate_refuses_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "rules.yaml"
    empty.write_text("")
    assert run_validate("--rules", str(empty)) == 1
    err = capsys.readouterr().err
    assert f"{empty}:1:" in err and "no rules" in err and "at least one rule" in err
    with pytest.raises(RuleError, match="no rules"):
        load_rules(empty)


def test_score_without_label_says_label_is_needed(tmp_path: Path) -> None:
    from modbot.rules import load_rules
    from modbot.rules.loader import RuleSetInvalid
    p = tmp_path / "rules.yaml"
    p.write_text("version: 1\nrules:\n  - id: r\n    action: hold\n    reason: x\n    when:\n"
                 "      score: {toxicity: '>= 0.5'}\n")
    with pytest.raises(RuleSetInvalid) as err:
        load_rules(p)
    assert any("needs 'label'" in e.message and e.line == 7 for e in err.value.errors)
