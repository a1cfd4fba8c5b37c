"""Hot reload: a valid change swaps the rules whole; a broken file keeps the old rules and says why."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from modbot.errors import RuleError
from modbot.models import Action, Author, Comment, Scores
from modbot.rules import RulesHolder

V1 = "version: 1\nrules:\n  - id: hold-spam-word\n    action: hold\n    when: {text: [spam]}\n"
V2 = "version: 1\nrules:\n  - id: reject-spam-word\n    action: reject\n    when: {text: [spam]}\n"
BROKEN = "version: 1\nrules:\n  - id: x\n    action: obliterate\n    when: {text: [spam]}\n"

SPAM = Comment("c1", "spam here", Author("u1"))


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # Make the change visible to an mtime poll even on filesystems with coarse timestamps.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_invalid_file_at_start_raises(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(BROKEN)
    with pytest.raises(RuleError, match="obliterate"):
        RulesHolder(f)


def test_valid_change_swaps(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    old = holder.current
    assert old.evaluate(SPAM, Scores()).action is Action.HOLD
    write(f, V2)
    assert holder.reload() is True
    assert holder.current is not old and holder.current.version != old.version
    assert holder.current.evaluate(SPAM, Scores()).action is Action.REJECT
    assert old.evaluate(SPAM, Scores()).action is Action.HOLD  # a batch holding the old set is unaffected


def test_broken_file_keeps_old_rules_and_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    before = holder.current
    write(f, BROKEN)
    with caplog.at_level(logging.ERROR, logger="modbot.rules"):
        assert holder.reload() is False
    assert holder.current is before
    assert holder.last_error is not None and "obliterate" in str(holder.last_error)
    assert any("obliterate" in r.getMessage() and f"{f}:4:" in r.getMessage() for r in caplog.records)
    write(f, V2)
    assert holder.reload() is True and holder.last_error is None
    assert holder.current.rules[0].id == "reject-spam-word"


def test_deleted_file_keeps_old_rules(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    f.unlink()
    assert holder.reload() is False
    assert holder.current.rules[0].id == "hold-spam-word"


async def test_watch_reloads_on_change(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    task = asyncio.create_task(holder.watch(0.01))
    try:
        write(f, BROKEN)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if holder.last_error is not None:
                break
        assert holder.last_error is not None
        assert holder.current.rules[0].id == "hold-spam-word"
        write(f, V2)
        for _ in range(500):
            await asyncio.sleep(0.01)
            if holder.current.rules[0].id == "reject-spam-word":
                break
        assert holder.current.rules[0].id == "reject-spam-word"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("body", ["", "version: 1\n", "version: 1\nrules: []\n"])
def test_truncated_file_is_refused(tmp_path: Path, body: str) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    write(f, body)
    assert holder.reload() is False
    assert holder.last_error is not None and "no rules" in str(holder.last_error)
    assert holder.current.evaluate(SPAM, Scores()).action is Action.HOLD
    with pytest.raises(RuleError, match="no rules"):
        RulesHolder(f)


def test_poll_waits_for_the_file_to_settle(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    assert holder.poll() is False  # unchanged
    # A writer part-way through: the first half is valid on its own, with a rule missing.
    two = V2 + "  - id: hold-ham\n    action: hold\n    when: {text: [ham]}\n"
    write(f, V2)
    assert holder.poll() is False  # changed since the last poll: wait
    write(f, two)
    assert holder.poll() is False  # still changing: wait again
    assert holder.current.rules[0].id == "hold-spam-word"
    assert holder.poll() is True  # the same as one poll ago: load it
    assert [r.id for r in holder.current.rules] == ["reject-spam-word", "hold-ham"]
    assert holder.poll() is False


def test_poll_does_not_reload_a_deleted_file_at_once(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(V1)
    holder = RulesHolder(f)
    f.unlink()  # `mv new rules.yaml` or a delete-and-write: the new file usually follows within a poll
    assert holder.poll() is False and holder.last_error is None
    assert holder.poll() is True and holder.last_error is not None
    assert holder.current.rules[0].id == "hold-spam-word"
