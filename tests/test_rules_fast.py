"""The rules' fast paths decide exactly as before: `all:` tests cheap parts first but joins evidence in file order,
comments without matches skip the rules that need one (the verdict equals `explain`'s, which evaluates every
rule), costly text features run only when a rule gets that far, and the capital count's ASCII path counts as
the general one does."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.models import Author, Comment, Match, Scores, Stance
from modbot.rules import load_rules, parse_rules
from modbot.rules.compiled import compile_condition
from modbot.rules.conditions import AllOf, Context, needs_match
from modbot.rules.features import caps_ratio

ROOT = Path(__file__).resolve().parent.parent
LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")


def test_all_of_checks_cheap_parts_first_but_keeps_evidence_in_file_order() -> None:
    rs = parse_rules(textwrap.dedent("""\
        version: 1
        rules:
          - id: r1
            action: hold
            when:
              all:
                - text: [cat]
                - pattern: {category: any}
                - author: {account_age: "> 1 day"}
        """).encode(), "rules.yaml")
    cond = rs.rules[0].when
    assert isinstance(cond, AllOf)
    assert [type(cond.children[i]).__name__ for i in cond._order] == ["PatternTest", "AuthorTest", "TextMatch"]
    match = Match("conspiracy", "p", 8, 11, "NWO")
    ctx = Context(Comment("c", "the cat NWO", Author("u", account_age_days=30.0)), Scores(matches=(match,)), {})
    evidence = cond.check(ctx)
    assert evidence is not None and evidence.texts == ("cat", "NWO") and evidence.matches == (match,)
    young = Context(Comment("c", "the cat NWO", Author("u", account_age_days=0.5)), Scores(matches=(match,)), {})
    assert cond.check(young) is None


def test_link_count_runs_only_for_comments_that_pass_the_cheap_parts() -> None:
    rs = load_rules(ROOT / "config" / "rules.yaml")
    links = "see a.com and b.org and c.net"
    old = Context(Comment("c", links, Author("u", account_age_days=300.0)), Scores(), {})
    new = Context(Comment("c", links, Author("u", account_age_days=1.0)), Scores(), {})
    for ctx in (old, new):
        for rule in rs.rules:
            rule.when.check(ctx)
    assert "links" not in old._features
    assert new._features["links"] == 3


def test_needs_match_is_true_only_for_conditions_that_cannot_hold_without_one() -> None:
    rs = load_rules(ROOT / "config" / "rules.yaml")
    needing = {r.id for r in rs.rules if needs_match(r.when)}
    assert needing == {"antisemitic-conspiracy", "dehumanisation", "hate-symbols", "slurs", "conspiracy-narrative",
                       "discussing-hate", "quoted-trope"}
    for rule in rs.rules:
        if rule.id in needing:
            assert rule.when.check(Context(Comment("c", "x", Author("u")), Scores(), {})) is None


def test_evaluate_equals_explain_on_random_comments() -> None:
    """`explain` evaluates every rule in full; `evaluate` skips match-only rules and reorders `all:` parts."""
    rs = load_rules(ROOT / "config" / "rules.yaml")
    rng = random.Random(4)
    texts = ["fine words", "VISIT A.COM B.ORG NOW " * 12, "see a.com and b.org", "ok " * 90, "WHY " * 70]
    categories = sorted({"antisemitic_conspiracy", "dehumanisation", "hate_symbols", "conspiracy", "slurs"})
    fired = set()
    for i in range(3000):
        matches = tuple(Match(rng.choice(categories), "p", 0, 3, "abc", rng.randint(1, 3), rng.choice(list(Stance)))
                        for _ in range(rng.choice((0, 0, 0, 1, 2))))
        labels = {k: rng.random() ** 3 for k in LABELS}
        author = Author("u", "n", rng.choice((None, 0.5, 100.0)), 0,
                        frozenset(rng.choice(((), ("trusted",), ("moderator",)))))
        comment = Comment(str(i), rng.choice(texts), author)
        verdict = rs.evaluate(comment, Scores(labels, matches))
        assert verdict == rs.explain(comment, Scores(labels, matches)).verdict
        fired.add(verdict.rule)
    assert {"link-spam-new-account", "shouting", "slurs", "discussing-hate", None} <= fired


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_caps_ratio_ascii_path_counts_as_the_general_one(text: str) -> None:
    letters = [c for c in text if c.isalpha()]
    expected = sum(1 for c in letters if c.isupper()) / len(letters) if letters else 0.0
    assert caps_ratio(text) == expected


def test_caps_ratio_non_ascii_text() -> None:
    assert caps_ratio("ÉCOLE fermée") == 5 / 11


_EVERY_KIND = """\
version: 1
thresholds: {toxic: 0.5}
rules:
  - {id: fixed, action: hold, when: {score: {label: insult, gt: 0.5, lt: 0.8}}}
  - {id: named, action: hold, when: {score: {label: toxicity, gte: toxic}}}
  - {id: lte, action: hold, when: {score: {label: threat, lte: 0.1}}}
  - {id: age, action: hold, when: {author: {account_age: "< 7 days"}}}
  - {id: approved, action: hold, when: {author: {approved_count: ">= 3"}}}
  - {id: flags, action: hold, when: {author: {flags: [verified, trusted], account_age: "> 1 year"}}}
  - {id: feats, action: hold, when: {features: {links: ">= 1", caps_ratio: "> 0.5", length: "<= 40"}}}
  - {id: words, action: hold, when: {features: {words: "!= 3", repeated_chars: ">= 4"}}}
  - {id: nested, action: hold, when: {any: [{all: [{text: [cat]}, {pattern: {category: any}},
                                                   {not: {score: {label: insult, gte: 0.3}}}]},
                                            {not: {author: {flags: [trusted]}}}]}}
  - {id: evidence, action: hold, when: {all: [{pattern: {category: slurs, min_count: 2}}, {text: [dog, cat]},
                                              {any: [{text: [bird]}, {features: {length: "> 3"}}]}]}}
"""


def test_compiled_conditions_return_what_check_returns() -> None:
    """Every condition kind, compiled, against `check` on random comments: same evidence (or None) each time."""
    rs = parse_rules(_EVERY_KIND.encode(), "rules.yaml")
    rng = random.Random(9)
    texts = ["the cat", "WWW.A.COM CAT dog bird", "dog cat bird!!!!", "a b c", "", "sooooo good",
             "x.org 1 2 3 4 5 6 7 8 9 0 " * 3]
    held = {r.id: 0 for r in rs.rules}
    for i in range(3000):
        matches = tuple(Match(rng.choice(("slurs", "conspiracy")), "p", 0, 3, rng.choice(("abc", "xyz")))
                        for _ in range(rng.choice((0, 1, 2, 3))))
        labels = {k: rng.random() for k in ("insult", "toxicity", "threat") if rng.random() < 0.9}
        author = Author("u", "n", rng.choice((None, 0.5, 100.0, 800.0)), rng.randint(0, 5),
                        frozenset(rng.sample(("trusted", "verified", "moderator"), rng.randint(0, 3))))
        comment = Comment(str(i), rng.choice(texts), author)
        for rule in rs.rules:
            ctx = Context(comment, Scores(labels, matches), {"toxic": 0.5})
            expected = rule.when.check(ctx)
            assert compile_condition(rule.when)(Context(comment, Scores(labels, matches), {"toxic": 0.5})) == expected
            held[rule.id] += expected is not None
    assert all(0 < n < 3000 for n in held.values()), str(held)  # each rule both holds and fails somewhere


_LEAVES = (
    "{score: {label: insult, gt: 0.5}}", "{score: {label: toxicity, gte: toxic}}", "{score: {label: threat, lte: 0.1}}",
    "{score: {label: identity_attack, gte: 0.0}}", "{author: {account_age: '< 7 days'}}",
    "{author: {approved_count: '>= 3'}}", "{author: {flags: [trusted]}}", "{features: {links: '>= 1'}}",
    "{features: {caps_ratio: '> 0.5'}}", "{features: {length: '<= 20'}}", "{features: {words: '!= 3'}}",
    "{features: {repeated_chars: '== 4'}}", "{text: [cat]}", "{text (regex): ['d.g']}",
    "{pattern: {category: any}}", "{pattern: {category: slurs, min_count: 2}}",
    "{pattern: {category: conspiracy, stance: [asserted]}}",
)


def _random_condition(rng: random.Random, depth: int = 0) -> str:
    kind = rng.random()
    if depth >= 2 or kind < 0.5:
        return rng.choice(_LEAVES)
    if kind < 0.65:
        return "{not: " + _random_condition(rng, depth + 1) + "}"
    parts = ", ".join(_random_condition(rng, depth + 1) for _ in range(rng.randint(1, 3)))
    return "{" + rng.choice(("all", "any")) + ": [" + parts + "]}"


def _random_rules(rng: random.Random) -> str:
    lines = ["version: 1", "thresholds: {toxic: 0.5}", "rules:"]
    for n in range(rng.randint(1, 6)):
        action = rng.choice(("hold", "reject", "approve", "spam"))
        exempt = rng.choice(("true", "false"))
        lines.append(f"  - {{id: r{n}, action: {action}, priority: {rng.randint(0, 3)}, moderators_exempt: {exempt},"
                     f" reason: 'r{n} {{{{match}}}}', when: {_random_condition(rng)}}}")
    return "\n".join(lines) + "\n"


def test_the_written_out_rules_decide_as_explain_on_random_rule_sets() -> None:
    """modbot.rules.judge writes a rule set out as one function: on random rule sets (every condition kind,
    nested, moderator exemptions) and random comments, `evaluate` decides as `explain`, which walks the tree."""
    rng = random.Random(11)
    texts = ["the cat", "WWW.A.COM CAT dog bird", "dog cat bird!!!!", "a b c", "", "dig dug", "x.org " * 5]
    actions = set()
    for _ in range(150):
        rs = parse_rules(_random_rules(rng).encode(), "rules.yaml")
        for i in range(40):
            matches = tuple(Match(rng.choice(("slurs", "conspiracy")), "p", 0, 3, "abc", 1,
                                  rng.choice(list(Stance))) for _ in range(rng.choice((0, 0, 1, 2))))
            labels = {k: rng.random() for k in ("insult", "toxicity", "threat") if rng.random() < 0.9}
            author = Author("u", "n", rng.choice((None, 0.5, 100.0)), rng.randint(0, 5),
                            frozenset(rng.sample(("trusted", "moderator"), rng.randint(0, 2))))
            comment = Comment(str(i), rng.choice(texts), author)
            scores = Scores(labels, matches)
            verdict = rs.evaluate(comment, scores)
            assert verdict == rs.explain(comment, scores).verdict
            actions.add((verdict.action, verdict.rule is None))
    assert len(actions) >= 5  # rules of every action fired, and the default decided too


def test_rule_file_text_never_becomes_code() -> None:
    """The written-out function takes every value from the rules file as a constant: an id, a flag or a text
    that looks like Python stays data."""
    rs = parse_rules(textwrap.dedent("""\
        version: 1
        rules:
          - id: x-1
            action: hold
            when: {all: [{author: {flags: ["') or True or ('"]}}, {text: ["__import__('os')"]}]}
        """).encode(), "rules.yaml")
    flagged = Author("u", flags=frozenset({"') or True or ('"}))
    assert rs.evaluate(Comment("c", "try __import__('os') now", flagged), Scores()).rule == "x-1"
    assert rs.evaluate(Comment("c", "try __import__('os') now", Author("u")), Scores()).rule is None
