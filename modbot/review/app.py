"""The review page's aiohttp application: login, the queue, claims and verdicts.

Security, in the order a request meets it:
- every response carries a strict Content-Security-Policy (scripts and styles only from /static, nothing
  inline, no framing) and no-store caching;
- every page but /login and /static needs a session cookie (HttpOnly, SameSite=Strict, Secure when
  `secure_cookies`) whose user is still in the users file with the password they logged in with (a removed
  moderator or a changed password ends the session at the next request);
- every POST must carry the session's CSRF token (form field `csrf` or header X-CSRF-Token; the login form
  uses a double-submit cookie) and, when the browser sends Origin, come from this origin;
- login attempts are throttled per (user name, client address) with growing delays, and per address
  (throttle.LoginThrottle): guessing at a name from one address never slows that moderator elsewhere. The
  client address is the TCP peer; X-Forwarded-For counts only when the peer is one of `trusted_proxies`.
Verdicts go through DecisionStore.record_verdict: the same outbox and retries as automatic decisions. Each
verdict names the text_sha256 of the version the page showed; a comment edited since is refused, never judged.
With `undo_seconds` above 0 a verdict first waits that long as a pending verdict that its moderator can undo
(review/pending.py); the app's Committer task records it when the window has passed, page open or not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import redis.asyncio as aioredis
from aiohttp import web

from modbot.config import ReviewSettings
from modbot.decisions import DecisionStore, StaleVerdict
from modbot.keys import Keys
from modbot.models import Action
from modbot.review.auth import Session, SessionStore, UserDirectory, csrf_ok
from modbot.review.escalation import InvalidNote, clean_note
from modbot.review.history import author_histories
from modbot.review.pending import Committer, PendingVerdicts
from modbot.review.queue import QUEUES, ClaimConflict, Filters, ReviewQueue
from modbot.review.render import render_login, render_queue
from modbot.review.throttle import LoginThrottle
from modbot.rules.patternstats import entry_figures

log = logging.getLogger("modbot.review")

SESSION_COOKIE = "modbot_session"
LOGIN_CSRF_COOKIE = "modbot_login_csrf"
STATIC_DIR = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
VERDICTS = {"approve": Action.APPROVE, "reject": Action.REJECT, "spam": Action.SPAM}
MAX_BATCH = 200
PAGE_SIZE = 50

SETTINGS: web.AppKey[ReviewSettings] = web.AppKey("settings", ReviewSettings)
QUEUE: web.AppKey[ReviewQueue] = web.AppKey("queue", ReviewQueue)
STORE: web.AppKey[DecisionStore] = web.AppKey("store", DecisionStore)
SESSIONS: web.AppKey[SessionStore] = web.AppKey("sessions", SessionStore)
USERS: web.AppKey[UserDirectory] = web.AppKey("users", UserDirectory)
THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("throttle", LoginThrottle)
PENDING: web.AppKey[PendingVerdicts] = web.AppKey("pending", PendingVerdicts)
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def no_icon(_: web.Request) -> web.Response:
    return web.Response(status=204)


def create_app(redis: aioredis.Redis, keys: Keys, settings: ReviewSettings,
               throttle: LoginThrottle | None = None) -> web.Application:
    """The review application; mount it in the daemon or run it alone (`modbot review`)."""
    app = web.Application(middlewares=[security_headers, require_login], client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app[QUEUE] = ReviewQueue(redis, keys, settings.claim_ttl_s)
    app[STORE] = DecisionStore(redis, keys)
    app[SESSIONS] = SessionStore(redis, keys)
    app[USERS] = UserDirectory(settings.users_file)
    app[THROTTLE] = throttle if throttle is not None else LoginThrottle()
    app[PENDING] = PendingVerdicts(redis, keys, app[STORE])
    app.cleanup_ctx.append(commit_pending_verdicts)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", queue_page)
    app.router.add_post("/verdict", verdict_form)
    app.router.add_get("/api/queue", queue_json)
    app.router.add_post("/api/claim", claim)
    app.router.add_post("/api/release", release)
    app.router.add_post("/api/verdict", verdict_json)
    app.router.add_post("/api/undo", undo_json)
    app.router.add_post("/undo", undo_form)
    app.router.add_static("/static", STATIC_DIR, follow_symlinks=False)
    app.router.add_get("/favicon.ico", no_icon)  # browsers ask on every page; answer instead of a 404 in logs
    return app


async def commit_pending_verdicts(app: web.Application) -> AsyncIterator[None]:
    """Every review server commits due pending verdicts (also those left by a restart, or given with another
    server's page), so a verdict takes effect when its window passes whether or not its page is still open."""
    stop = asyncio.Event()
    task = asyncio.create_task(Committer(app[PENDING]).run(stop))
    yield
    stop.set()
    await task


# --- middlewares -------------------------------------------------------------------------------------------

@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # Threads are on other sites, which need not learn the review page's address; "no-referrer" would also
    # make browsers send `Origin: null` on our own form posts, which the origin check refuses.
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST" and not _same_origin(request):
        raise web.HTTPForbidden(text="cross-origin request refused")
    if request.path in ("/login", "/favicon.ico") or request.path.startswith("/static/"):
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = await request.app[SESSIONS].get(token)
    if session is not None and not request.app[USERS].still_valid(session):
        # Removed from the users file, or the password changed since this login: the session ends here.
        log.info("session ended: moderator removed or password changed", extra={"user": session.user})
        await request.app[SESSIONS].delete(token)
        session = None
    if session is None:
        if request.path.startswith("/api/"):
            raise web.HTTPUnauthorized(text="log in first")
        raise web.HTTPSeeOther("/login")
    if request.method == "POST":
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            given = (await request.post()).get("csrf")  # type: ignore[assignment]
        if not csrf_ok(session.csrf, given if isinstance(given, str) else None):
            raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
    request[SESSION] = session
    return await handler(request)


def _same_origin(request: web.Request) -> bool:
    """Browsers send Origin on POST; when present it must be this site. (The CSRF token is checked as well.)"""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _session(request: web.Request) -> Session:
    return request[SESSION]


# --- login ---------------------------------------------------------------------------------------------------

def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
                        secure=request.app[SETTINGS].secure_cookies)


async def login_page(request: web.Request, error: str = "", user: str = "", status: int = 200) -> web.Response:
    # Reuse the form token already in the browser, so that a second tab (or a favicon request that ends up
    # here) does not invalidate the form shown in the first.
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not 32 <= len(token) <= 64:
        token = secrets.token_urlsafe(32)
    response = web.Response(text=render_login(token, error, user), content_type="text/html", status=status)
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user, password = str(form.get("user", "")).strip()[:100], str(form.get("password", ""))
    if not csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE, ""), str(form.get("csrf", ""))):
        return await login_page(request, "The form expired; please try again.", user, status=403)
    ip = client_address(request)
    throttle = request.app[THROTTLE]
    # Counted before the (slow) password check, so parallel requests cannot slip past the throttle.
    wait = throttle.attempt(user, ip)
    if wait:
        log.warning("login throttled", extra={"user": user, "ip": ip, "wait_s": wait})
        response = await login_page(request, f"Too many failed logins. Try again in {wait} seconds.", user,
                                    status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    fingerprint = await request.app[USERS].authenticate(user, password) if user else None
    if fingerprint is None:
        log.warning("login failed", extra={"user": user, "ip": ip})
        return await login_page(request, "Wrong name or password.", user, status=401)
    throttle.succeeded(user, ip)
    token, _ = await request.app[SESSIONS].create(user, fingerprint)
    log.info("login", extra={"user": user, "ip": ip})
    response = web.HTTPSeeOther("/")
    _set_cookie(request, response, SESSION_COOKIE, token, request.app[SESSIONS].ttl_s)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


def client_address(request: web.Request) -> str:
    """The address the login came from: the TCP peer, or, when the peer is a trusted proxy, the last address in
    X-Forwarded-For that is not itself a trusted proxy (anyone can write that header; only proxies we trust
    append to it honestly)."""
    peer = request.remote or "unknown"
    trusted = request.app[SETTINGS].trusted_proxies
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop
    return peer


def _in(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


async def logout(request: web.Request) -> web.StreamResponse:
    await request.app[SESSIONS].delete(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- the queue -----------------------------------------------------------------------------------------------

def _query(request: web.Request) -> tuple[str, Filters]:
    queue = request.query.get("queue", "held")
    if queue not in QUEUES:
        raise web.HTTPBadRequest(text=f"queue must be one of {', '.join(QUEUES)}")
    return queue, Filters(rule=request.query.get("rule") or None, category=request.query.get("category") or None)


async def queue_page(request: web.Request) -> web.Response:
    session = _session(request)
    queue, filters = _query(request)
    view = await request.app[QUEUE].view(queue, filters, PAGE_SIZE)
    redis, keys = request.app[QUEUE].redis, request.app[QUEUE].keys
    histories = await author_histories(redis, keys, view.items)
    figures = await entry_figures(redis, keys, ((m.pattern, m.stance.value)
                                                for i in view.items for m in i.decision.matches))
    pending = await request.app[PENDING].listed()
    refused = [cid[:200] for cid in request.query.getall("refused", [])][:MAX_BATCH]
    late = [cid[:200] for cid in request.query.getall("late", [])][:MAX_BATCH]
    return web.Response(text=render_queue(view, queue, filters, session.csrf, session.user, refused, histories,
                                          figures=figures, pending=pending, late=late,
                                          undo_s=request.app[SETTINGS].undo_seconds),
                        content_type="text/html")


async def queue_json(request: web.Request) -> web.Response:
    queue, filters = _query(request)
    view = await request.app[QUEUE].view(queue, filters, PAGE_SIZE)
    return web.json_response({
        "counts": view.counts, "rules": view.rules, "categories": view.categories, "total": view.total_matching,
        "items": [{"id": i.comment.id, "text": i.comment.text, "rule": i.decision.rule, "reason": i.decision.reason,
                   "priority": i.decision.priority, "scores": dict(i.decision.scores),
                   "matches": [m.to_dict() for m in i.decision.matches], "claimed_by": i.claimed_by,
                   "text_sha256": i.version}
                  for i in view.items],
        "pending": [{"id": p.comment_id, "action": p.action.value, "moderator": p.moderator, "due": p.due}
                    for p in await request.app[PENDING].listed()],
        "undo_s": request.app[SETTINGS].undo_seconds,
    })


async def _json_id(request: web.Request) -> str:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send JSON") from None
    cid = data.get("id") if isinstance(data, dict) else None
    if not isinstance(cid, str) or not cid:
        raise web.HTTPBadRequest(text="'id' is required")
    return cid


async def claim(request: web.Request) -> web.Response:
    cid = await _json_id(request)
    me = _session(request).user
    try:
        await request.app[QUEUE].claim(cid, me)
    except ClaimConflict as exc:
        return web.json_response({"claimed": False, "claimed_by": exc.holder}, status=409)
    return web.json_response({"claimed": True, "claimed_by": me, "ttl_s": request.app[SETTINGS].claim_ttl_s})


async def release(request: web.Request) -> web.Response:
    cid = await _json_id(request)
    await request.app[QUEUE].release(cid, _session(request).user)
    return web.json_response({"released": True})


# --- verdicts ------------------------------------------------------------------------------------------------

STALE = "the comment changed (edited) while you judged it; reload"
UNSEEN = "the page did not say which version of the comment you saw; reload"


async def apply_verdicts(app: web.Application, ids: list[str], action: str, moderator: str,
                         seen: Mapping[str, str], note: str = "") -> dict[str, dict[str, Any]]:
    """Apply one action to each item: claim it, check it still waits for review, record, release.

    With an undo window, approve, reject and spam are recorded as pending (review/pending.py): the item leaves
    the queue at once and the verdict is committed when the window has passed, unless its moderator undoes it.

    `seen` maps each id to the text_sha256 of the version the page showed; a verdict applies only to that
    version, so an item whose author edited it meanwhile (or with no hash given) is refused, not judged.
    """
    if action not in (*VERDICTS, "escalate"):
        raise web.HTTPBadRequest(text="action must be approve, reject, spam or escalate")
    if not ids or len(ids) > MAX_BATCH:
        raise web.HTTPBadRequest(text=f"send between 1 and {MAX_BATCH} ids")
    queue, store = app[QUEUE], app[STORE]
    window = app[SETTINGS].undo_seconds  # approve, reject and spam wait this long; escalate sends nothing out
    results: dict[str, dict[str, Any]] = {}
    for cid in dict.fromkeys(ids):
        shown = seen.get(cid)
        if not shown:
            results[cid] = {"ok": False, "error": UNSEEN, "stale": True}
            log.info("verdict", extra={"comment_id": cid, "moderator": moderator, "action": action, "ok": False})
            continue
        try:
            await queue.claim(cid, moderator)
        except ClaimConflict as exc:
            results[cid] = {"ok": False, "error": f"claimed by {exc.holder}"}
            continue
        try:
            item = await queue.item(cid)
            if item is None:
                # Judged by someone else, or re-decided after an edit: the page drops it.
                results[cid] = {"ok": False, "error": "no longer waiting for review", "gone": True}
            elif shown != item.version:
                raise StaleVerdict(f"comment {cid} was edited since it was shown")
            elif action == "escalate":
                # The decision's own hash ("" for one stored before decisions had it) is checked again under WATCH.
                ok = await queue.escalate(cid, moderator, note, text_sha256=item.decision.text_sha256)
                results[cid] = {"ok": ok} if ok else {"ok": False, "error": "already escalated"}
            elif window > 0:
                given = await app[PENDING].give(item.decision, VERDICTS[action], moderator, note, window)
                if given < 0:
                    raise StaleVerdict(f"comment {cid} was edited since it was shown")
                results[cid] = ({"ok": True, "pending": True, "undo_s": window} if given
                                else {"ok": False, "error": "no longer waiting for review", "gone": True})
            else:
                await store.record_verdict(cid, VERDICTS[action], moderator, note,
                                           text_sha256=item.decision.text_sha256)
                results[cid] = {"ok": True}
        except StaleVerdict:
            results[cid] = {"ok": False, "error": STALE, "stale": True}
        finally:
            await queue.release(cid, moderator)
        log.info("verdict", extra={"comment_id": cid, "moderator": moderator, "action": action,
                                   "ok": results[cid]["ok"]})
    return results


TOO_LATE = "too late: already sent"


async def undo_verdicts(app: web.Application, ids: list[str], moderator: str) -> dict[str, dict[str, Any]]:
    """Undo `moderator`'s pending verdicts on these comments; each result says whether the item is back."""
    if not ids or len(ids) > MAX_BATCH:
        raise web.HTTPBadRequest(text=f"send between 1 and {MAX_BATCH} ids")
    results: dict[str, dict[str, Any]] = {}
    for cid in dict.fromkeys(ids):
        undone = await app[PENDING].undo(cid, moderator)
        if undone.status == "back":
            results[cid] = {"ok": True, "queue": undone.queue}
        elif undone.status == "edited":
            results[cid] = {"ok": True, "edited": True,
                            "error": "undone; the comment was edited meanwhile, reload to see its new text"}
        elif undone.status == "not-yours":
            results[cid] = {"ok": False, "error": f"only {undone.holder}, who gave this verdict, can undo it"}
        else:
            results[cid] = {"ok": False, "error": TOO_LATE}
        log.info("undo", extra={"comment_id": cid, "moderator": moderator, "ok": results[cid]["ok"]})
    return results


async def _json_ids(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, with `ids` a list of comment ids, or 400."""
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("ids"), list) \
            or not all(isinstance(i, str) for i in data["ids"]):
        raise web.HTTPBadRequest(text="'ids' must be a list of comment ids")
    return data


async def undo_json(request: web.Request) -> web.Response:
    data = await _json_ids(request)
    results = await undo_verdicts(request.app, data["ids"], _session(request).user)
    counts = await request.app[QUEUE].counts()
    status = 200 if all(r["ok"] for r in results.values()) else 409
    return web.json_response({"results": results, "counts": counts}, status=status)


async def undo_form(request: web.Request) -> web.StreamResponse:
    """Undo without JavaScript: the page's list of pending verdicts has an Undo button for one's own."""
    form = await request.post()
    results = await undo_verdicts(request.app, [str(v) for v in form.getall("ids", [])], _session(request).user)
    queue = str(form.get("queue", "held"))
    query = [("queue", queue if queue in QUEUES else "held")]
    query += [("late", cid) for cid, r in results.items() if not r["ok"]][:MAX_BATCH]
    raise web.HTTPSeeOther("/?" + urlencode(query))


def _note(value: object) -> str:
    """The moderator's note, or 400 for one that is not text or is too long (refused whole, never cut)."""
    try:
        return clean_note(value)
    except InvalidNote as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


async def verdict_json(request: web.Request) -> web.Response:
    data = await _json_ids(request)
    seen = data.get("seen", {})
    if not isinstance(seen, dict) or not all(isinstance(v, str) for v in seen.values()):
        raise web.HTTPBadRequest(text="'seen' must map comment ids to the text_sha256 the page showed")
    results = await apply_verdicts(request.app, data["ids"], str(data.get("action", "")), _session(request).user,
                                   seen, _note(data.get("note")))
    counts = await request.app[QUEUE].counts()
    status = 200 if all(r["ok"] for r in results.values()) else 409
    return web.json_response({"results": results, "counts": counts}, status=status)


async def verdict_form(request: web.Request) -> web.StreamResponse:
    """The same as /api/verdict for browsers without JavaScript: a form post, then back to the queue."""
    form = await request.post()
    ids = [str(v) for v in form.getall("ids", [])]
    # Each item carries `seen-<id>`: the text_sha256 of the version shown next to its checkbox or buttons.
    seen = {cid: str(form.get(f"seen-{cid}", "")) for cid in ids}
    action = str(form.get("action", ""))
    # The item form's note field is labelled as the note for an escalation: a verdict's note goes into the
    # decision's reason, which the platform receives, so a note written for colleagues is not sent with it.
    note = _note(form.get("note")) if action == "escalate" else ""
    results = await apply_verdicts(request.app, ids, action, _session(request).user, seen, note)
    queue = str(form.get("queue", "held"))
    query = [("queue", queue if queue in QUEUES else "held")]
    # The page names these with a fixed explanation (not free text from the URL, which anyone could link to),
    # so a moderator without JavaScript learns which verdicts were not applied.
    query += [("refused", cid) for cid, r in results.items() if not r["ok"]][:MAX_BATCH]
    raise web.HTTPSeeOther("/?" + urlencode(query))
