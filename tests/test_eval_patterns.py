"""`modbot eval-patterns` on a small labelled file written for the tests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from modbot import cli
from modbot.commands import eval_patterns
from modbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser()
    eval_patterns.add_arguments(parser)
    args = parser.parse_args([*argv, "--patterns", str(ROOT / "config" / "patterns.yaml")])
    assert eval_patterns.run(args) == 0
    return capsys.readouterr().out


def test_command_is_registered() -> None:
    assert cli.COMMANDS["eval-patterns"][0] == "eval_patterns"


def test_json_report_has_the_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    out = json.loads(_run(capsys, str(DATA / "eval_small.csv"), "--preset", "toxigen", "--json", "--by", "group"))
    assert (out["positives"], out["negatives"]) == (6, 5)
    overall = out["categories"]["(any)"]
    assert overall["tp"] == 5 and overall["fp"] == 0
    assert overall["precision"] == 1.0
    assert overall["recall"] == pytest.approx(5 / 6, abs=1e-3)
    assert overall["fpr"] == 0.0
    assert out["categories"]["antisemitic_conspiracy"]["tp"] == 3
    assert set(out["evasion"]) >= {"lookalikes", "leet", "spacing", "zero_width"}
    for kind in out["evasion"].values():
        assert kind["share_of_clean"] == 1.0
    assert out["groups"]["jewish"] == {"positives": 3, "negatives": 4, "tp": 3, "fp": 0}


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, str(DATA / "eval_small.csv"), "--positive", "hate", "--negative", "neutral")
    assert "precision" in out and "recall" in out and "fpr" in out
    assert "antisemitic_conspiracy" in out
    assert "evasion (clean recall 0.833)" in out


def test_jsonl_and_column_options(capsys: pytest.CaptureFixture[str]) -> None:
    out = json.loads(_run(capsys, str(DATA / "eval_small.jsonl"), "--label-column", "y", "--positive", "1",
                          "--json", "--no-evasion"))
    assert (out["positives"], out["negatives"]) == (1, 2)
    assert out["categories"]["(any)"]["recall"] == 1.0
    assert out["evasion"] == {}


def test_filters(capsys: pytest.CaptureFixture[str]) -> None:
    out = json.loads(_run(capsys, str(DATA / "eval_small.csv"), "--preset", "toxigen", "--where", "group=jewish",
                          "--json", "--no-evasion"))
    assert (out["positives"], out["negatives"]) == (3, 4)
    out = json.loads(_run(capsys, str(DATA / "eval_small.csv"), "--preset", "toxigen", "--grep", "immigra",
                          "--json", "--no-evasion"))
    assert (out["positives"], out["negatives"]) == (1, 1)


def test_missing_column_is_a_named_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="lacks column"):
        _run(capsys, str(DATA / "eval_small.csv"), "--text-column", "body", "--positive", "hate")


def test_label_in_wrong_case_warns_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["eval-patterns", str(DATA / "eval_small.csv"), "--positive", "HATE", "--no-evasion",
                     "--patterns", str(ROOT / "config" / "patterns.yaml")])
    err = capsys.readouterr().err
    assert code != 0
    assert "--positive 'HATE' matches no row" in err
    assert "'hate'" in err and "'neutral'" in err  # the values the column does have


def test_unknown_negative_value_warns_but_measures(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    eval_patterns.add_arguments(parser)
    args = parser.parse_args([str(DATA / "eval_small.csv"), "--positive", "hate", "--negative", "neutral",
                              "--negative", "Neutral", "--json", "--no-evasion",
                              "--patterns", str(ROOT / "config" / "patterns.yaml")])
    assert eval_patterns.run(args) == 0
    captured = capsys.readouterr()
    assert "--negative 'Neutral' matches no row" in captured.err
    assert "--negative 'neutral'" not in captured.err
    assert json.loads(captured.out)["positives"] == 6


def test_filters_leaving_no_positive_row_fail(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(eval_patterns.NoPositives, match="after --where"):
        _run(capsys, str(DATA / "eval_small.csv"), "--preset", "toxigen", "--where", "group=nobody")
