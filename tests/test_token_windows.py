"""The window splitter and the token-budget pass planner (modbot.scoring.token_windows), on plain id lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modbot.scoring.token_windows import (
    WINDOW_OVERLAP,
    overlap_for,
    plan_passes,
    split_windows,
    window_starts,
)


@st.composite
def window_cases(draw: st.DrawFn) -> tuple[int, int, int]:
    size = draw(st.integers(1, 300))
    overlap = draw(st.integers(0, size - 1))
    n = draw(st.integers(0, 3000))
    return n, size, overlap


@settings(max_examples=300, deadline=None)
@given(window_cases())
def test_windows_cover_every_token_and_overlap_their_neighbours(case: tuple[int, int, int]) -> None:
    n, size, overlap = case
    starts = window_starts(n, size, overlap)
    assert starts[0] == 0 and starts == sorted(set(starts))
    if n <= size:
        assert starts == [0]
        return
    assert starts[-1] + size == n  # the last window ends at the last token
    assert all(start + size <= n for start in starts)  # every window is full
    assert all(b - a <= size - overlap for a, b in zip(starts, starts[1:], strict=False))  # neighbours share >= overlap
    covered = {t for start in starts for t in range(start, start + size)}
    assert covered == set(range(n))
    # any run of overlap + 1 tokens lies whole inside one window: a phrase cut by one edge is read by a neighbour
    run = overlap + 1
    for first in range(0, n - run + 1):
        assert any(start <= first and first + run <= start + size for start in starts)
    # no more windows than it takes: one fewer could not reach the end
    assert (len(starts) - 1) * (size - overlap) < n - overlap


def test_overlap_is_32_tokens_and_at_most_a_quarter_of_a_small_window() -> None:
    assert overlap_for(254) == WINDOW_OVERLAP == 32  # max_length 256 less [CLS] and [SEP]
    assert overlap_for(126) == 31  # the tiny test models: 128 positions
    assert overlap_for(30) == 7
    assert overlap_for(1) == 0


def test_a_bad_window_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap from 0 to 9"):
        window_starts(100, 10, 10)
    with pytest.raises(ValueError, match="max_windows must be at least 1"):
        split_windows([1, 2, 3], size=2, max_windows=0)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 2000), size=st.integers(4, 200), max_windows=st.integers(1, 40))
def test_split_windows_wraps_each_window_and_counts_what_max_windows_leaves_unread(
        n: int, size: int, max_windows: int) -> None:
    content = list(range(100, 100 + n))  # distinct ids, so each window's position in the text is visible
    windows = split_windows(content, size=size, max_windows=max_windows, prefix=(1,), suffix=(2, 3))
    starts = window_starts(n, size, overlap_for(size))
    assert windows.tokens == n and windows.needed == len(starts)
    assert 1 <= len(windows.rows) <= max_windows
    read: set[int] = set()
    for row in windows.rows:
        assert row[:1] == (1,) and row[-2:] == (2, 3)
        body = list(row[1:-2])
        assert len(body) == min(size, n)
        if body:  # a contiguous stretch of the text
            assert body == content[body[0] - 100:body[0] - 100 + len(body)]
        read.update(body)
    assert windows.unread == n - len(read)
    if len(starts) <= max_windows:
        assert windows.unread == 0 and len(windows.rows) == len(starts)
    else:
        assert len(windows.rows) == max_windows
        # the beginning is read; with two windows or more the end is too, the rest spread between
        assert windows.rows[0][1] == 100
        if max_windows > 1:
            assert windows.rows[-1][-3] == 100 + n - 1


def test_an_empty_text_is_one_window_of_special_tokens() -> None:
    windows = split_windows([], size=10, max_windows=4, prefix=(101,), suffix=(102,))
    assert windows.rows == ((101, 102),) and windows.tokens == 0 and windows.unread == 0


@settings(max_examples=300, deadline=None)
@given(lengths=st.lists(st.integers(1, 600), max_size=80), max_tokens=st.integers(1, 5000),
       max_rows=st.integers(1, 40))
def test_passes_stay_within_the_token_budget_and_take_every_row_once(
        lengths: list[int], max_tokens: int, max_rows: int) -> None:
    passes = plan_passes(lengths, max_tokens=max_tokens, max_rows=max_rows)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    for p in passes:
        assert p
        longest = max(lengths[i] for i in p)
        assert len(p) <= max_rows
        assert len(p) * longest <= max_tokens or len(p) == 1  # a row over the budget goes alone
        assert len(p) * longest <= 2 * sum(lengths[i] for i in p)  # padding is at most half of a pass
    # sorted by length: no pass holds a row shorter than one in an earlier pass
    for a, b in zip(passes, passes[1:], strict=False):
        assert max(lengths[i] for i in a) <= min(lengths[i] for i in b)


def test_one_long_row_does_not_pad_the_short_ones() -> None:
    lengths = [20] * 31 + [256]
    lengths[5] = 256
    # The old fixed chunks of 16 sorted rows put 14 short rows with the two long ones: 16 x 256 padded tokens.
    passes = plan_passes(lengths, max_tokens=4096, max_rows=32)
    assert passes == [[i for i in range(32) if lengths[i] == 20], [5, 31]]
    # a few short rows are not padded to a long one either, though together they would fit the budget
    assert plan_passes([20] * 10 + [256], max_tokens=4096, max_rows=32) == [list(range(10)), [10]]
    # a row longer than the budget is not refused: it goes through alone
    assert plan_passes([5000, 10, 10], max_tokens=4096, max_rows=16) == [[1, 2], [0]]
