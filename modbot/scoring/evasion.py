"""Automatic perturbations that imitate how writers dodge word filters, for measuring evasion recall.

Each perturbation disguises the letters of the words a match covered (the words a filter would look for),
deterministically from a seed, so figures are reproducible and tests can reuse the same forms.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# Cyrillic / Greek letters that render like Latin ones.
LOOKALIKES = {"a": "а", "c": "с", "e": "е", "i": "і", "j": "ј", "o": "о", "p": "р", "s": "ѕ", "x": "х",
              "y": "у", "k": "κ", "n": "η", "t": "τ", "v": "ν", "w": "ԝ", "h": "һ", "d": "ԁ", "g": "ɡ"}
LEET = {"a": "4", "e": "3", "i": "1", "l": "1", "o": "0", "s": "5", "t": "7"}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def lookalikes(word: str, rng: random.Random) -> str:
    """Swap every letter that has a Cyrillic/Greek twin."""
    return "".join(LOOKALIKES.get(c, LOOKALIKES.get(c.lower(), c)) for c in word)


def leet(word: str, rng: random.Random) -> str:
    """Leetspeak for every letter that has a digit form."""
    return "".join(LEET.get(c.lower(), c) for c in word)


def spacing(word: str, rng: random.Random) -> str:
    """Letters split by one separator: "z i o n i s t", "j.e.w.s", "j-e-w-s"."""
    return rng.choice((" ", ".", "-")).join(word)


def zero_width(word: str, rng: random.Random) -> str:
    """A zero-width character after every letter."""
    return "".join(c + rng.choice(ZERO_WIDTH) for c in word)


def stretch(word: str, rng: random.Random) -> str:
    """One letter repeated three extra times ("jewwws")."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if not letters:
        return word  # numbers are not stretched: "14888" is another number, not a disguise
    i = rng.choice(letters)
    return word[:i] + word[i] * 4 + word[i + 1:]


def fullwidth(word: str, rng: random.Random) -> str:
    """Fullwidth forms of ASCII letters and digits."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in word)


PERTURBATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "lookalikes": lookalikes,
    "leet": leet,
    "spacing": spacing,
    "zero_width": zero_width,
    "stretch": stretch,
    "fullwidth": fullwidth,
}


def _words(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isalnum():
            j = i
            while j < n and text[j].isalnum():
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def perturb_spans(text: str, spans: list[tuple[int, int]], kind: str, seed: int = 0) -> str:
    """Apply perturbation `kind` to the words that overlap `spans`; other text stays as written.

    Spacing is applied to the longest word of each span only: spelling several neighbouring words letter by
    letter makes their boundaries unrecoverable for any reader ("j e w s c o n t r o l"), and writers space
    out the one word a filter would catch.
    """
    fn = PERTURBATIONS[kind]
    rng = random.Random(seed)
    words = _words(text)
    chosen: set[tuple[int, int]] = set()
    for s, e in spans:
        inside = [w for w in words if w[0] < e and s < w[1]]
        if kind == "spacing" and inside:
            inside = [max(inside, key=lambda w: w[1] - w[0])]
        chosen.update(inside)
    out: list[str] = []
    last = 0
    for w in words:
        if w in chosen:
            out.append(text[last:w[0]])
            out.append(fn(text[w[0]:w[1]], rng))
            last = w[1]
    out.append(text[last:])
    return "".join(out)


def perturb(text: str, kind: str, seed: int = 0) -> str:
    """Apply perturbation `kind` to every word of `text`."""
    return perturb_spans(text, [(0, len(text))], kind, seed)
