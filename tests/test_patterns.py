"""The pattern scorer on the shipped lexicon: tropes match in every disguise, identity mentions and news
stay clean, the seed comment is caught, and a bad lexicon is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modbot.config import StreamSettings
from modbot.decisions import DecisionStore
from modbot.errors import ConfigError
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Stance
from modbot.rules import load_rules
from modbot.scoring.evasion import PERTURBATIONS, perturb_spans
from modbot.scoring.patterns import PatternScorer
from modbot.worker import Worker
from tests.helpers import comment_json

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def scorer() -> PatternScorer:
    return PatternScorer.from_file(ROOT / "config" / "patterns.yaml")


POSITIVES = [
    ("the media is controlled by the jews", "antisemitic_conspiracy"),
    ("zionist-owned banks run this country", "antisemitic_conspiracy"),
    ("the jews control the government and hollywood", "antisemitic_conspiracy"),
    ("wars funded by the zionists, as always", "antisemitic_conspiracy"),
    ("the greedy jews want our money", "antisemitic_conspiracy"),
    ("the holocaust is a hoax", "antisemitic_conspiracy"),
    ("muslims are rats", "dehumanisation"),
    ("gas the jews", "dehumanisation"),
    ("1488 brothers", "hate_symbols"),
    ("look who owns it: (((Goldberg)))", "hate_symbols"),
    ("the great replacement is happening", "conspiracy"),
    ("they are replacing us with migrants", "conspiracy"),
    ("the globalist cabal wants war", "conspiracy"),
    ("the jooz run hollywood", "antisemitic_conspiracy"),
    ("zionist puppets in congress", "antisemitic_conspiracy"),
    ("congress are puppets of the zionists", "antisemitic_conspiracy"),
    ("zionists control the central bank", "antisemitic_conspiracy"),
    ("another senator, do an early life check and you'll see", "antisemitic_conspiracy"),
    ("he is a countersemite, that's all", "antisemitic_conspiracy"),
    # QA regressions: dismissed or far-away exception words do not rescue a trope.
    ("Jews control the media. This is no myth.", "antisemitic_conspiracy"),
    ("Jews control the media, call it a conspiracy theory if you want, it is true", "antisemitic_conspiracy"),
    ("Jews control the media (antisemitic trope my ass)", "antisemitic_conspiracy"),
    ("Zionists run the banks, and that is not an antisemitic trope", "antisemitic_conspiracy"),
    ("Call me racist but the jews own hollywood", "antisemitic_conspiracy"),
    ("The jews control congress, so-called antisemitic nonsense or not", "antisemitic_conspiracy"),
    # QA regressions: detection gaps.
    ("\u029dews control the media", "antisemitic_conspiracy"),  # J WITH CROSSED-TAIL look-alike
    ("George Soros is the puppet master", "antisemitic_conspiracy"),
    ("the globalists are the string pullers", "antisemitic_conspiracy"),
    ("those people are subhuman", "dehumanisation"),
    ("these people are vermin and always will be", "dehumanisation"),
    ("all of them are parasites", "dehumanisation"),
    ("jews are behind the media", "antisemitic_conspiracy"),
    ("zionists are behind the wars", "antisemitic_conspiracy"),
    ("Who controls the media? The Jews.", "antisemitic_conspiracy"),
    ("Guess who owns the banks... the zionists", "antisemitic_conspiracy"),
    ("14 words 88", "hate_symbols"),
    # QA regressions: slurs against Black, gay, lesbian and trans people and other groups.
    ("shut up you nigger", "slurs"),
    ("dirty n1gger", "slurs"),
    ("get these niggers out", "slurs"),
    ("what is up my nigga", "slurs"),  # reported at severity 1 (decision in config/patterns.yaml)
    ("niggas like him never learn", "slurs"),
    ("shut up you faggot", "slurs"),
    ("a bunch of faggots wrote this", "slurs"),
    ("look at that dirty dyke", "slurs"),
    ("go away you fag", "slurs"),
    ("shut up you tranny", "slurs"),
    ("no shemales in my bathroom", "slurs"),
    ("the troons are at it again", "slurs"),
    ("send the spics back", "slurs"),
    ("typical paki behaviour", "slurs"),
]

# Spaced, stretched and multiplied spellings of the anti-Black slur all reach the same entry.
SLUR_SPELLINGS = ["n i g g e r", "n.i.g.g.e.r", "niiiigger", "N1GGER", "nigg3rs", "ni\u200bgger"]

CLEAN = [
    "Jewish groups say they run food banks for the poor",
    "My Jewish neighbours said they own a bank in town",
    "A Jewish puppet theatre opened downtown",
    "Jewish weddings can be a lot of fun. Even if you are not Jewish, there is a lot to enjoy.",
    "Zionism is a political movement.",
    "My friend's middle name is historically Jewish.",
    'Police said the vandal had sprayed the slur "kike" on the synagogue wall; the mayor condemned it.',
    "The myth that Jews control the media is an antisemitic conspiracy theory.",
    "Israeli-backed and Iranian-backed militias clashed near the border.",
    "In the year 1488 the town got its charter.",
    "Muslims do not eat pigs.",
    "Immigrants are treated like animals in these camps.",
    "I hate Mondays, my bank is run by idiots.",
    "The deli on the corner is owned by a Jewish family.",
    "Jewish leaders condemned the attack on the mosque.",
    "The Zionist Federation held its annual meeting in London.",
    "Hamas-run health ministry figures could not be verified.",
    # Genuine debunks and reports: matched, with a stance the rules approve.
    "The claim that Jews control the media is an antisemitic myth.",
    "It is a conspiracy theory that Jews control the banks.",
    "The mayor condemned the antisemitic trope that Jews control the banks.",
    "Critics called the post antisemitic: it said Jews control the media.",
    "Who controls the media? Not the Jews, whatever the conspiracy sites say.",
    # QA regressions: history and reported symbols.
    "The Rothschild banking dynasty was founded in Frankfurt",
    "The Rothschild family ran a bank in Vienna in the 19th century.",
    "The jury found the vandal had painted 1488 on the synagogue",
    "Police said the graffiti included the number 14/88 and a swastika.",
    "These people are animal lovers who run the shelter.",
    "Pests in the kitchen: all of them are cockroaches, call an exterminator.",
    # QA regressions: reported or quoted slurs, and words that share a slur's skeleton.
    "the slur 'nigger' was shouted at the player",
    'Fans shouted "faggot" at the referee; the club condemned it.',
    "Police said he called her a dyke before the attack.",
    "The court heard the defendant yelled the word tranny at her.",
    "Niger's president was ousted in a coup.",
    "Floods in the Niger Delta displaced thousands; Niger and Nigeria sent aid.",
    "Refugees on Lesbos wait in the Moria camp.",
]

# Short words with an innocent reading match only when addressed to or heaped on a person.
INNOCENT_SHORT = [
    "I popped out for a fag and a coffee.",
    "We walked the whole of Offa's Dyke last summer.",
    "Homo sapiens left Africa long ago.",
    "Our Maine Coon cat hates the vet.",
    "The mechanic says the tranny in my truck needs a rebuild.",
]


@pytest.mark.parametrize(("text", "category"), POSITIVES)
def test_known_tropes_match(scorer: PatternScorer, text: str, category: str) -> None:
    matches = scorer.match(text)
    assert category in {m.category for m in matches}
    for m in matches:
        assert text[m.start:m.end] == m.text
        assert 1 <= m.severity <= 3


@pytest.mark.parametrize("kind", sorted(PERTURBATIONS))
@pytest.mark.parametrize(("text", "category"), POSITIVES)
def test_each_evasion_form_still_matches(scorer: PatternScorer, text: str, category: str, kind: str) -> None:
    spans = [(m.start, m.end) for m in scorer.match(text)]
    disguised = perturb_spans(text, spans, kind, seed=11)
    if disguised == text:
        pytest.skip(f"{kind} does not change {text!r} (digits have no look-alike or leet form)")
    matches = scorer.match(disguised)
    assert category in {m.category for m in matches}, disguised
    for m in matches:
        assert disguised[m.start:m.end] == m.text


@pytest.mark.parametrize("text", CLEAN)
def test_identity_mentions_and_reports_stay_clean(scorer: PatternScorer, text: str) -> None:
    # A debunk or report may match, but never as a trope the writer asserts or quotes bare.
    assert [m for m in scorer.match(text) if m.stance in (Stance.ASSERTED, Stance.QUOTED)] == []


@pytest.mark.parametrize("text", SLUR_SPELLINGS)
def test_slur_spellings_match(scorer: PatternScorer, text: str) -> None:
    assert [m.pattern for m in scorer.match(text)] == ["anti-black-slur"]


@pytest.mark.parametrize("text", INNOCENT_SHORT)
def test_innocent_short_words_stay_clean(scorer: PatternScorer, text: str) -> None:
    assert scorer.match(text) == []


def test_a_spelling_is_below_the_slurs_rule(scorer: PatternScorer) -> None:
    assert [(m.pattern, m.severity) for m in scorer.match("wassup my nigga")] == [("anti-black-slur-a-spelling", 1)]


def test_span_highlights_the_disguised_characters(scorer: PatternScorer) -> None:
    text = "wow, the Ј\u200bЕ\u200bW\u200bS control the media"
    (match,) = [m for m in scorer.match(text) if m.pattern == "group-controls-institutions"]
    assert match.text.startswith("Ј\u200bЕ") and match.text.endswith("media")
    assert match.start == text.index("Ј")


def test_seed_comment_is_antisemitic_conspiracy(scorer: PatternScorer) -> None:
    comment = (DATA / "seed_comment.txt").read_text(encoding="utf-8").strip()
    hits = [m for m in scorer.match(comment) if m.category == "antisemitic_conspiracy" and m.severity >= 2]
    assert hits
    assert any("Zionist" in m.text for m in hits)


def test_seed_article_paragraphs_are_clean(scorer: PatternScorer) -> None:
    paragraphs = [p.strip() for p in (DATA / "seed_article.txt").read_text(encoding="utf-8").split("\n\n")]
    paragraphs = [p for p in paragraphs if p]
    assert len(paragraphs) >= 11
    for paragraph in paragraphs:
        assert scorer.match(paragraph) == [], paragraph


async def test_score_returns_one_output_per_comment(scorer: PatternScorer) -> None:
    batch = [Comment(id="1", text="the jews control the banks", author=Author(id="a")),
             Comment(id="2", text="nice weather", author=Author(id="b"))]
    out = await scorer.score(batch)
    assert [bool(o.matches) for o in out] == [True, False]
    assert out[0].labels == {}
    assert scorer.name == "patterns"
    assert len(scorer.version) == 12


def test_version_changes_with_the_file(tmp_path: Path, scorer: PatternScorer) -> None:
    copy = tmp_path / "patterns.yaml"
    copy.write_text((ROOT / "config" / "patterns.yaml").read_text(encoding="utf-8") + "\n# edited\n")
    assert PatternScorer.from_file(copy).version != scorer.version


MINIMAL = """\
categories:
  hate_symbols:
    means: symbols
lists:
  g: [jews]
entries:
  - id: one
    category: hate_symbols
    severity: 2
    means: test
    terms: [1488]
"""


def test_minimal_lexicon_with_requires_and_unless(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + """\
  - id: two
    category: hate_symbols
    severity: 1
    means: co-occurrence
    pattern: "greedy"
    requires: [<g>]
    unless: [myth]
    window: 3
""")
    scorer = PatternScorer.from_file(path)
    assert [m.pattern for m in scorer.match("greedy jews")] == ["two"]
    assert scorer.match("greedy people") == []
    assert scorer.match("the myth of greedy jews") == []
    assert scorer.match("greedy one two three four five six jews") == []  # outside the window


def test_exceptions_are_sentence_bounded_and_dismissible(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + """\
  - id: two
    category: hate_symbols
    severity: 1
    means: co-occurrence
    pattern: "greedy jews"
    unless: [myth]
    window: 8
dismissals:
  - "no ~1 <exception>"
""")
    scorer = PatternScorer.from_file(path)
    assert scorer.match("the myth of greedy jews") == []
    assert scorer.match("greedy jews, a myth") == []
    assert [m.pattern for m in scorer.match("greedy jews. a myth")] == ["two"]  # another sentence
    assert [m.pattern for m in scorer.match("greedy jews, no myth")] == ["two"]  # dismissed
    assert [m.pattern for m in scorer.match("greedy jews\na myth")] == ["two"]  # a line break ends a sentence


def test_dismissal_without_exception_placeholder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + "dismissals:\n  - \"no ~1 myth\"\n")
    with pytest.raises(ConfigError, match="<exception>") as err:
        PatternScorer.from_file(path)
    assert err.value.line == 13


@pytest.mark.parametrize(("tail", "line", "needle"), [
    ("  - id: bad\n    category: nope\n    severity: 1\n    means: x\n    terms: [a]\n", 13, "unknown category"),
    ("  - id: bad\n    category: hate_symbols\n    severity: 5\n    means: x\n    terms: [a]\n", 14, "severity"),
    ("  - id: bad\n    category: hate_symbols\n    severity: 1\n    means: x\n    pattern: <missing> word\n", 16,
     "unknown list"),
    ("  - id: one\n    category: hate_symbols\n    severity: 1\n    means: x\n    terms: [a]\n", 12, "duplicate"),
    ("  - id: bad\n    category: hate_symbols\n    severity: 1\n    means: x\n    terms: [a]\n    colour: red\n", 17,
     "unknown key"),
    ("  - id: bad\n    category: hate_symbols\n    severity: 1\n    means: x\n    pattern: the by of\n", 16,
     "stop words"),
    ("  - id: bad\n   category: [\n", 13, "YAML"),
    ("  - id: bad\n    category: hate_symbols\n    severity: 1\n    means: x\n    terms: [a]\n    unless_spelled: x\n",
     17, "unless_spelled"),
])
def test_bad_lexicon_is_refused_with_its_line(tmp_path: Path, tail: str, line: int, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL + tail)
    with pytest.raises(ConfigError) as err:
        PatternScorer.from_file(path)
    assert err.value.line == line
    assert needle in str(err.value)
    assert str(path) in str(err.value)


# Issue 8: evasion hidden in the comment's HTML or in a right-to-left override. Each is matched, and the
# span covers exactly the original characters the reader sees as the trope (markup inside it included).
@pytest.mark.parametrize(("text", "pattern", "span"), [
    ("the globalists who own the b&#97;nks", "coded-controls-institutions", "globalists who own the b&#97;nks"),
    ("the globalists who own the b&#x61nks!", "coded-controls-institutions", "globalists who own the b&#x61nks"),
    ("Roth<b>schilds</b> control the central banks", "coded-controls-institutions",
     "Roth<b>schilds</b> control the central banks"),
    ("<p>Honestly, <em>J</em>ews own the <a href='/b'>banks</a></p>", "group-controls-institutions",
     "J</em>ews own the <a href='/b'>banks"),
    ("J&eacute;ws control the media", "group-controls-institutions", "J&eacute;ws control the media"),
    ("J&shy;ews own the b<i></i>a&#8203;nks", "group-controls-institutions", "J&shy;ews own the b<i></i>a&#8203;nks"),
    ("Read this: \u202esknab eht nwo sweJ\u202c. Wake up.", "group-controls-institutions", "sknab eht nwo sweJ"),
    ("&#8238;aidem eht lortnoc sweJ", "group-controls-institutions", "aidem eht lortnoc sweJ"),
])
def test_markup_evasion_is_matched_with_the_exact_original_span(
        scorer: PatternScorer, text: str, pattern: str, span: str) -> None:
    matches = {m.pattern: m for m in scorer.match(text)}
    assert pattern in matches, scorer.match(text)
    m = matches[pattern]
    assert text[m.start:m.end] == m.text == span


def test_rtl_override_no_longer_reads_backwards(scorer: PatternScorer) -> None:
    """Read in memory order the run above held "nwo" (New World Order); the reader never sees that word."""
    assert [m.pattern for m in scorer.match("\u202esknab eht nwo sweJ")] == ["group-controls-institutions"]


@pytest.mark.parametrize("text", [
    "<p>I love <b>Jewish</b> food</p>",
    "<p>Jewish weddings can be a lot of fun</p><p>Mazel&nbsp;tov!</p>",
    "<blockquote>Zionism is a political movement</blockquote> &mdash; from the article",
    "police said the vandal sprayed &quot;kike&quot; on the wall",
    "Rothschild<br>banking dynasty was founded in Frankfurt",
])
def test_harmless_html_stays_clean(scorer: PatternScorer, text: str) -> None:
    # A reported slur matches, with a stance the rules approve; nothing is asserted or quoted bare.
    assert [m for m in scorer.match(text) if m.stance in (Stance.ASSERTED, Stance.QUOTED)] == []


def test_plain_text_gets_the_same_matches_as_before(scorer: PatternScorer) -> None:
    for text, _ in POSITIVES:
        assert scorer.match(text) == scorer._match_plain(text)


async def test_worker_holds_markup_evasion_and_records_the_original_span(redis_client, prefix):
    """Through a real Valkey stream and the shipped rules: the HTML-disguised tropes are held, each decision
    carries the span on the comment as posted, and harmless HTML is approved."""
    comments = {"entity": "the globalists who own the b&#97;nks",
                "tag": "Roth<b>schilds</b> control the central banks",
                "rtl": "\u202esknab eht nwo sweJ",
                "harmless": "<p>I love <b>Jewish</b> food</p>"}
    keys = Keys(prefix)
    for cid, text in comments.items():
        await redis_client.xadd(keys.comments, {"comment": comment_json(cid, text)})
    rules = load_rules(ROOT / "config" / "rules.yaml")
    worker = Worker(redis_client, keys, StreamSettings(batch_wait_ms=30), "w1",
                    [PatternScorer.from_file(ROOT / "config" / "patterns.yaml")], lambda: rules)
    await worker.reader.ensure_group()
    while batch := await worker.reader.read_batch(poll_ms=50):
        await worker.process(batch)
    store = DecisionStore(redis_client, keys)
    for cid, text in comments.items():
        decision = await store.get(cid)
        assert decision is not None
        if cid == "harmless":
            assert decision.action is Action.APPROVE and not decision.matches
            continue
        assert decision.action is Action.HOLD, (cid, decision)
        assert all(text[m.start:m.end] == m.text for m in decision.matches)
