"""DecisionStore: moderators' verdicts against a comment that changes under them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modbot.decisions import DecisionStore, StaleVerdict
from modbot.keys import Keys
from modbot.models import Action, Author, Comment, Decision


def _held(text: str) -> tuple[Comment, Decision]:
    comment = Comment(id="c1", text=text, author=Author(id="u"))
    return comment, Decision(comment_id="c1", action=Action.HOLD, rule="r", reason="held", scores={}, matches=(),
                             versions={}, decided_at=datetime.now(UTC), text_sha256=comment.text_sha256)


async def test_verdict_on_the_text_the_moderator_saw(redis_client, prefix):
    store = DecisionStore(redis_client, Keys(prefix))
    comment, decision = _held("first text")
    await store.record(comment, decision)
    done = await store.record_verdict("c1", Action.REJECT, "alice", text_sha256=comment.text_sha256)
    assert done.source == "moderator" and (await store.get("c1")).action is Action.REJECT  # type: ignore[union-attr]
    assert await redis_client.hget(Keys(prefix).rulestats, "r|upheld") == b"1"


async def test_verdict_on_an_edited_comment_is_refused(redis_client, prefix):
    store = DecisionStore(redis_client, Keys(prefix))
    shown, decision = _held("first text")
    await store.record(shown, decision)
    edited, again = _held("edited text")
    await store.record(edited, again)  # the worker decided the edit meanwhile
    with pytest.raises(StaleVerdict, match="edited"):
        await store.record_verdict("c1", Action.APPROVE, "alice", text_sha256=shown.text_sha256)
    assert (await store.get("c1")).source == "auto"  # type: ignore[union-attr]
    assert await redis_client.xlen(Keys(prefix).audit) == 0
    with pytest.raises(KeyError):
        await store.record_verdict("nope", Action.APPROVE, "alice")
