"""Long texts cut into overlapping token windows, and windows grouped into forward passes by a token budget.

Pure functions on token id lists, no model and no torch: modbot.scoring.toxicity runs the model over what
these plan. A window is the model's input for one stretch of a text: the tokenizer's special tokens around at
most `size` content tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Tokens shared by neighbouring windows: any run of up to OVERLAP + 1 tokens (a sentence of a dozen words or
# more) lies whole inside one window, so a phrase cut by a window edge is still read whole by its neighbour.
WINDOW_OVERLAP = 32


@dataclass(frozen=True)
class TextWindows:
    """The windows chosen for one text, ready for the model, and how much of the text they leave unread."""

    rows: tuple[tuple[int, ...], ...]  # token ids of each window, special tokens included, in text order
    tokens: int  # content tokens in the whole text
    needed: int  # windows it takes to read every token
    unread: int  # content tokens that no chosen window covers (0 unless max_windows cut the windows)


def overlap_for(size: int) -> int:
    """The overlap used for windows of `size` content tokens: WINDOW_OVERLAP, at most a quarter of the window
    (small windows, as in the tiny test models, still advance by three quarters of themselves)."""
    return max(0, min(WINDOW_OVERLAP, size // 4))


def window_starts(n: int, size: int, overlap: int) -> list[int]:
    """Start offsets of windows of `size` tokens covering tokens 0..n-1, neighbours sharing at least `overlap`.

    The first window starts at 0 and the last one ends at n (it shares more than `overlap` with the one before
    when n does not fall on a step), so every window is full and every token is in one.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"window size {size} needs an overlap from 0 to {size - 1}, not {overlap}")
    if n <= size:
        return [0]
    starts = list(range(0, n - size, size - overlap))
    starts.append(n - size)
    return starts


def spread(count: int, keep: int) -> list[int]:
    """`keep` of the indices 0..count-1, spread evenly: always the first and, when keep > 1, the last."""
    if keep >= count:
        return list(range(count))
    if keep <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (keep - 1)) for i in range(keep)})


def split_windows(content: Sequence[int], *, size: int, max_windows: int, prefix: Sequence[int] = (),
                  suffix: Sequence[int] = ()) -> TextWindows:
    """The windows of one text's content token ids (no special tokens), each wrapped in `prefix` and `suffix`.

    A text of at most `size` tokens is one window. A longer one is cut into windows of `size` tokens
    overlapping by overlap_for(size). When that takes more than `max_windows`, `max_windows` of them are kept,
    spread evenly over the text (the first and the last always), and the tokens between them are left unread
    (counted in `unread`).
    """
    if max_windows <= 0:
        raise ValueError(f"max_windows must be at least 1, not {max_windows}")
    n = len(content)
    starts = window_starts(n, size, overlap_for(size))
    chosen = [starts[i] for i in spread(len(starts), max_windows)]
    covered, reach = 0, 0
    for start in chosen:
        end = min(start + size, n)
        covered += max(0, end - max(start, reach))
        reach = max(reach, end)
    rows = tuple((*prefix, *content[start:start + size], *suffix) for start in chosen)
    return TextWindows(rows=rows, tokens=n, needed=len(starts), unread=n - covered)


def plan_passes(lengths: Sequence[int], *, max_tokens: int, max_rows: int) -> list[list[int]]:
    """Group rows (given by their token lengths) into forward passes; returns the row indices of each pass.

    Rows are sorted by length, so a pass holds rows of similar length and little compute goes to padding.
    A pass is padded to its longest row; it takes rows while (rows x longest) stays within `max_tokens`, the
    rows number at most `max_rows`, and padding stays at most half of the pass (so a few short rows and one
    long one make two passes, not one padded to the long one). A single row longer than `max_tokens` goes
    through alone.
    """
    if max_tokens <= 0 or max_rows <= 0:
        raise ValueError(f"max_tokens and max_rows must be positive, not {max_tokens} and {max_rows}")
    passes: list[list[int]] = []
    current: list[int] = []
    real = 0  # tokens of the rows in `current`, padding excluded
    for i in sorted(range(len(lengths)), key=lambda k: lengths[k]):
        # sorted ascending: row i is the longest of the pass it joins, so the pass would be padded to it
        padded = (len(current) + 1) * lengths[i]
        if current and (padded > max_tokens or len(current) >= max_rows or padded > 2 * (real + lengths[i])):
            passes.append(current)
            current, real = [], 0
        current.append(i)
        real += lengths[i]
    if current:
        passes.append(current)
    return passes
