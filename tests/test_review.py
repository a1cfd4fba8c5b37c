"""The review page over HTTP on a real port, against a real Valkey: login, queue, claims, verdicts, security."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from modbot.config import ReviewSettings
from modbot.keys import Keys
from modbot.models import Action, Decision
from modbot.review.render import highlight, safe_link
from modbot.review.throttle import LoginThrottle
from tests.review_helpers import PASSWORDS, Served, client, find, hold, serve, write_users

TEXT = "They say the globalist bankers control the media, wake up."


@pytest.fixture
def settings(tmp_path: Path) -> ReviewSettings:
    return ReviewSettings(users_file=write_users(tmp_path / "moderators.yaml"), claim_ttl_s=60, undo_seconds=0)


@pytest.fixture
async def served(redis_client: aioredis.Redis, keys: Keys, settings: ReviewSettings) -> AsyncIterator[Served]:
    async with serve(redis_client, keys, settings) as s:
        yield s


async def login(http: aiohttp.ClientSession, url: str, user: str = "alice", password: str | None = None,
                follow: bool = True) -> aiohttp.ClientResponse:
    async with http.get(url + "/login") as resp:
        token = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert token
    return await http.post(url + "/login", data={"csrf": token.group(1), "user": user,
                                                 "password": PASSWORDS.get(user, "") if password is None else password},
                           allow_redirects=follow)


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/") as resp:
        found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await resp.text())
    assert found
    return found.group(1)


async def shown(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """What the page shows, as a browser sees it: each item's id and the text_sha256 of that version."""
    found: dict[str, str] = {}
    for queue in ("held", "escalated"):
        async with http.get(url + "/", params={"queue": queue}) as resp:
            found.update(re.findall(r'data-id="([^"]+)"[^>]*data-sha256="([0-9a-f]+)"', await resp.text()))
    return found


async def verdict(http: aiohttp.ClientSession, url: str, ids: list[str], action: str, token: str,
                  seen: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """POST /api/verdict like the page does; `seen` defaults to the hashes the page shows right now."""
    if seen is None:
        seen = await shown(http, url)
    async with http.post(url + "/api/verdict", json={"ids": ids, "action": action, "seen": seen},
                         headers={"X-CSRF-Token": token}) as resp:
        is_json = resp.content_type == "application/json"
        return resp.status, (await resp.json()) if is_json else {"text": await resp.text()}


# --- pure rendering ------------------------------------------------------------------------------------------

def test_highlight_escapes_every_segment_and_merges_overlaps() -> None:
    text = "<b>x</b> Rothschild & co <script>"
    m1 = find(text, "Rothschild", "antisemitic-conspiracy")
    m2 = find(text, "schild & co", "other")
    out = highlight(text, [m2, m1])
    assert out.count("<mark") == 1
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "&lt;script&gt;" in out
    assert ">Rothschild &amp; co</mark>" in out
    assert 'class="cat-antisemitic-conspiracy cat-other"' in out


def test_highlight_ignores_spans_outside_the_text() -> None:
    assert highlight("short", [find("short text", "text", "x")]) == "short"


def test_only_http_links_are_links() -> None:
    assert safe_link("https://news.example/a?b=1") == "https://news.example/a?b=1"
    for bad in ("javascript:alert(1)", "data:text/html,<script>", " JavaScript:alert(1)", "//evil", ""):
        assert safe_link(bad) is None


# --- login -----------------------------------------------------------------------------------------------------

async def test_pages_need_a_login(served: Served) -> None:
    async with client() as http:
        async with http.get(served.url + "/", allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/login"
        async with http.get(served.url + "/api/queue") as resp:
            assert resp.status == 401
        async with http.post(served.url + "/api/verdict", json={"ids": ["x"], "action": "approve"}) as resp:
            assert resp.status == 401


async def test_login_sets_a_strict_httponly_cookie(served: Served) -> None:
    async with client() as http:
        resp = await login(http, served.url, follow=False)
        assert resp.status == 303
        cookie = resp.cookies["modbot_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
        async with http.get(served.url + "/") as page:
            assert page.status == 200 and "alice" in await page.text()


async def test_secure_cookies_setting_marks_the_cookie_secure(redis_client: aioredis.Redis, keys: Keys,
                                                             tmp_path: Path) -> None:
    settings = ReviewSettings(users_file=write_users(tmp_path / "u.yaml"), secure_cookies=True)
    async with serve(redis_client, keys, settings) as s, client() as http:
        # The browser would not send Secure cookies over plain http, so the test sends the form cookie itself.
        async with http.get(s.url + "/login") as resp:
            form_cookie = resp.cookies["modbot_login_csrf"]
            assert form_cookie["secure"]
        async with http.post(s.url + "/login", data={"csrf": form_cookie.value, "user": "alice",
                                                     "password": PASSWORDS["alice"]},
                             headers={"Cookie": f"modbot_login_csrf={form_cookie.value}"},
                             allow_redirects=False) as resp:
            assert resp.status == 303
            cookie = resp.cookies["modbot_session"]
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict"


async def test_wrong_password_and_unknown_user_are_refused(served: Served) -> None:
    async with client() as http:
        assert (await login(http, served.url, password="nope")).status == 401
        assert (await login(http, served.url, user="mallory", password="x")).status == 401
        async with http.get(served.url + "/", allow_redirects=False) as resp:
            assert resp.status == 303


async def test_login_form_needs_its_csrf_token(served: Served) -> None:
    async with client() as http, http.post(served.url + "/login",
                                           data={"user": "alice", "password": PASSWORDS["alice"]}) as resp:
        assert resp.status == 403


async def test_logins_are_throttled_per_user_and_address(served: Served) -> None:
    async with client() as http:
        for _ in range(5):
            assert (await login(http, served.url, password="guess")).status == 401
        resp = await login(http, served.url)  # from this address, even the right password waits its turn
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
        assert (await login(http, served.url, user="bob")).status == 200  # other users are not locked out


async def test_logins_are_rate_limited_per_address(redis_client: aioredis.Redis, keys: Keys,
                                                   settings: ReviewSettings) -> None:
    throttle = LoginThrottle(free_tries=100, free_tries_per_address=3, first_delay_s=60)
    async with serve(redis_client, keys, settings, throttle=throttle) as s, client() as http:
        for name in ("u1", "u2", "u3"):
            assert (await login(http, s.url, user=name, password="x")).status == 401
        assert (await login(http, s.url, user="bob")).status == 429


async def test_logout_ends_the_session(served: Served) -> None:
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        async with http.post(served.url + "/logout", data={"csrf": token}, allow_redirects=False) as resp:
            assert resp.status == 303
        async with http.get(served.url + "/", allow_redirects=False) as resp:
            assert resp.status == 303


# --- the page ------------------------------------------------------------------------------------------------

async def test_page_lists_held_comments_by_priority_then_age_with_everything(
        served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "new-low", "newer, low priority", age_min=1)
    await hold(redis_client, keys, "old-low", "older, low priority", age_min=30)
    await hold(redis_client, keys, "urgent", TEXT, [find(TEXT, "globalist bankers", "antisemitic-conspiracy")],
               priority=5, age_min=2, scores={"toxicity": 0.734, "identity_attack": 0.051})
    async with client() as http:
        await login(http, served.url)
        async with http.get(served.url + "/") as resp:
            page = await resp.text()
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    order = re.findall(r'data-id="([^"]+)"', page)
    assert order == ["urgent", "old-low", "new-low"]
    assert ('<mark class="cat-antisemitic-conspiracy" title="antisemitic-conspiracy: globalist bankers">'
            'globalist bankers</mark>') in page
    for fact in ("0.734", "identity_attack", "conspiracy-hold", "held by conspiracy-hold", "Reader urgent",
                 "3 days", 'href="https://news.example/post-1"', 'id="count-held">3<', 'id="count-escalated">0<'):
        assert fact in page, fact
    assert "<script>" not in page.split("</head>")[1]  # no inline script anywhere in the body


async def test_comment_text_and_author_are_escaped(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    from modbot.models import Author
    evil = '<img src=x onerror=alert(1)> "><script>alert(2)</script>'
    await hold(redis_client, keys, "x1", evil, [find(evil, "<script>", "coded")], thread_url="javascript:alert(3)",
               author=Author(id="<u>", name="<b onmouseover=alert(4)>"))
    async with client() as http:
        await login(http, served.url)
        async with http.get(served.url + "/") as resp:
            page = await resp.text()
    body = page.split("</head>")[1]
    assert "<img" not in body and "<script" not in body and "<b " not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "javascript:" not in body


async def test_filters_by_rule_and_category(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "a", TEXT, [find(TEXT, "globalist bankers", "antisemitic-conspiracy")], rule="r1")
    await hold(redis_client, keys, "b", "they are vermin", [find("they are vermin", "vermin", "dehumanisation")],
               rule="r2")
    await hold(redis_client, keys, "c", "no matches here", rule="r2")
    async with client() as http:
        await login(http, served.url)
        async with http.get(served.url + "/api/queue", params={"rule": "r2"}) as resp:
            data = await resp.json()
        assert [i["id"] for i in data["items"]] == ["b", "c"]
        assert data["rules"] == {"r1": 1, "r2": 2} and data["counts"] == {"held": 3, "escalated": 0}
        async with http.get(served.url + "/", params={"category": "dehumanisation"}) as resp:
            assert re.findall(r'data-id="([^"]+)"', await resp.text()) == ["b"]


# --- verdicts ----------------------------------------------------------------------------------------------------

async def test_every_change_needs_the_csrf_token(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        async with http.post(served.url + "/api/verdict", json={"ids": ["c1"], "action": "approve"}) as resp:
            assert resp.status == 403
        status, _ = await verdict(http, served.url, ["c1"], "approve", "forged")
        assert status == 403
        async with http.post(served.url + "/verdict", data={"ids": "c1", "action": "approve"}) as resp:
            assert resp.status == 403
        token = await csrf_of(http, served.url)
        async with http.post(served.url + "/api/claim", json={"id": "c1"},
                             headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}) as resp:
            assert resp.status == 403
    assert await redis_client.zscore(keys.review, "c1") is not None
    assert await redis_client.exists(keys.claim("c1")) == 0


async def test_approve_records_delivers_audits_and_counts(served: Served, redis_client: aioredis.Redis,
                                                          keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT, rule="conspiracy-hold")
    await hold(redis_client, keys, "c2", TEXT, rule="conspiracy-hold")
    outbox_before = await redis_client.xlen(keys.outbox)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        status, data = await verdict(http, served.url, ["c1"], "approve", token)
        assert status == 200 and data["results"] == {"c1": {"ok": True}} and data["counts"]["held"] == 1, data
        status, _ = await verdict(http, served.url, ["c2"], "reject", token)
        assert status == 200
        status, data = await verdict(http, served.url, ["c1"], "spam", token, seen)  # already decided
        assert status == 409 and data["results"]["c1"]["error"] == "no longer waiting for review"
    stored = Decision.from_dict(json.loads(await redis_client.get(keys.decision("c1"))))
    assert (stored.action, stored.source, stored.moderator) == (Action.APPROVE, "moderator", "alice")
    assert await redis_client.zcard(keys.review) == 0
    entries = await redis_client.xrange(keys.outbox)
    assert len(entries) == outbox_before + 2
    assert json.loads(entries[-2][1][b"decision"])["action"] == "approve"
    audit = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis_client.xrange(keys.audit)]
    assert [(a["comment_id"], a["action"], a["moderator"], a["previous_action"]) for a in audit] == [
        ("c1", "approve", "alice", "hold"), ("c2", "reject", "alice", "hold")]
    stats = await redis_client.hgetall(keys.rulestats)
    assert stats[b"conspiracy-hold|overturned"] == b"1" and stats[b"conspiracy-hold|upheld"] == b"1"
    assert await redis_client.exists(keys.claim("c1"), keys.claim("c2")) == 0


async def test_two_moderators_never_review_the_same_item(served: Served, redis_client: aioredis.Redis,
                                                         keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    await hold(redis_client, keys, "c2", TEXT, age_min=1)
    async with client() as alice, client() as bob:
        await login(alice, served.url, "alice")
        await login(bob, served.url, "bob")
        ta, tb = await csrf_of(alice, served.url), await csrf_of(bob, served.url)
        async with alice.post(served.url + "/api/claim", json={"id": "c1"}, headers={"X-CSRF-Token": ta}) as resp:
            assert resp.status == 200
        assert 0 < await redis_client.ttl(keys.claim("c1")) <= 60
        async with bob.post(served.url + "/api/claim", json={"id": "c1"}, headers={"X-CSRF-Token": tb}) as resp:
            assert resp.status == 409 and (await resp.json())["claimed_by"] == "alice"
        status, data = await verdict(bob, served.url, ["c1", "c2"], "reject", tb)
        assert status == 409
        assert data["results"] == {"c1": {"ok": False, "error": "claimed by alice"}, "c2": {"ok": True}}
        async with bob.get(served.url + "/") as resp:
            assert "claimed by alice" in await resp.text()
        # Bob cannot free Alice's claim; Alice can.
        async with bob.post(served.url + "/api/release", json={"id": "c1"}, headers={"X-CSRF-Token": tb}):
            assert await redis_client.get(keys.claim("c1")) == b"alice"
        async with alice.post(served.url + "/api/release", json={"id": "c1"}, headers={"X-CSRF-Token": ta}):
            assert await redis_client.exists(keys.claim("c1")) == 0
        status, _ = await verdict(bob, served.url, ["c1"], "reject", tb)
        assert status == 200


async def test_escalate_moves_to_the_escalated_queue(served: Served, redis_client: aioredis.Redis,
                                                     keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        status, data = await verdict(http, served.url, ["c1"], "escalate", token)
        assert status == 200 and data["counts"] == {"held": 0, "escalated": 1}
        async with http.get(served.url + "/", params={"queue": "escalated"}) as resp:
            page = await resp.text()
            assert 'data-id="c1"' in page and 'value="escalate"' not in page.split('id="items"')[1]
        status, data = await verdict(http, served.url, ["c1"], "spam", token)
        assert status == 200 and data["counts"] == {"held": 0, "escalated": 0}
    audit = [f[b"action"] for _, f in await redis_client.xrange(keys.audit)]
    assert audit == [b"escalate", b"spam"]
    assert json.loads(await redis_client.get(keys.decision("c1")))["action"] == "spam"


async def test_batch_form_post_without_javascript(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    for cid in ("b1", "b2", "b3"):
        await hold(redis_client, keys, cid, TEXT)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        seen = await shown(http, served.url)
        form = aiohttp.FormData([("csrf", token), ("ids", "b1"), ("ids", "b3"), ("action", "spam"),
                                 ("queue", "held"), *((f"seen-{cid}", sha) for cid, sha in seen.items())])
        async with http.post(served.url + "/verdict", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/?queue=held"
    assert [m.decode() for m in await redis_client.zrange(keys.review, 0, -1)] == ["b2"]
    for cid in ("b1", "b3"):
        assert json.loads(await redis_client.get(keys.decision(cid)))["action"] == "spam"


async def test_bad_verdict_requests_are_refused(served: Served, redis_client: aioredis.Redis, keys: Keys) -> None:
    await hold(redis_client, keys, "c1", TEXT)
    async with client() as http:
        await login(http, served.url)
        token = await csrf_of(http, served.url)
        for ids, action in ((["c1"], "hold"), (["c1"], "delete"), ([], "approve")):
            status, _ = await verdict(http, served.url, ids, action, token)
            assert status == 400
    assert await redis_client.zcard(keys.review) == 1


async def test_static_files_are_served_and_nothing_else(served: Served) -> None:
    async with client() as http:
        async with http.get(served.url + "/static/review.js") as resp:
            assert resp.status == 200 and "innerHTML" not in (await resp.text()).replace("no innerHTML", "")
        from yarl import URL
        for path in ("/static/%2e%2e/app.py", "/static/..%2fapp.py"):
            async with http.get(URL(served.url + path, encoded=True), allow_redirects=False) as resp:
                assert resp.status in (403, 404), path
                assert "create_app" not in await resp.text()
