"""`modbot status`: what waits where, and moving refused decisions back into the outbox."""

from __future__ import annotations

import json
import re

import redis

from modbot.cli import main
from modbot.keys import Keys
from tests.helpers import write_config


def test_status_counts_and_retry_failed(tmp_path, redis_url, prefix, capsys):
    config = write_config(tmp_path, redis_url, prefix)
    keys = Keys(prefix)
    r = redis.Redis.from_url(redis_url)
    for _ in range(3):
        r.xadd(keys.comments, {"comment": "{}"})
    r.xgroup_create(keys.comments, "modbot", id="0")
    r.xreadgroup("modbot", "w", {keys.comments: ">"}, count=1)  # one taken, not acknowledged yet
    r.xadd(keys.deadletter, {"reason": "malformed JSON: oops", "raw": b"{", "source_id": "1-0", "at": "now"})
    r.xadd(keys.deadletter, {"reason": "'text' is required", "raw": b'{"id": "d-2"}', "source_id": "2-0",
                             "at": "later"})
    r.xadd(keys.outbox_failed, {"decision": json.dumps({"comment_id": "c1"}), "error": "HTTP 422"})
    r.zadd(keys.review, {"c9": 1.0})

    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    # the group's lag, not the stream's length, each with how long its oldest has waited
    assert re.search(r"2 waiting \(the oldest for [\d.]+ s\), 1 being decided \(the oldest for [\d.]+ s\)", out)
    assert "2 rejected message(s)" in out and "(no id): malformed JSON: oops" in out
    assert "d-2: 'text' is required" in out
    assert "1 refused by the platform or given up" in out and "c1: HTTP 422" in out and "1 held" in out

    assert main(["status", "--config", str(config), "--retry-failed", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["retried_failed"] == 1 and report["outbox"]["failed"] == 0 and report["outbox"]["waiting"] == 1
    [(_, fields)] = r.xrange(keys.outbox)
    assert json.loads(fields[b"decision"])["comment_id"] == "c1"
    r.close()


def test_retry_failed_removes_decisions_the_current_one_replaced(tmp_path, redis_url, prefix, capsys):
    config = write_config(tmp_path, redis_url, prefix)
    keys = Keys(prefix)
    r = redis.Redis.from_url(redis_url)
    old = {"comment_id": "c1", "action": "hold", "decided_at": "2026-01-01T10:00:00+00:00", "reason": "v1"}
    current = {**old, "action": "approve", "decided_at": "2026-01-01T11:00:00+00:00", "reason": "v2"}
    r.set(keys.decision("c1"), json.dumps(current))
    r.xadd(keys.outbox_failed, {"decision": json.dumps(old), "error": "HTTP 422"})
    r.xadd(keys.outbox_failed, {"decision": json.dumps(current), "error": "HTTP 422"})
    assert main(["status", "--config", str(config), "--retry-failed"]) == 0
    out = capsys.readouterr().out
    assert "moved 1 refused decision(s)" in out and "removed 1 older decision(s)" in out
    [(_, fields)] = r.xrange(keys.outbox)
    assert json.loads(fields[b"decision"])["reason"] == "v2" and r.xlen(keys.outbox_failed) == 0
    r.close()


def test_retry_failed_moves_hand_written_entries_it_cannot_judge(tmp_path, redis_url, prefix, capsys):
    config = write_config(tmp_path, redis_url, prefix)
    keys = Keys(prefix)
    r = redis.Redis.from_url(redis_url)
    for cid in ('"\\ud800"', "17"):
        decision = '{"comment_id": ' + cid + ', "action": "hold", "decided_at": "2026-01-01"}'
        r.xadd(keys.outbox_failed, {"decision": decision, "error": "unreadable outbox entry"})
    assert main(["status", "--config", str(config), "--retry-failed"]) == 0
    assert "moved 2 refused decision(s)" in capsys.readouterr().out  # the deliverer parks them again, with why
    r.close()
