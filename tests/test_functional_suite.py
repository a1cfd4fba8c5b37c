"""The functional suite of the pattern layer (tests/functional/suite.yaml, HateCheck method): its shape, one
target test per function, the loader's errors, and `modbot eval-patterns SUITE.yaml`.

The target tests measure what config/rules.yaml holds from the pattern scorer alone; they fail while the
lexicon cannot tell a trope asserted from one reported, quoted, refuted or questioned (issue 8). Their failure
message lists the cases judged wrongly.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import pytest

from modbot.commands import eval_patterns, eval_suite
from modbot.scoring.functional import (
    HATEFUL_MIN,
    NOT_HATEFUL_MAX,
    TOTAL_NOT_HATEFUL_MAX,
    Case,
    Outcome,
    SuiteInvalid,
    load_suite,
    read_suite,
)
from modbot.scoring.patterns import PatternScorer

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "functional" / "suite.yaml"
PATTERNS = ROOT / "config" / "patterns.yaml"
RULES = ROOT / "config" / "rules.yaml"

# The functions of issue 8 and whether their cases should be held.
FUNCTIONS = {
    "asserted": True, "asserted_evaded": True, "asserted_html": True, "endorsement_after_quote": True,
    "quoted_condemned": False, "reported_news": False, "historical": False, "refuted": False, "questioned": False,
    "in_group": False, "explained_symbol": False, "neutral_mention": False,
}


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    scorer = PatternScorer.from_file(PATTERNS)
    judged, _ = eval_suite.judge(load_suite(SUITE), scorer, RULES)
    return judged


def _listing(wrong: list[Outcome]) -> str:
    return "\n".join(f"  {o.case.id} -> {o.action} ({o.rule or 'default'}): {o.case.text!r}" for o in wrong)


# --- shape -------------------------------------------------------------------------------------------------------

def test_suite_has_enough_cases_and_tropes() -> None:
    cases = load_suite(SUITE)
    assert len(cases) >= 800
    assert len({c.trope for c in cases}) >= 25


def test_suite_declares_every_function_with_its_polarity() -> None:
    suite = read_suite(SUITE)
    assert {f.name: f.hateful for f in suite.functions} == FUNCTIONS
    used = {c.function for c in suite.cases}
    assert used == set(FUNCTIONS), f"functions without cases: {set(FUNCTIONS) - used}"


def test_every_trope_has_contrast_cases() -> None:
    by_trope: dict[str, set[str]] = defaultdict(set)
    for c in load_suite(SUITE):
        by_trope[c.trope].add(c.function)
    for trope, functions in by_trope.items():
        assert len(functions) >= 4, f"{trope}: only {sorted(functions)}"
        assert functions & {"asserted", "asserted_evaded"}, f"{trope} has no asserted case"
        assert len(functions - {f for f, hateful in FUNCTIONS.items() if hateful}) >= 4, \
            f"{trope}: too few non-hateful functions ({sorted(functions)})"


def test_every_trope_names_a_lexicon_category() -> None:
    categories = PatternScorer.from_file(PATTERNS).lexicon.categories
    unknown = {c.trope: c.category for c in load_suite(SUITE) if c.category not in categories}
    assert not unknown


# --- targets (fail until stance detection lands: issue 8) -------------------------------------------------------

@pytest.mark.parametrize("function", [f for f, hateful in FUNCTIONS.items() if hateful])
def test_hateful_function_is_held(outcomes: list[Outcome], function: str) -> None:
    mine = [o for o in outcomes if o.case.function == function]
    missed = [o for o in mine if not o.held]
    held = 1 - len(missed) / len(mine)
    assert held >= HATEFUL_MIN, (f"{function}: {held:.1%} held, target >= {HATEFUL_MIN:.0%}; "
                                 f"{len(missed)} of {len(mine)} missed:\n{_listing(missed)}")


@pytest.mark.parametrize("function", [f for f, hateful in FUNCTIONS.items() if not hateful])
def test_not_hateful_function_is_published(outcomes: list[Outcome], function: str) -> None:
    mine = [o for o in outcomes if o.case.function == function]
    held = [o for o in mine if o.held]
    share = len(held) / len(mine)
    assert share <= NOT_HATEFUL_MAX, (f"{function}: {share:.1%} held, target <= {NOT_HATEFUL_MAX:.0%}; "
                                      f"{len(held)} of {len(mine)} held:\n{_listing(held)}")


def test_not_hateful_total_is_published(outcomes: list[Outcome]) -> None:
    mine = [o for o in outcomes if not o.case.hateful]
    held = [o for o in mine if o.held]
    share = len(held) / len(mine)
    assert share <= TOTAL_NOT_HATEFUL_MAX, (f"non-hateful: {share:.1%} held, target <= {TOTAL_NOT_HATEFUL_MAX:.0%}; "
                                            f"{len(held)} of {len(mine)} held:\n{_listing(held)}")


# --- loader ------------------------------------------------------------------------------------------------------

HEAD = """functions:
  asserted: {hateful: true, means: "said as one's own view"}
  refuted: {hateful: false, means: "called a myth"}
tropes:
  - id: control-media
    category: antisemitic_conspiracy
    means: "media control"
    cases:
"""


def _write(tmp_path: Path, cases: str, head: str = HEAD) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(head + cases, encoding="utf-8")
    return path


def test_loader_reads_cases_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path, '      asserted: ["Jews control the media."]\n'
                            '      refuted: ["That Jews control the media is a myth.", "No, they do not."]\n')
    assert load_suite(path) == [
        Case("control-media/asserted/1", "control-media", "antisemitic_conspiracy", "asserted", True,
             "Jews control the media."),
        Case("control-media/refuted/1", "control-media", "antisemitic_conspiracy", "refuted", False,
             "That Jews control the media is a myth."),
        Case("control-media/refuted/2", "control-media", "antisemitic_conspiracy", "refuted", False,
             "No, they do not."),
    ]


def test_loader_refuses_an_unknown_function(tmp_path: Path) -> None:
    path = _write(tmp_path, '      asserted: ["Jews control the media."]\n      refutted: ["It is a myth."]\n')
    with pytest.raises(SuiteInvalid) as err:
        load_suite(path)
    assert "unknown function 'refutted'" in str(err.value)
    assert f"{path}:10:" in str(err.value)
    assert "asserted, refuted" in str(err.value)


@pytest.mark.parametrize("texts", ['["Jews control the media.", ""]', '["Jews control the media.", "   "]',
                                   '["Jews control the media.", null]'])
def test_loader_refuses_an_empty_case(tmp_path: Path, texts: str) -> None:
    with pytest.raises(SuiteInvalid, match="empty case in control-media/asserted"):
        load_suite(_write(tmp_path, f"      asserted: {texts}\n"))


def test_loader_refuses_a_duplicate_text(tmp_path: Path) -> None:
    path = _write(tmp_path, '      asserted: ["Jews control the media."]\n'
                            '      refuted:\n        - "jews  control the MEDIA."\n')
    with pytest.raises(SuiteInvalid) as err:
        load_suite(path)
    assert "duplicate text (also control-media/asserted/1)" in str(err.value)
    assert f"{path}:11:" in str(err.value)


def test_loader_refuses_a_function_without_polarity(tmp_path: Path) -> None:
    head = HEAD.replace("refuted: {hateful: false,", "refuted: {")
    with pytest.raises(SuiteInvalid, match="function 'refuted' needs `hateful: true` or `hateful: false`"):
        load_suite(_write(tmp_path, '      asserted: ["x y z"]\n', head))


def test_loader_refuses_a_duplicate_trope_id(tmp_path: Path) -> None:
    trope = ('  - id: control-media\n    category: antisemitic_conspiracy\n    cases:\n'
             '      asserted: ["The press is run by them."]\n')
    with pytest.raises(SuiteInvalid, match="duplicate trope id 'control-media'"):
        load_suite(_write(tmp_path, '      asserted: ["Jews control the media."]\n' + trope))


def test_loader_reports_yaml_syntax_errors_as_suite_errors(tmp_path: Path) -> None:
    with pytest.raises(SuiteInvalid, match="YAML syntax error"):
        load_suite(_write(tmp_path, '      asserted: ["Jews control the media.\n'))


# --- the command -------------------------------------------------------------------------------------------------

SMALL = ('      asserted: ["Jews control the media.", "The j3ws own the press."]\n'
         '      refuted: ["The claim that Jews control the media is an antisemitic myth.",'
         ' "Jews control the media? No, that is a myth."]\n')
# Holds every pattern match whatever its stance, so the table's figures do not depend on the stance reader.
HOLD_ANY_RULES = ("version: 1\ndefaults: {action: approve}\nrules:\n"
                  "  - {id: any-match, action: hold, when: {pattern: {category: any}}}\n")
# Holds slurs only: none of SMALL's cases.
SLURS_ONLY_RULES = ("version: 1\ndefaults: {action: approve}\nrules:\n"
                    "  - {id: slurs-only, action: hold, when: {pattern: {category: slurs, min_severity: 2}}}\n")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser()
    eval_patterns.add_arguments(parser)
    args = parser.parse_args([*argv, "--patterns", str(PATTERNS)])
    assert eval_patterns.run(args) == 0
    return capsys.readouterr().out


def _hold_any(tmp_path: Path) -> str:
    path = tmp_path / "hold-any.yaml"
    path.write_text(HOLD_ANY_RULES, encoding="utf-8")
    return str(path)


def test_eval_patterns_prints_the_per_function_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, str(_write(tmp_path, SMALL)), "--rules", _hold_any(tmp_path))
    lines = out.splitlines()
    assert "function" in lines[1] and "held %" in lines[1] and "target" in lines[1]
    asserted = next(line for line in lines if line.startswith("asserted "))
    assert asserted.split() == ["asserted", "yes", "2", "2", "100.0%", "≥", "90%", "pass"]
    refuted = next(line for line in lines if line.startswith("refuted "))
    assert refuted.split() == ["refuted", "no", "2", "2", "100.0%", "≤", "5%", "FAIL"]
    assert any(line.startswith("control-media ") for line in lines)
    assert "held (any-match)" in out and "control-media/refuted: 'Jews control the media? No" in out


def test_eval_patterns_json_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = json.loads(_run(capsys, str(_write(tmp_path, SMALL)), "--json", "--show", "0",
                             "--rules", _hold_any(tmp_path)))
    assert [(f["function"], f["cases"], f["held"], f["pass"]) for f in result["functions"]] == [
        ("asserted", 2, 2, True), ("refuted", 2, 2, False)]
    assert result["not_hateful_total"] == {"cases": 2, "held": 2, "held_share": 1.0,
                                           "target": TOTAL_NOT_HATEFUL_MAX, "pass": False}
    assert result["tropes"] == [{"trope": "control-media", "category": "antisemitic_conspiracy",
                                 "hateful": {"cases": 2, "held": 2, "held_share": 1.0},
                                 "not_hateful": {"cases": 2, "held": 2, "held_share": 1.0}}]
    assert result["wrong_total"] == 2 and result["wrong"] == []


def test_eval_patterns_uses_the_rules_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Held is what the rules decide, not whether a pattern matched: rules that hold only slurs hold none."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(SLURS_ONLY_RULES, encoding="utf-8")
    result = json.loads(_run(capsys, str(_write(tmp_path, SMALL)), "--json", "--rules", str(rules)))
    assert [f["held"] for f in result["functions"]] == [0, 0]
    assert result["rules"] == str(rules)
