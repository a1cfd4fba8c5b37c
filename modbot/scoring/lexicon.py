"""Read config/patterns.yaml and compile it: one Aho–Corasick automaton of anchor words plus one small regex
per entry, both over the normalised skeleton (see modbot.scoring.normalize).

Schema (documented for operators at the top of config/patterns.yaml):

    categories: {NAME: {means: str, unless: [token...], window: int, stance: claim | mention | denial}}
    lists:      {NAME: [word or phrase, "prefix*", <OTHER>, ...]}  # referenced as <NAME>; <OTHER> = a list above
    dismissals: ["not ~1 <exception>", "<exception> my ass", ...]  # frames that cancel an exception word
    stance:     {KIND: [cue pattern, ...]}   # the stance reader's cues (self, refute, condemn, endorse, ...),
                                             # compiled into one regex per kind (modbot.scoring.stance.StanceCues)
    entries:
      - id: str                      # unique; reported as Match.pattern
        category: NAME               # declared under categories
        severity: 1..3
        means: str                   # what the entry means, for operators and reviewers
        one of:
          terms: [phrase, ...]       # any phrase matches
          pattern: "tok tok ~N tok"  # tok = word | a|b|c | (a phrase|another) | <list>; ~N: up to N words between
          regex: str + trigger: str  # raw regex over the skeleton, tried only when `trigger` occurs
        gap: int                     # default gap between pattern tokens (0)
        requires: [token...]         # all must occur within `window` words of the match
        unless: [token...]           # none may occur within `window` words (adds to the category's); an
                                     # exception counts only in the match's own sentence(s) and not inside
                                     # a dismissal frame ("this is no myth", "racist my ass")
        window: int                  # words each side for requires/unless; absent: the whole comment
        inherit_unless: bool         # false: ignore the category's `unless` list for this entry
        stance: claim|mention|denial # how the stance reader weighs the words around a match (default: the
                                     # category's, else claim); see modbot.scoring.stance
        unless_spelled: [word...]    # a match spelled exactly so (doubled letters kept) is not flagged:
                                     # the skeleton folds "nigger" and the country "Niger" alike
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modbot.errors import ConfigError
from modbot.saferegex import LinearRegex, RegexRefused, compile_linear
from modbot.scoring.automaton import Automaton
from modbot.scoring.normalize import normalize, spelled
from modbot.scoring.stance import StanceCues
from modbot.yamlsrc import LDict, LList, error_at, load_yaml

# Function words never serve as anchors: an entry is tried only when its content words are present,
# and "the", "by" or "are" occur in nearly every comment.
STOPWORDS = frozenset(normalize(w) for w in (
    "a", "an", "the", "of", "to", "by", "in", "on", "at", "for", "from", "with", "and", "or", "but", "is",
    "are", "was", "were", "be", "been", "being", "am", "r", "its", "it", "this", "that", "these", "those",
    "they", "them", "their", "he", "she", "his", "her", "we", "us", "our", "you", "your", "i", "me", "my",
    "all", "some", "most", "just", "so", "as", "than", "like", "not", "no", "do", "does", "did", "has",
    "have", "had", "will", "would", "can", "could", "should", "who", "whom", "which", "what", "there",
    "here",
))

_ENTRY_KEYS = {"id", "category", "severity", "means", "terms", "pattern", "regex", "trigger", "gap",
               "requires", "unless", "window", "inherit_unless", "unless_spelled", "stance"}
_CATEGORY_KEYS = {"means", "unless", "window", "stance"}
STANCE_PROFILES = ("claim", "mention", "denial")
_STANCE_KEYS = ("self", "refute", "condemn", "verdict", "negation", "not_negation", "take_back", "endorse",
                "challenge", "doubt", "report", "explain", "speech_past", "speech_present", "naming", "yes_no")
NO_CUES = StanceCues(**{("self_markers" if k == "self" else k): None for k in _STANCE_KEYS}, dismiss=None)
# A token: a ~N gap, a <list>, a (phrase one|phrase two) group of alternatives that may hold spaces, or a word
# (a|b for one word or another).
_TOKEN = re.compile(r"~\d+|<[a-z0-9_]+>|\([^()<>~]*\|[^()<>~]*\)|[^\s~<>]+")


@dataclass(frozen=True)
class Entry:
    """One compiled lexicon entry."""

    id: str
    category: str
    severity: int
    means: str
    regex: re.Pattern[str] | LinearRegex  # LinearRegex (RE2) for `regex:` entries, written by the operator
    anchors: frozenset[str]  # anchor ids that must all have been seen for the regex to be tried
    requires: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    window: int | None
    # Regex source of the dismissal frames around this entry's exception words; compiled on first use
    # (an exception word near a match is rare, and compiling every entry's frames would slow every load).
    dismiss: str | None = None
    # Exact spellings (see normalize.spelled) that are not this entry even though their skeleton matches.
    unless_spelled: frozenset[str] = frozenset()
    # How the stance reader weighs cues around this entry: claim, mention (slurs: used or mentioned) or denial
    # (a trope that is itself a denial); see modbot.scoring.stance.StanceReader.classify.
    stance: str = "claim"
    # True for `pattern:` entries, whose regex captures each ~N gap as a group: a negation in a gap ("the
    # Holocaust is not a hoax") refutes the trope, a negation among its own words ("never happened") is the trope.
    gapped: bool = False
    # The most spaces a match of `regex` can hold (None for a raw `regex:`, which has no such bound): a match lies
    # within `reach` words of each of its anchor words, so long comments are searched only there (AnchorSites).
    reach: int | None = None


@dataclass(frozen=True)
class Lexicon:
    """Compiled lexicon: entries, anchor automatons, stance cues and the file's short hash."""

    entries: tuple[Entry, ...]
    automaton: Automaton[frozenset[str]]  # " key " (space-padded skeleton word) -> the anchor ids it serves
    version: str
    stance: StanceCues = NO_CUES
    # The same anchor words unpadded: skeleton word -> ((anchor id, is prefix), ...). Finds where each anchor
    # occurs (modbot.scoring.anchors), not merely whether it does.
    sites: Automaton[tuple[tuple[str, bool], ...]] | None = None

    @property
    def categories(self) -> frozenset[str]:
        """The categories entries report (what rules may name)."""
        return frozenset(e.category for e in self.entries)


def _fold_item(item: str) -> tuple[str, bool]:
    """Fold a list item or term to the skeleton; a trailing `*` means "followed by any letters"."""
    prefix = item.endswith("*")
    return normalize(item.rstrip("*")).strip(), prefix


def _item_regex(folded: str, prefix: bool) -> str:
    return re.escape(folded) + (r"\w*" if prefix else "")


def _alternation(items: Iterable[tuple[str, bool]]) -> str:
    parts = sorted({_item_regex(f, p) for f, p in items if f}, key=len, reverse=True)
    return "(?:" + "|".join(parts) + ")"


def _bounded(body: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + body + r"(?!\w)")


class _Compiler:
    """Turns the YAML tree into entries; every error points at the offending line."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lists: dict[str, list[tuple[str, bool]]] = {}
        self.keys: dict[str, dict[str, bool]] = {}  # skeleton key -> {anchor id: is prefix}
        self.categories: dict[str, LDict] = {}
        self.dismissals: list[tuple[LList, int, list[str]]] = []  # (node, index, tokens) per frame

    def error(self, node: Any, key: Any, message: str, hint: str | None = None) -> ConfigError:
        return error_at(node, key, message, self.file, hint)

    def add_key(self, folded: str, anchor: str, prefix: bool) -> None:
        self.keys.setdefault(folded, {})
        self.keys[folded][anchor] = self.keys[folded].get(anchor, False) or prefix

    def load_lists(self, node: Any) -> None:
        if node is None:
            return
        if not isinstance(node, LDict):
            raise self.error(node, None, "`lists` must be a mapping of name -> list of words")
        for name, items in node.items():
            if not re.fullmatch(r"[a-z0-9_]+", str(name)):
                raise self.error(node, name, f"list name {name!r} must be lower-case letters, digits, _")
            if not isinstance(items, LList) or not items or not all(isinstance(i, str | int) for i in items):
                raise self.error(node, name, f"list {name!r} must be a non-empty list of words")
            folded: list[tuple[str, bool]] = []
            for idx, item in enumerate(items):
                ref = re.fullmatch(r"<([a-z0-9_]+)>", str(item))
                if ref:  # another list, defined above this one: its words join this list
                    if ref.group(1) not in self.lists:
                        raise self.error(items, idx, f"unknown list {item}", hint="define it above this list")
                    folded += self.lists[ref.group(1)]
                    continue
                f, prefix = _fold_item(str(item))
                if not f:
                    raise self.error(items, idx, f"item {items[idx]!r} is empty after normalisation")
                folded.append((f, prefix))
            self.lists[name] = folded

    def load_categories(self, node: Any) -> None:
        if not isinstance(node, LDict) or not node:
            raise self.error(node, None, "`categories` must map each category name to {means: ...}")
        for name, spec in node.items():
            if not isinstance(spec, LDict) or not isinstance(spec.get("means"), str):
                raise self.error(node, name, f"category {name!r} needs a `means:` text")
            extra = set(spec) - _CATEGORY_KEYS
            if extra:
                raise self.error(spec, sorted(extra)[0], f"unknown key {sorted(extra)[0]!r} in category",
                                 hint=f"allowed: {', '.join(sorted(_CATEGORY_KEYS))}")
            self.categories[name] = spec

    def token_regex(self, tok: str, node: Any, key: Any, anchor_ok: bool = True) -> tuple[str, str | None]:
        """Regex for one token and the anchor id it contributes (None for stopwords)."""
        if tok.startswith("<"):
            name = tok[1:-1]
            if name not in self.lists:
                raise self.error(node, key, f"unknown list <{name}>", hint="define it under `lists:`")
            items = self.lists[name]
            anchor = f"list:{name}"
            # A list holding a stop word ("us") cannot be an anchor: the word would be looked up everywhere.
            if any(f in STOPWORDS for f, _ in items):
                return _alternation(items), None
            for f, p in items:
                self.add_key(f, anchor, p)
            return _alternation(items), anchor
        if tok.startswith("(") and tok.endswith(")") and "|" in tok:
            tok = tok[1:-1]  # (phrase one|phrase two): alternatives that may hold spaces
        items = [_fold_item(t) for t in tok.split("|")]
        if any(not f for f, _ in items):
            raise self.error(node, key, f"token {tok!r} has an empty alternative")
        if any(f in STOPWORDS for f, _ in items) or not anchor_ok:
            return _alternation(items), None
        anchor = "word:" + "|".join(sorted(f for f, _ in items))
        for f, p in items:
            self.add_key(f, anchor, p)
        return _alternation(items), anchor

    def load_dismissals(self, node: Any) -> None:
        """Frames like "not ~2 <exception>": checked later per entry, with <exception> = its exception words."""
        if node is None:
            return
        if not isinstance(node, LList) or not all(isinstance(i, str) for i in node):
            raise self.error(node, None, "`dismissals` must be a list of patterns using <exception>")
        for idx, frame in enumerate(node):
            tokens = _TOKEN.findall(frame)
            if "<exception>" not in tokens:
                raise self.error(node, idx, f"dismissal {frame!r} does not contain <exception>",
                                 hint='e.g. "not ~2 <exception>"')
            for tok in tokens:  # refuse unknown lists now, with this line
                if not tok.startswith("~") and tok != "<exception>":
                    self.token_regex(tok, node, idx, anchor_ok=False)
            self.dismissals.append((node, idx, tokens))

    def dismiss_regex(self, unless: tuple[re.Pattern[str], ...]) -> str | None:
        """One regex source for all dismissal frames, with <exception> standing for any of `unless`."""
        if not unless or not self.dismissals:
            return None
        exception = "(?:" + "|".join(rx.pattern for rx in unless) + ")"
        frames = [self.join_tokens(tokens, node, idx, 0, exception)[0] for node, idx, tokens in self.dismissals]
        return r"(?<!\w)(?:" + "|".join(frames) + r")(?!\w)"

    def load_stance(self, node: Any) -> StanceCues:
        """The `stance:` section: per kind, a list of cue patterns, compiled into one alternation."""
        if node is None:
            return NO_CUES
        if not isinstance(node, LDict):
            raise self.error(node, None, "`stance` must map cue kinds to lists of patterns",
                             hint=f"kinds: {', '.join(_STANCE_KEYS)}")
        extra = set(node) - set(_STANCE_KEYS)
        if extra:
            bad = sorted(extra)[0]
            raise self.error(node, bad, f"unknown stance cue kind {bad!r}", hint=f"allowed: {', '.join(_STANCE_KEYS)}")
        compiled: dict[str, re.Pattern[str] | None] = {}
        for kind in _STANCE_KEYS:
            items = node.get(kind)
            if items is None:
                compiled[kind] = None
                continue
            if not isinstance(items, LList) or not items or not all(isinstance(i, str) for i in items):
                raise self.error(node, kind, f"stance `{kind}` must be a non-empty list of patterns")
            parts = [self.join_tokens(_TOKEN.findall(item), items, idx, 0, exception="(?!)")[0]
                     for idx, item in enumerate(items)]
            compiled[kind] = re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)")
        refuting = tuple(rx for rx in (compiled["refute"], compiled["condemn"]) if rx is not None)
        dismiss = self.dismiss_regex(refuting) if refuting else None
        return StanceCues(self_markers=compiled.pop("self"), dismiss=re.compile(dismiss) if dismiss else None,
                          **compiled)

    def compile_pattern(self, spec: LDict, gap: int) -> tuple[str, set[str]]:
        return self.join_tokens(_TOKEN.findall(str(spec["pattern"])), spec, "pattern", gap, capture=True)

    def join_tokens(self, tokens: list[str], node: Any, key: Any, gap: int,
                    exception: str | None = None, capture: bool = False) -> tuple[str, set[str]]:
        """Regex source for a token sequence (words, a|b, <list>, ~N gaps) and the anchors it contributes."""
        body: list[str] = []
        anchors: set[str] = set()
        pending_gap = gap
        for tok in tokens:
            if tok.startswith("~"):
                pending_gap = int(tok[1:])
                continue
            if exception is not None:
                rx, anchor = (exception, None) if tok == "<exception>" else self.token_regex(tok, node, key, False)
            else:
                rx, anchor = self.token_regex(tok, node, key)
            if body:
                group = "(" if capture else "(?:"
                body.append(" " + (f"{group}(?:[^ ]+ ){{0,{pending_gap}}})" if pending_gap else ""))
            body.append(rx)
            pending_gap = gap
            if anchor:
                anchors.add(anchor)
        if not body:
            raise self.error(node, key, "pattern has no words")
        return "".join(body), anchors

    def token_spaces(self, tok: str) -> int:
        """The most spaces one match of token `tok` (a word, a|b, (a phrase|another), <list>) can hold."""
        if tok.startswith("<"):
            items = self.lists[tok[1:-1]]
        else:
            if tok.startswith("(") and tok.endswith(")") and "|" in tok:
                tok = tok[1:-1]
            items = [_fold_item(t) for t in tok.split("|")]
        return max(f.count(" ") for f, _ in items)

    def reach(self, spec: LDict, kind: str) -> int | None:
        """The most spaces a match of the entry's regex can hold: its phrases' own spaces, the space joining two
        tokens and each ~N gap's N (the regex `join_tokens` builds). None for a raw `regex:`."""
        if kind == "terms":
            return max(_fold_item(str(t))[0].count(" ") for t in spec["terms"])
        if kind != "pattern":
            return None
        gap = self.int_field(spec, "gap", 0, 10, 0) or 0
        total, pending, first = 0, gap, True
        for tok in _TOKEN.findall(str(spec["pattern"])):
            if tok.startswith("~"):
                pending = int(tok[1:])
                continue
            total += self.token_spaces(tok) + (0 if first else 1 + pending)
            first, pending = False, gap
        return total

    def compile_terms(self, spec: LDict, eid: str) -> tuple[str, set[str]]:
        terms = spec["terms"]
        if not isinstance(terms, LList) or not terms:
            raise self.error(spec, "terms", "`terms` must be a non-empty list")
        items = [_fold_item(str(t)) for t in terms]
        for idx, (f, _) in enumerate(items):
            if not f:
                raise self.error(terms, idx, f"term {terms[idx]!r} is empty after normalisation")
        anchor = f"terms:{eid}"
        for f, p in items:
            self.add_key(f, anchor, p)
        return _alternation(items), {anchor}

    def token_set(self, spec: LDict, key: str) -> tuple[re.Pattern[str], ...]:
        value = spec.get(key)
        if value is None:
            return ()
        if not isinstance(value, LList):
            raise self.error(spec, key, f"`{key}` must be a list of words or <lists>")
        out = []
        for idx, tok in enumerate(value):
            rx, _ = self.token_regex(str(tok).strip(), value, idx, anchor_ok=False)
            out.append(_bounded(rx))
        return tuple(out)

    def int_field(self, spec: LDict, key: str, lo: int, hi: int, default: int | None) -> int | None:
        value = spec.get(key, default)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.error(spec, key, f"`{key}` must be a whole number from {lo} to {hi}")
        return value

    def compile_body(self, spec: LDict, eid: str, kind: str) -> tuple[str, set[str]]:
        """The entry's regex source and its anchors, for each of the three kinds."""
        if kind == "terms":
            return self.compile_terms(spec, eid)
        if kind == "pattern":
            return self.compile_pattern(spec, self.int_field(spec, "gap", 0, 10, 0) or 0)
        trigger = spec.get("trigger")
        if not isinstance(trigger, str) or not trigger.strip():
            raise self.error(spec, "regex", "a `regex` entry needs a `trigger` text that must occur first")
        self.add_key(normalize(trigger).strip(), f"trigger:{eid}", True)
        return str(spec["regex"]), {f"trigger:{eid}"}

    def compile_entry(self, spec: Any, seen: set[str]) -> Entry:
        if not isinstance(spec, LDict):
            raise self.error(spec, None, "each entry must be a mapping with id, category, severity, means")
        if "unless_quoted" in spec:
            raise self.error(spec, "unless_quoted", "`unless_quoted` was replaced by stance detection",
                             hint="remove it: a quoted match is now reported with stance 'quoted', and rules "
                                  "choose (pattern: {stance: asserted})")
        extra = set(spec) - _ENTRY_KEYS
        if extra:
            bad = sorted(extra)[0]
            raise self.error(spec, bad, f"unknown key {bad!r}", hint=f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
        for key in ("id", "category", "means"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise self.error(spec, key if key in spec else None, f"entry needs a text `{key}`")
        eid = spec["id"]
        if eid in seen:
            raise self.error(spec, "id", f"duplicate entry id {eid!r}")
        seen.add(eid)
        category = spec["category"]
        if category not in self.categories:
            raise self.error(spec, "category", f"unknown category {category!r}",
                             hint=f"declare it under `categories:` ({', '.join(self.categories)})")
        severity = self.int_field(spec, "severity", 1, 3, None)
        if severity is None:
            raise self.error(spec, None, "entry needs `severity` (1 low .. 3 high)")
        kinds = [k for k in ("terms", "pattern", "regex") if k in spec]
        if len(kinds) != 1:
            raise self.error(spec, None, "entry needs exactly one of `terms`, `pattern`, `regex`")
        body, anchors = self.compile_body(spec, eid, kinds[0])
        if not anchors:
            raise self.error(spec, kinds[0], "the entry has only stop words; it would be tried on every comment",
                             hint="add a content word or a <list>")
        try:
            # A raw `regex:` is the operator's and runs on every comment that has its trigger: RE2, linear time.
            # `terms`/`pattern` are built here from escaped words and need lookaround, so they stay on `re`.
            regex = compile_linear(body) if kinds[0] == "regex" else re.compile(r"(?<!\w)" + body + r"(?!\w)")
        except RegexRefused as exc:
            raise self.error(spec, kinds[0], f"regex not supported: {exc.message}", hint=exc.hint) from None
        except re.error as exc:
            raise self.error(spec, kinds[0], f"bad regex: {exc}") from None
        cat = self.categories[category]
        inherited = self.token_set(cat, "unless") if spec.get("inherit_unless", True) else ()
        window = self.int_field(spec, "window", 1, 200, self.int_field(cat, "window", 1, 200, None))
        unless = inherited + self.token_set(spec, "unless")
        return Entry(
            id=eid, category=category, severity=severity, means=spec["means"].strip(), regex=regex,
            anchors=frozenset(anchors), requires=self.token_set(spec, "requires"),
            unless=unless, window=window,
            dismiss=self.dismiss_regex(unless), unless_spelled=self.spellings(spec),
            gapped=kinds[0] == "pattern", stance=self.stance_profile(spec, cat), reach=self.reach(spec, kinds[0]),
        )

    def stance_profile(self, spec: LDict, category: LDict) -> str:
        """`stance:` of the entry, else of its category: claim (default), mention or denial."""
        for node in (spec, category):
            value = node.get("stance")
            if value is None:
                continue
            if value not in STANCE_PROFILES:
                raise self.error(node, "stance", f"unknown stance profile {value!r}",
                                 hint="claim (default), mention (slurs: used or mentioned), denial (the trope denies)")
            return str(value)
        return "claim"

    def spellings(self, spec: LDict) -> frozenset[str]:
        """`unless_spelled`: words whose exact spelling (doubled letters kept) is not a match of the entry."""
        if "unless_spelled" not in spec:
            return frozenset()
        items = spec["unless_spelled"]
        if not isinstance(items, LList) or not all(isinstance(w, str) and spelled(w) for w in items):
            raise self.error(spec, "unless_spelled", "`unless_spelled` must be a list of words",
                             hint='e.g. unless_spelled: [niger]')
        return frozenset(spelled(w) for w in items)

    def automaton(self) -> Automaton[frozenset[str]]:
        """Keys are padded with the spaces around a whole word, so the automaton itself enforces word
        boundaries and never reports a key inside a longer word; the text is padded the same way."""
        padded: dict[str, set[str]] = {}
        for key, anchors in self.keys.items():
            for anchor, prefix in anchors.items():
                k = (" " if key[0].isalnum() else "") + key + (" " if key[-1].isalnum() and not prefix else "")
                padded.setdefault(k, set()).add(anchor)
        return Automaton({k: frozenset(ids) for k, ids in padded.items()})

    def sites_automaton(self) -> Automaton[tuple[tuple[str, bool], ...]]:
        """The anchor words unpadded, each with the anchors it serves (see Lexicon.sites)."""
        return Automaton({key: tuple(sorted(anchors.items())) for key, anchors in self.keys.items()})


def load_lexicon(path: Path) -> Lexicon:
    """Load and compile a patterns file; raises ConfigError with file:line:col on any mistake."""
    tree = load_yaml(path)
    file = str(path)
    comp = _Compiler(file)
    if not isinstance(tree, LDict):
        raise error_at(tree, None, "the patterns file must be a mapping with categories, lists, entries", file)
    extra = set(tree) - {"categories", "lists", "dismissals", "entries", "stance"}
    if extra:
        bad = sorted(extra)[0]
        raise error_at(tree, bad, f"unknown top-level key {bad!r}", file,
                       hint="allowed: categories, lists, dismissals, entries, stance")
    comp.load_categories(tree.get("categories"))
    comp.load_lists(tree.get("lists"))
    comp.load_dismissals(tree.get("dismissals"))
    specs = tree.get("entries")
    if not isinstance(specs, LList) or not specs:
        raise error_at(tree, "entries" if "entries" in tree else None, "`entries` must be a non-empty list", file)
    seen: set[str] = set()
    entries = tuple(comp.compile_entry(spec, seen) for spec in specs)
    stance = comp.load_stance(tree.get("stance"))
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Lexicon(entries, comp.automaton(), version, stance, comp.sites_automaton())
