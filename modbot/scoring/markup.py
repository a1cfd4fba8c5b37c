"""Turn a comment's HTML into the plain text a reader sees, keeping a map back to the original characters.

WordPress hands over comment HTML, and markup hides words from a matcher that reads the source:
"b&#97;nks" is "banks" on screen, "Roth<b>schilds</b>" is "Rothschilds", and a right-to-left override
(U+202E) shows "sknab eht nwo sweJ" as "Jews own the banks". `decode` undoes all three:

- Character references: named (the HTML5 table, `html.entities.html5`, with the legacy names a browser
  accepts without ";"), decimal and hex, with or without the ";". Every character of a reference points
  at the whole reference.
- Tags are dropped. Inline elements vanish without a trace, so "Roth<b>schilds</b>" joins; block elements
  (p, br, div, li, blockquote, headings, table rows and cells, ...) become a line break, so words on either
  side stay apart and a sentence ends there. Comments `<!-- -->`, `<!DOCTYPE>`, `<?...>` and the contents
  of `<script>` and `<style>` are dropped. A "<" that does not open a tag ("a < b", "<3") stays text.
- Bidi: a run after U+202E (right-to-left override) up to U+202C (pop) or the end of the line is put in
  display order (reversed); the other bidi and format controls are dropped.

The tokenizer follows the HTML5 rules for where a tag, a comment or a script ends, with one deliberate
difference: where a browser would hide everything after a construct left open at the end ("<b" with no
">", "<!--" with no "-->", "<script>" with no end tag), that construct and everything after it stay text,
so the matcher never sees less than some reader might. Every step consumes input (a regex that cannot
backtrack, or `str.find`), and a construct left open ends the markup scan, so the time is linear in the
length of any input.

Text without "<", "&" or a bidi control (nearly every plain-text comment) takes the fast path (`has_markup`:
two substring scans when it is ASCII), and the result is the text itself with the identity map.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.entities import html5

# One of these characters is needed for `decode` to change anything; without them it returns the text as is.
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TRIGGER = re.compile(f"[<&{_BIDI_CONTROLS}]")
_BIDI = re.compile(f"[{_BIDI_CONTROLS}]")
_RLO, _PDF, _PDI = "\u202e", "\u202c", "\u2069"
_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO: closed by PDF
_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI: closed by PDI
_MAX_BIDI_DEPTH = 125  # the bidi algorithm's own limit; deeper initiators are ignored, as browsers do
# Where a bidi paragraph, and with it an override, ends (Unicode bidi class B).
_PARAGRAPH_END = frozenset("\n\r\x1c\x1d\x1e\x85\u2029")

# Elements a browser lays out as blocks: they separate the words around them. Any other element is inline.
_BLOCK = frozenset([
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"])
_QUOTATION = frozenset(("blockquote", "q"))
_RAW_TEXT = {"script": re.compile(r"</script[\t\n\f\r />]", re.I),
             "style": re.compile(r"</style[\t\n\f\r />]", re.I)}

# The same candidates `html.unescape` looks at: "&#" digits, "&#x" hex digits, or up to 32 name characters.
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")
_MAX_CODE_DIGITS = 8  # more (after leading zeros) is out of Unicode's range anyway, and keeps int() cheap
_LONGEST_NAME = max(len(name) for name in html5)

# "<" opens markup only before a letter, "/", "!" or "?"; any other "<" ("a < b", "<3") is text.
_MARKUP_START = re.compile(r"<[a-zA-Z/!?]")
# The tags nearly every comment has ("<p>", "</em>", "<br />"), recognised in one step.
_SIMPLE_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*/?>")
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*")
_SEPARATORS = re.compile(r"[\t\n\f\r /]*")
_SPACES = re.compile(r"[\t\n\f\r ]*")
_ATTR_NAME = re.compile(r"[^\t\n\f\r />=]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")


@dataclass(frozen=True)
class Decoded:
    """The plain text of a comment and, per plain character, the [start, end) of original characters it came
    from. `starts`/`ends` are None when the text needed no decoding: the map is then the identity.

    `quoted_ranges` are the plain-text [start, end) ranges that were inside `<blockquote>` or `<q>`."""

    text: str
    original_length: int
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None
    quoted_ranges: tuple[tuple[int, int], ...] = ()

    @property
    def identity(self) -> bool:
        """True when the plain text is the original text itself."""
        return self.starts is None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a plain-text span [start, end) to the original text. A reversed (right-to-left override) run
        maps backwards, so the span is the smallest range holding every original character involved."""
        if self.starts is None or self.ends is None:
            return start, end
        if end <= start:
            pos = self.starts[start] if start < len(self.starts) else self.original_length
            return pos, pos
        return min(self.starts[start:end]), max(self.ends[start:end])


def has_markup(text: str) -> bool:
    """True when `text` holds a "<", a "&" or a bidi control, i.e. when `decode` may change it. Costs well
    under a microsecond on a typical comment (two memchr scans when it is ASCII), so callers on the hot path
    ask this before building a `Decoded`."""
    if text.isascii():
        return "<" in text or "&" in text
    return _TRIGGER.search(text) is not None


def decode(text: str) -> Decoded:
    """The plain text a reader sees in `text` (HTML and bidi controls resolved), mapped back to `text`."""
    if not has_markup(text):
        return Decoded(text, len(text))
    builder = _Builder(text)
    builder.run()
    chars, starts, ends = builder.chars, builder.starts, builder.ends
    plain = "".join(chars)
    if _BIDI.search(plain):  # also catches controls written as references ("&#8238;")
        chars, starts, ends = _display_order(chars, starts, ends)
        plain = "".join(chars)
    elif plain == text:  # "Q&A", "x < y": every construct shortens the text, so none was there
        return Decoded(text, len(text))
    return Decoded(plain, len(text), tuple(starts), tuple(ends), builder.quoted_ranges())


def _reference(m: re.Match[str]) -> tuple[str, int] | None:
    """The characters the character reference at `m` stands for and how many characters of the match it
    takes, or None when it is not a reference ("&foo"). Same rules as `html.unescape`, which decides numeric ones."""
    body = m.group(1)
    if body[0] == "#":
        digits = body[2:] if body[1] in "xX" else body[1:]
        if len(digits.rstrip(";").lstrip("0")) > _MAX_CODE_DIGITS:
            return "\ufffd", m.end() - m.start()
        return html.unescape(m.group()), m.end() - m.start()
    if body in html5:
        return html5[body], m.end() - m.start()
    # Legacy names ("&amp", "&eacute") are recognised without ";" and even glued to the next word.
    for x in range(min(len(body) - 1, _LONGEST_NAME), 0, -1):
        if body[:x] in html5:
            return html5[body[:x]], x + 1
    return None


class _Builder:
    """One forward pass over the HTML: appends plain characters with their original ranges."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.chars: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._quote_depth = 0
        self._quote_start = 0
        self._quoted: list[tuple[int, int]] = []

    def run(self) -> None:
        text, i, n = self.text, 0, len(self.text)
        # Every construct ends with ">", so none can start after the last one.
        last_gt = text.rfind(">")
        while i < n:
            m = _MARKUP_START.search(text, i, last_gt)
            lt = n if m is None else m.start()
            self._text(i, lt)
            if m is None:
                return
            simple = _SIMPLE_TAG.match(text, lt)
            end = self._element(lt, simple.end(), simple[2].lower(), simple[1] == "/") if simple else self._markup(lt)
            if end < 0:  # left open at the end: the rest is text (see the module docstring)
                self._text(lt, n)
                return
            i = end

    def quoted_ranges(self) -> tuple[tuple[int, int], ...]:
        ranges = list(self._quoted)
        if self._quote_depth:
            ranges.append((self._quote_start, len(self.chars)))
        return tuple((a, b) for a, b in ranges if b > a)

    def _emit(self, chars: str, start: int, end: int) -> None:
        for c in chars:
            self.chars.append(c)
            self.starts.append(start)
            self.ends.append(end)

    def _text(self, i: int, stop: int) -> None:
        """Text between tags: character references decoded, everything else kept as is."""
        text = self.text
        while i < stop:
            m = _CHARREF.search(text, i, stop)
            ref = _reference(m) if m else None
            plain_end = stop if m is None else (m.start() + 1 if ref is None else m.start())
            self.chars.extend(text[i:plain_end])
            self.starts.extend(range(i, plain_end))
            self.ends.extend(range(i + 1, plain_end + 1))
            i = plain_end
            if ref is not None:
                chars, length = ref
                self._emit(chars, i, i + length)
                i += length

    def _markup(self, lt: int) -> int:
        """Handle the markup starting at `lt`: the index after it, or -1 when it is left open at the end."""
        text = self.text
        nxt = text[lt + 1:lt + 2]
        if nxt.isascii() and nxt.isalpha():
            return self._tag(lt, lt + 1, closing=False)
        if nxt == "/":
            after = text[lt + 2:lt + 3]
            if after.isascii() and after.isalpha():
                return self._tag(lt, lt + 2, closing=True)
            if after == ">":
                return lt + 3
            return self._until(">", lt + 2)  # "</3": a bogus comment up to ">", as a browser reads it
        if nxt == "!":
            if text.startswith("<!--", lt):
                if text.startswith(">", lt + 4) or text.startswith("->", lt + 4):
                    return lt + (5 if text[lt + 4] == ">" else 6)  # "<!-->" and "<!--->" are whole
                return self._until("-->", lt + 4)
            return self._until(">", lt + 2)
        return self._until(">", lt + 2)  # "<?": a bogus comment up to ">"

    def _until(self, closer: str, i: int) -> int:
        k = self.text.find(closer, i)
        return -1 if k < 0 else k + len(closer)

    def _tag(self, lt: int, name_at: int, closing: bool) -> int:
        text = self.text
        i = _run_end(_TAG_NAME, text, name_at)
        name = text[name_at:i].lower()
        end = _tag_end(text, i)
        return -1 if end < 0 else self._element(lt, end, name, closing)

    def _element(self, lt: int, end: int, name: str, closing: bool) -> int:
        """Apply the tag text[lt:end] (named `name`): the index where plain text resumes, or -1 when a script
        or style element is left open at the end."""
        text = self.text
        # A quotation's range holds its words, not the line breaks its block tags become.
        if name in _QUOTATION and closing:
            self._quotation(closing)
        if name in _BLOCK:
            self._emit("\n", lt, end)
        if name in _QUOTATION and not closing:
            self._quotation(closing)
        if not closing and name in _RAW_TEXT:
            close = _RAW_TEXT[name].search(text, end)
            return -1 if close is None else close.start()
        return end

    def _quotation(self, closing: bool) -> None:
        here = len(self.chars)
        if not closing:
            if self._quote_depth == 0:
                self._quote_start = here
            self._quote_depth += 1
        elif self._quote_depth:
            self._quote_depth -= 1
            if self._quote_depth == 0:
                self._quoted.append((self._quote_start, here))


def _run_end(rx: re.Pattern[str], text: str, i: int) -> int:
    """The end of the (possibly empty) run of `rx`'s characters at `i`."""
    m = rx.match(text, i)
    return m.end() if m else i


def _tag_end(text: str, i: int) -> int:
    """The index after the ">" that ends a tag whose attributes start at `i`, or -1 at the end of the text.
    HTML5's attribute states: a quote opens a value only after "=", and ">" inside a quoted value is text."""
    n = len(text)
    while True:
        i = _run_end(_SEPARATORS, text, i)
        if i >= n:
            return -1
        if text[i] == ">":
            return i + 1
        i = _run_end(_ATTR_NAME, text, i + 1)  # the first character may be anything, "=" included
        i = _run_end(_SPACES, text, i)
        if i < n and text[i] == "=":
            i = _run_end(_SPACES, text, i + 1)
            if i >= n:
                return -1
            if text[i] in "\"'":
                close = text.find(text[i], i + 1)
                if close < 0:
                    return -1
                i = close + 1
            else:
                i = _run_end(_UNQUOTED, text, i)


def _display_order(chars: list[str], starts: list[int], ends: list[int]) -> tuple[list[str], list[int], list[int]]:
    """Drop bidi and format controls; reverse each right-to-left override run into display order.

    The controls nest (Unicode bidi algorithm, rules X1-X8): U+202C pops the innermost embedding or
    override, U+2069 the innermost isolate with whatever was opened inside it, a paragraph end all of them.
    A character is overridden right-to-left when the innermost of them is U+202E, so "RLO LRE PDF text"
    still reverses "text". Text nested inside an override in another embedding is kept in its own order
    and is not moved as a unit: an approximation that keeps every character and its offset."""
    out_c: list[str] = []
    out_s: list[int] = []
    out_e: list[int] = []
    run: list[int] = []  # indices of the characters in the current override run, in logical order
    stack: list[str] = []  # open initiators, innermost last

    def flush() -> None:
        for k in reversed(run):
            out_c.append(chars[k])
            out_s.append(starts[k])
            out_e.append(ends[k])
        run.clear()

    for k, c in enumerate(chars):
        if c in _BIDI_CONTROLS:
            _bidi_control(stack, c)
            continue
        if c in _PARAGRAPH_END:
            stack.clear()
        if _overriding_rtl(stack):
            run.append(k)
            continue
        flush()
        out_c.append(c)
        out_s.append(starts[k])
        out_e.append(ends[k])
    flush()
    return out_c, out_s, out_e


def _bidi_control(stack: list[str], c: str) -> None:
    """Apply one bidi control to the stack of open embeddings, overrides and isolates."""
    if c in _EMBEDDINGS or c in _ISOLATES:
        if len(stack) < _MAX_BIDI_DEPTH:
            stack.append(c)
    elif c == _PDF:
        if stack and stack[-1] in _EMBEDDINGS:
            stack.pop()
    elif c == _PDI and any(x in _ISOLATES for x in stack):
        while stack.pop() not in _ISOLATES:
            pass


def _overriding_rtl(stack: list[str]) -> bool:
    # Every embedding and isolate sets its own override status, so only the innermost one counts.
    return bool(stack) and stack[-1] == _RLO
