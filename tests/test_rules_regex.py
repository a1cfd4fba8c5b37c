"""Rules' and the lexicon's own regexes run on RE2: linear time, and a clear refusal for what RE2 cannot take."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modbot.errors import ConfigError
from modbot.models import Action, Author, Comment, Scores
from modbot.rules import RuleSetInvalid, parse_rules
from modbot.scoring.patterns import PatternScorer


def rules(values: str, modifiers: str = "regex") -> bytes:
    return (f"version: 1\nrules:\n  - id: r\n    action: hold\n    when:\n"
            f"      text ({modifiers}):\n        - {values}\n").encode()


def judge(body: bytes, text: str) -> Action:
    return parse_rules(body, "rules.yaml").evaluate(Comment("c", text, Author("u")), Scores()).action


@pytest.mark.parametrize("modifiers", ["regex", "includes, regex", "full-exact, regex", "ends-with, regex"])
def test_nested_quantifier_runs_in_linear_time(modifiers: str) -> None:
    # With Python's re, `(a+)+$` on 27 a's and a '!' backtracks for about 10 seconds per rule.
    body = rules("'(a+)+$'", modifiers)
    start = time.perf_counter()
    assert judge(body, "a" * 27 + "!") is Action.APPROVE
    assert judge(body, "a" * 20_000 + "!") is Action.APPROVE
    assert time.perf_counter() - start < 0.5
    assert judge(body, "aaaa") is Action.HOLD


@pytest.mark.parametrize(("value", "hint"), [
    (r"'(a)\1'", "backreferences are not supported"),
    (r"'(?P<x>a)(?P=x)'", "backreferences are not supported"),
    (r"'(?<!not )spam'", "lookahead and lookbehind are not supported"),
    (r"'spam(?= now)'", "lookahead and lookbehind are not supported"),
    (r"'spam\Z'", r"write \z"),
    (r"'(?>a+)b'", "atomic groups"),
    (r"'a{2000}'", "at most 1000"),
    (r"'(?:[a-z]+ ?){1,1000}!'", "smaller repetition counts"),  # linear, but 5 s on 20,000 characters
    (r"'(unclosed'", "regular expression"),
])
def test_what_re2_refuses_is_a_clear_error_at_its_item(value: str, hint: str) -> None:
    with pytest.raises(RuleSetInvalid) as err:
        parse_rules(rules(value), "rules.yaml")
    e = err.value
    assert (e.file, e.line, e.column) == ("rules.yaml", 7, 11), str(e)  # the list item itself
    assert e.message.startswith("bad regex") and hint in (e.hint or ""), str(e)
    assert "drop 'regex'" in (e.hint or "")


def test_case_folding_and_word_edges_as_before() -> None:
    body = rules("'n[o0]+b'")  # includes-word by default
    assert judge(body, "what a N00B!") is Action.HOLD
    assert judge(body, "noobish") is Action.APPROVE  # not a whole word
    assert judge(body, "énoob") is Action.APPROVE  # a non-ASCII letter is part of the word, as with re
    assert judge(rules("'été'"), "ÉTÉ 2026") is Action.HOLD  # Unicode case folding
    assert judge(rules("'été'", "case-sensitive, regex"), "ÉTÉ 2026") is Action.APPROVE
    assert judge(rules("'hi+'", "full-text, regex"), "  Hiii!! ") is Action.HOLD
    assert judge(rules("'hi+'", "full-text, regex"), "hiii there") is Action.APPROVE


def test_explain_names_the_regex_match() -> None:
    ruleset = parse_rules(rules("'b[a4]d\\s*w[o0]rd'", "includes, regex"), "rules.yaml")
    explanation = ruleset.explain(Comment("c", "such a B4D  w0rd here", Author("u")), Scores())
    assert explanation.verdict.rule == "r"
    assert "matched 'B4D  w0rd'" in "\n".join(explanation.lines())


LEXICON = """\
categories:
  hate_symbols:
    means: symbols
entries:
  - id: brackets
    category: hate_symbols
    severity: 2
    means: echo brackets
    trigger: "((("
    regex: {regex}
"""


def test_lexicon_regex_entries_run_on_re2(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    # Nested repetition again; "ab" because the skeleton folds a stretched "aaaa" to "a". With re: seconds.
    path.write_text(LEXICON.format(regex=r"'\( ?\( ?\( ?(?:(?:ab)+)+$'"))
    scorer = PatternScorer.from_file(path)
    start = time.perf_counter()
    assert scorer.match("((( " + "ab" * 25 + "!") == []
    assert time.perf_counter() - start < 0.5
    assert [m.pattern for m in scorer.match("((( abab")] == ["brackets"]


def test_lexicon_regex_backreference_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(LEXICON.format(regex=r"'\(\(\((\w+)\)\)\) \1'"))
    with pytest.raises(ConfigError) as err:
        PatternScorer.from_file(path)
    assert err.value.line == 10 and str(path) in str(err.value)
    assert "backreferences are not supported" in str(err.value)


def test_links_feature_is_linear_in_the_comment() -> None:
    # The comment text is anyone's: with re's backtracking, dotted runs took minutes at 20,000 characters.
    body = b"version: 1\nrules:\n  - id: links\n    action: hold\n    when: {features: {links: '>= 2'}}\n"
    start = time.perf_counter()
    for text in ("a." * 10_000, "a-" * 10_000 + ".", ("a" * 50 + ".") * 390):
        assert judge(body, text) is Action.APPROVE
    assert time.perf_counter() - start < 0.5
    assert judge(body, "see http://a.com/x and www.b.org") is Action.HOLD
    assert judge(body, "a.com\u00a0b.org") is Action.HOLD  # a no-break space still separates two links
    assert judge(body, "see http://a.com/x only, e.g. U.S. news") is Action.APPROVE
