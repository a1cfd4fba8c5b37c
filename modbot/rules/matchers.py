"""How a text condition's values are matched: plain values as one `re` alternation, regex values with RE2.

Plain values are escaped by us, so their alternation cannot backtrack badly and stays on `re`, whose lookaround
gives exact Unicode word edges. Regex values are the operator's own and go to RE2 (modbot.saferegex), which has
no lookaround: there the word edges are matched as characters around a group that holds the value's match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from modbot.saferegex import LinearRegex, compile_linear

# Not a letter, digit or underscore: what Python's (?<!\w)/(?!\w) see as a word edge, in RE2's terms.
_EDGE = r"[^\pL\pN_]"
_NOT_WORD = r"[^\pL\pN]"  # full-text's "surrounding spaces and punctuation" ([\W_] in Python)


class TextPattern(Protocol):
    """One compiled value (or alternation of values) of a text condition."""

    def find(self, value: str, full: bool) -> str | None:
        """The matched text in `value` (the whole of `value` must match when `full`), or None."""
        ...


@dataclass(frozen=True)
class LiteralPattern:
    """Plain values, escaped and joined longest first, on Python's `re`."""

    regex: re.Pattern[str]

    def find(self, value: str, full: bool) -> str | None:
        m = self.regex.fullmatch(value) if full else self.regex.search(value)
        return m.group(0) if m else None


@dataclass(frozen=True)
class RegexPattern:
    """One operator-written regex on RE2; `group` holds the value's own match (1 when word edges are matched)."""

    source: str
    regex: LinearRegex
    group: int = 0

    def find(self, value: str, full: bool) -> str | None:
        m = self.regex.fullmatch(value) if full else self.regex.search(value)
        return str(m.group(self.group)) if m else None


def literal_pattern(values: Sequence[str], mode: str, ignore_case: bool) -> LiteralPattern:
    """One pattern matching any of the plain `values` in match mode `mode`."""
    alternation = "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True))
    return LiteralPattern(re.compile(_wrap_re(alternation, mode), re.IGNORECASE if ignore_case else 0))


def regex_pattern(source: str, mode: str, ignore_case: bool) -> RegexPattern:
    """The operator's regex in match mode `mode`, on RE2. Raises RegexRefused for what RE2 cannot take
    (checked on the value alone first, so the message is about what the operator wrote)."""
    compile_linear(source, ignore_case)
    if mode == "includes-word":
        return RegexPattern(source, compile_linear(rf"(?:^|{_EDGE})({source})(?:{_EDGE}|$)", ignore_case), 1)
    body = {
        "starts-with": rf"^(?:{source})",
        "ends-with": rf"(?:{source})$",  # RE2's $ without (?m) is the end of the text, like \z
        # AutoModerator's full-text: the whole field, ignoring surrounding spaces and punctuation.
        "full-text": rf"{_NOT_WORD}*(?:{source}){_NOT_WORD}*",
    }.get(mode, f"(?:{source})")  # includes, full-exact (fullmatch does the anchoring)
    return RegexPattern(source, compile_linear(body, ignore_case))


def _wrap_re(body: str, mode: str) -> str:
    if mode == "includes-word":
        return rf"(?<!\w)(?:{body})(?!\w)"
    if mode == "starts-with":
        return rf"^(?:{body})"
    if mode == "ends-with":
        return rf"(?:{body})\Z"
    if mode == "full-text":
        return rf"[\W_]*(?:{body})[\W_]*"
    return f"(?:{body})"
