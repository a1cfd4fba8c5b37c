"""Operator-written regular expressions, compiled with RE2 so that matching is linear in the text's length.

Python's `re` backtracks: a rule such as `(a+)+$` takes seconds on 27 a's and a '!', and rules run in the daemon.
RE2 (google-re2) never backtracks, so no pattern can take more than time proportional to the text. The price is
a smaller dialect: no backreferences, no lookaround, no atomic groups or possessive quantifiers, `\\z` instead of
`\\Z`, and `\\w`, `\\d`, `\\s`, `\\b` are ASCII-only (`\\pL` is any letter). Whatever RE2 refuses becomes a
RegexRefused with a hint that says how to write it instead.

Linear is not instant: the time per character grows with the states the expression can be in at once, which
large repetition counts multiply (`(?:[a-z]+ ?){1,1000}!` takes 5 s on 20,000 characters, and one search cannot
be interrupted). So expressions whose program is over MAX_PROGRAM instructions are refused too. The program is
measured in Latin-1 mode, where a Unicode class such as `\\pL` is one instruction rather than the hundreds of
its UTF-8 form: those cost little time, and a limit that counted them would refuse ordinary expressions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import re2


class LinearMatch(Protocol):
    """The part of a match object the callers use (re2's and re's both fit)."""

    def group(self, index: int = 0, /) -> Any: ...

    def start(self, index: int = 0, /) -> int: ...

    def end(self, index: int = 0, /) -> int: ...

    def span(self, index: int = 0, /) -> tuple[int, int]: ...


class LinearRegex(Protocol):
    """A compiled RE2 expression, used like a compiled `re` pattern."""

    def search(self, text: str, pos: int | None = None, endpos: int | None = None) -> LinearMatch | None: ...

    def fullmatch(self, text: str, pos: int | None = None, endpos: int | None = None) -> LinearMatch | None: ...

    def finditer(self, text: str, pos: int | None = None, endpos: int | None = None) -> Iterator[LinearMatch]: ...


# At the limit a search of 20,000 characters takes a few hundredths of a second; past about twice that, RE2 can
# run out of DFA memory and fall back to a far slower mode (2 s at 1,000). Typical rule expressions are under 100.
MAX_PROGRAM = 500


class RegexRefused(ValueError):
    """RE2 cannot compile the expression; `message` says why and `hint` how to write it instead."""

    def __init__(self, message: str, hint: str) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})")


_GENERIC_HINT = ("fix the regular expression; the dialect is RE2 (https://github.com/google/re2/wiki/Syntax), "
                 "which matches in linear time")
# RE2's error text starts with one of these; each gets a hint in the operator's terms.
_HINTS = (
    (("invalid escape sequence: \\1", "invalid escape sequence: \\2", "invalid escape sequence: \\3",
      "invalid escape sequence: \\4", "invalid escape sequence: \\5", "invalid escape sequence: \\6",
      "invalid escape sequence: \\7", "invalid escape sequence: \\8", "invalid escape sequence: \\9",
      "named backreference"),
     "backreferences are not supported (they make matching exponential); match the text itself, e.g. "
     "'(aa|bb)' instead of '(a|b)\\1'"),
    (("invalid perl operator: (?=", "invalid perl operator: (?!", "invalid perl operator: (?<=",
      "invalid perl operator: (?<!"),
     "lookahead and lookbehind are not supported; use the includes-word mode for whole words, and a "
     "negated condition ('~text (regex)' or 'not:') for what must not occur"),
    (("invalid escape sequence: \\Z",), "write \\z for the end of the text (RE2 has no \\Z)"),
    (("invalid perl operator: (?>", "bad repetition operator: ++", "bad repetition operator: *+",
      "bad repetition operator: ?+"),
     "atomic groups and possessive quantifiers are not supported, and not needed: RE2 never backtracks"),
    (("invalid repetition size",), "a repetition count can be at most 1000, e.g. 'a{1,1000}'"),
    (("pattern too large",), "the expression compiles too large; split it into several values"),
    (("invalid perl operator: (?x", "invalid perl operator: (?#"),
     "verbose mode and (?#...) comments are not supported; write the expression without spaces or comments"),
)


def _options(ignore_case: bool, latin1: bool = False) -> Any:
    options = re2.Options()
    if latin1:
        options.encoding = re2.Options.Encoding.LATIN1
    options.case_sensitive = not ignore_case
    # RE2 would print each refusal to stderr itself; the caller reports it with file and line instead.
    options.log_errors = False
    return options


def compile_linear(source: str, ignore_case: bool = False, max_program: int = MAX_PROGRAM) -> LinearRegex:
    """Compile `source` with RE2 (Unicode, case-insensitive when asked). Raises RegexRefused, also when the
    expression's program is over `max_program` instructions (see the module docstring)."""
    try:
        compiled: LinearRegex = re2.compile(source, _options(ignore_case))
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        if text.startswith("invalid perl operator: (?P") and "(?P=" in source:
            text = "named backreference (?P=...)"  # RE2 only says "(?P", which reads like a typo
        hint = next((h for starts, h in _HINTS if text.startswith(starts)), _GENERIC_HINT)
        raise RegexRefused(text, hint) from None
    try:
        size: int = re2.compile(source.encode("utf-8"), _options(ignore_case, latin1=True)).programsize
    except re2.error:  # a code point above U+00FF written as \x{...}: fall back to the UTF-8 program's size
        size = compiled.programsize  # type: ignore[attr-defined]
    if size > max_program:
        raise RegexRefused(f"the expression is too costly to match ({size} instructions, at most {max_program})",
                           "use smaller repetition counts, e.g. {1,50} instead of {1,1000}, or split it into "
                           "several values")
    return compiled
