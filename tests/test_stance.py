"""Stance of pattern matches (modbot.scoring.stance): the cue that decides each stance, the rules that test it,
and the per-stance counters. The functional suite (tests/test_functional_suite.py) measures quality at scale;
these tests pin the mechanics, one case per rule of the reader."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from modbot.decisions import DecisionStore
from modbot.errors import ConfigError, RuleError
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Match, Scores, Stance
from modbot.pipeline import decide
from modbot.rules import load_rules
from modbot.rules.stats import StanceStats, read_rule_stats
from modbot.scoring.lexicon import load_lexicon
from modbot.scoring.patterns import PatternScorer
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def scorer() -> PatternScorer:
    return PatternScorer.from_file(ROOT / "config" / "patterns.yaml")


def _stance(scorer: PatternScorer, text: str) -> tuple[Stance, str | None]:
    """The stance and cue of the strongest match (the test texts each hold one trope)."""
    strongest = Match.strongest(scorer.match(text))
    assert strongest is not None, f"no match in {text!r}"
    assert text[strongest.start:strongest.end] == strongest.text
    if strongest.cue_start is not None:
        assert strongest.cue_end is not None
        assert text[strongest.cue_start:strongest.cue_end] == strongest.cue
    return strongest.stance, strongest.cue


def test_plain_claim_is_asserted_without_a_cue(scorer: PatternScorer) -> None:
    assert _stance(scorer, "Face the facts: the Jews control the newspapers") [0] is Stance.ASSERTED
    assert _stance(scorer, "jews control the newspapers") == (Stance.ASSERTED, None)


def test_negation_inside_or_just_before_the_trope_refutes(scorer: PatternScorer) -> None:
    assert _stance(scorer, "Jews do not control the newspapers") == (Stance.REFUTED, "not")
    assert _stance(scorer, "No, the Jews never controlled the banks") [0] is Stance.REFUTED


def test_negation_in_another_clause_does_not_refute(scorer: PatternScorer) -> None:
    assert _stance(scorer, "I'm not kidding, the Jews control the newspapers")[0] is Stance.ASSERTED
    assert _stance(scorer, "It's no secret that the Jews control the newspapers")[0] is Stance.ASSERTED


def test_refutation_word_in_the_sentence_or_opening_the_next(scorer: PatternScorer) -> None:
    assert _stance(scorer, "That the Jews control the newspapers is a baseless smear") [0] is Stance.REFUTED
    assert _stance(scorer, "The Jews control the newspapers. Utter nonsense, of course.") [0] is Stance.REFUTED


def test_a_refutation_far_into_the_next_sentence_does_not_count(scorer: PatternScorer) -> None:
    text = "The Jews control the newspapers. I read it in a book my cousin gave me last year, not a myth."
    assert _stance(scorer, text)[0] is Stance.ASSERTED


def test_dismissed_or_taken_back_refutation_is_asserted(scorer: PatternScorer) -> None:
    assert _stance(scorer, "The Jews control the newspapers, and that is no myth")[0] is Stance.ASSERTED
    assert _stance(scorer, "They call it a myth, but the Jews control the newspapers")[0] is Stance.ASSERTED


def test_words_of_the_trope_itself_never_refute_it(scorer: PatternScorer) -> None:
    # "myth" and "never" are the denial here, not a refutation of it: they are the trope's own words.
    assert _stance(scorer, "the holocaust is a myth")[0] is Stance.ASSERTED
    assert _stance(scorer, "the gas chambers never happened")[0] is Stance.ASSERTED


def test_endorsed_quote_is_asserted_with_the_endorsement_as_cue(scorer: PatternScorer) -> None:
    stance, cue = _stance(scorer, '"The Jews control the newspapers." Finally someone said it.')
    assert stance is Stance.ASSERTED and cue is not None and cue.lower().startswith("finally someone")


def test_challenge_question_is_questioned(scorer: PatternScorer) -> None:
    assert _stance(scorer, "You think the Jews control the newspapers? Show your evidence?")[0] is Stance.QUESTIONED
    assert _stance(scorer, "Do the Jews control the newspapers?")[0] is Stance.QUESTIONED


def test_presupposing_or_rhetorical_question_stays_asserted(scorer: PatternScorer) -> None:
    assert _stance(scorer, "Why do the Jews control the newspapers?")[0] is Stance.ASSERTED
    assert _stance(scorer, "Isn't it obvious the Jews control the newspapers?")[0] is Stance.ASSERTED


def test_news_register_and_past_attribution_are_reported(scorer: PatternScorer) -> None:
    assert _stance(scorer, "The man was convicted after shouting that Jews control the newspapers")[0] \
        is Stance.REPORTED
    assert _stance(scorer, "A councillor said Jews control the newspapers")[0] is Stance.REPORTED


def test_present_attribution_or_bare_quotation_is_quoted(scorer: PatternScorer) -> None:
    assert _stance(scorer, "My neighbour says Jews control the newspapers") == (Stance.QUOTED, "says")
    assert _stance(scorer, "“Jews control the newspapers”")[0] is Stance.QUOTED


def test_first_person_attribution_is_the_writer_speaking(scorer: PatternScorer) -> None:
    assert _stance(scorer, "I say Jews control the newspapers")[0] is Stance.ASSERTED


def test_in_group_speaker_is_self(scorer: PatternScorer) -> None:
    stance, cue = _stance(scorer, "As a Jewish mother I am sick of hearing that Jews control the newspapers")
    assert stance is Stance.SELF and cue == "As a Jewish"


def test_explained_symbol_is_reported(scorer: PatternScorer) -> None:
    assert _stance(scorer, "1488 on his jacket is a neo-Nazi code")[0] is Stance.REPORTED


# --- rules ---------------------------------------------------------------------------------------------------


def _rules(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(f"version: 1\nrules:\n  - id: r\n    action: hold\n    reason: '{{{{match}}}} ({{{{stance}}}})'\n"
                    f"    when:\n      {when}\n")
    return path


def test_rule_tests_stance_and_names_it_in_the_reason(tmp_path: Path, scorer: PatternScorer) -> None:
    ruleset = load_rules(_rules(tmp_path, "pattern: {category: antisemitic_conspiracy, stance: [quoted]}"))
    comment = Comment(id="c", text="My neighbour says Jews control the newspapers", author=Author(id="u"))
    decision = decide(comment, Scores(matches=tuple(scorer.match(comment.text))), ruleset, {})
    assert decision.action is Action.HOLD and decision.stance is Stance.QUOTED
    assert decision.reason == "Jews control the newspapers (quoted — cue: 'says')"
    asserted = Comment(id="d", text="Jews control the newspapers", author=Author(id="u"))
    assert decide(asserted, Scores(matches=tuple(scorer.match(asserted.text))), ruleset, {}).action is Action.APPROVE


def test_unknown_stance_is_a_validation_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"unknown stance 'asserte'.*did you mean 'asserted'"):
        load_rules(_rules(tmp_path, "pattern: {category: any, stance: asserte}"))


def test_unless_quoted_is_refused_with_what_replaced_it(tmp_path: Path) -> None:
    path = tmp_path / "patterns.yaml"
    path.write_text("categories: {c: {means: m}}\nentries:\n  - {id: e, category: c, severity: 1, means: m,"
                    " terms: [badword], unless_quoted: true}\n")
    with pytest.raises(ConfigError, match="replaced by stance detection"):
        load_lexicon(path)


def test_shipped_rules_hold_asserted_approve_talk_and_hold_bare_quotes_low(scorer: PatternScorer) -> None:
    ruleset = load_rules(ROOT / "config" / "rules.yaml")

    def verdict(text: str) -> tuple[Action, str | None, int]:
        c = Comment(id="c", text=text, author=Author(id="u"))
        d = decide(c, Scores(matches=tuple(scorer.match(text))), ruleset, {})
        return d.action, d.rule, d.priority

    assert verdict("Jews control the newspapers") == (Action.HOLD, "antisemitic-conspiracy", 100)
    assert verdict("That Jews control the newspapers is an antisemitic myth")[:2] == (Action.APPROVE,
                                                                                     "discussing-hate")
    held = verdict("My neighbour says Jews control the newspapers")
    assert held[:2] == (Action.HOLD, "quoted-trope") and held[2] < 100


# --- counters --------------------------------------------------------------------------------------------------


async def test_holds_and_verdicts_are_counted_per_stance(redis_client: aioredis.Redis, prefix: str,
                                                         scorer: PatternScorer) -> None:
    keys = Keys(prefix)
    store = DecisionStore(redis_client, keys)
    ruleset = load_rules(ROOT / "config" / "rules.yaml")
    for cid, text in (("q1", "My neighbour says Jews control the newspapers"),
                      ("q2", "My uncle claims Jews control the banks"),
                      ("a1", "Jews control the newspapers")):
        comment = Comment(id=cid, text=text, author=Author(id="u"))
        await store.record(comment, decide(comment, Scores(matches=tuple(scorer.match(text))), ruleset, {}))
    await store.record_verdict("q1", Action.APPROVE, "alice")
    await store.record_verdict("q2", Action.REJECT, "alice")
    stats = await read_rule_stats(redis_client, keys)
    assert stats["quoted-trope"].by_stance == {"quoted": StanceStats(held=2, upheld=1, overturned=1)}
    assert stats["antisemitic-conspiracy"].by_stance == {"asserted": StanceStats(held=1)}


def test_blockquote_is_quoted_and_cues_map_back_onto_the_html(scorer: PatternScorer) -> None:
    quoted = scorer.match("<blockquote>Jews control the newspapers</blockquote>")
    assert [m.stance for m in quoted] == [Stance.QUOTED]
    html = "Jews control the newspapers. <b>Utter</b> nonsense."
    m = Match.strongest(scorer.match(html))
    assert m is not None and m.stance is Stance.REFUTED
    assert m.cue_start is not None and html[m.cue_start:m.cue_end] == m.cue and "nonsense" in (m.cue or "")


def test_decision_round_trips_its_stance() -> None:
    from modbot.models import Decision
    d = Decision(comment_id="c", action=Action.HOLD, rule="r", reason="x", scores={}, versions={},
                 matches=(Match("c", "p", 0, 1, "x", 2, Stance.QUOTED, "says", 3, 7),),
                 decided_at=datetime.now(UTC), stance=Stance.QUOTED)
    back = Decision.from_dict(d.to_dict())
    assert back == d and back.matches[0].stance is Stance.QUOTED
