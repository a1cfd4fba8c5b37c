"""Text features and the small comparison language ("< 7 days", ">= 2", "> 0.7") that rules use."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from modbot.saferegex import compile_linear

# A link is a URL with a scheme, a "www." address, or a bare domain with a common path-like tail.
# Bare words with dots ("e.g.", "U.S.") must not count, hence the two-letter TLD minimum and the word boundary.
# On RE2: the comment text is anyone's, and with re's backtracking "a.a.a.a..." took seconds per thousand
# characters (minutes at stream.max_text_chars). RE2's \b is ASCII-only: a domain glued to a non-ASCII letter
# ("ésite.com") now counts, as it should for link spam. _NOT_SPACE is Python's Unicode \S (RE2's is ASCII).
_NOT_SPACE = r"[^\s\p{Z}\x{1c}-\x{1f}\x{85}]"
_LINK = compile_linear(rf"(?:https?://|www\.){_NOT_SPACE}+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|ru|"
                       rf"io|co|xyz|top|online|site|club|shop|me|ly|gl|be|to|cc|tk)(?:/{_NOT_SPACE}*)?\b",
                       ignore_case=True)
_REPEAT = re.compile(r"(.)\1*", re.DOTALL)

FEATURES = ("links", "caps_ratio", "length", "repeated_chars", "words")
# Relative cost of computing each feature: `all:` tests cheap conditions first (modbot.rules.conditions.cost).
COST = {"length": 0, "words": 1, "caps_ratio": 1, "links": 2, "repeated_chars": 3}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
_COMPARISON = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)

# Units in days; months and years are calendar averages, close enough for "new account" rules.
DURATION_UNITS: dict[str, float] = {
    "minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0, "month": 30.0, "year": 365.0,
}


@dataclass(frozen=True)
class Comparison:
    """`value <op> number`, with the source text kept for explanations."""

    op: str
    number: float
    text: str

    def test(self, value: float) -> bool:
        return _OPS[self.op](value, self.number)


def parse_comparison(text: object, units: dict[str, float] | None = None, default_unit: str | None = None
                     ) -> Comparison:
    """Parse "< 7 days" / ">= 2" into a Comparison; numbers with units are converted to the first unit's scale.

    Raises ValueError with a message meant for the operator.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError("must be a comparison string such as \"< 7 days\" or \">= 2\"")
    m = _COMPARISON.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a comparison; write an operator (<, <=, >, >=, ==, !=) and a number, "
                         "e.g. \">= 2\"")
    op, num, unit = m.group(1), float(m.group(2)), m.group(3).lower()
    if unit:
        if units is None:
            raise ValueError(f"'{text}' has a unit '{unit}' but this value takes a plain number")
        key = unit[:-1] if unit.endswith("s") and unit[:-1] in units else unit
        if key not in units:
            raise ValueError(f"unknown unit '{unit}'; use one of {', '.join(u + 's' for u in units)}")
        num *= units[key]
    elif units is not None and default_unit is not None:
        num *= units[default_unit]
    return Comparison(op, num, str(text).strip())


def count_links(text: str) -> int:
    return sum(1 for _ in _LINK.finditer(text))


_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LETTERS = _ASCII_UPPER + bytes(range(ord("a"), ord("z") + 1))


def caps_ratio(text: str) -> float:
    """Share of capital letters among letters; 0 for text without letters."""
    if text.isascii():
        # The same counts as below (an ASCII letter is A-Z or a-z, a capital A-Z), by deleting bytes in C.
        data = text.encode("ascii")
        letters_n = len(data) - len(data.translate(None, _ASCII_LETTERS))
        upper_n = len(data) - len(data.translate(None, _ASCII_UPPER))
        return upper_n / letters_n if letters_n else 0.0
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if c.isupper()) / len(letters)


def longest_repeat(text: str) -> int:
    """Length of the longest run of one repeated non-space character ("!!!!!!" -> 6)."""
    best = 0
    for m in _REPEAT.finditer(text):
        if not m.group(1).isspace():
            best = max(best, m.end() - m.start())
    return best


def compute(name: str, text: str) -> float:
    """Compute one feature by name (see FEATURES)."""
    if name == "links":
        return count_links(text)
    if name == "caps_ratio":
        return caps_ratio(text)
    if name == "length":
        return len(text)
    if name == "repeated_chars":
        return longest_repeat(text)
    if name == "words":
        return len(text.split())
    raise KeyError(name)
