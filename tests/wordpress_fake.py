"""A stand-in WordPress that speaks the slice of the REST API modbot uses, checked strictly.

    GET  /wp-json/wp/v2/comments?status=&context=edit&after=&orderby=date_gmt&order=asc&per_page=&page=
    POST /wp-json/wp/v2/comments/<id>   {"status": "approved" | "hold" | "spam" | "trash"}

HTTP Basic with one user and Application Password; paging headers X-WP-Total / X-WP-TotalPages; `after` is
exclusive and compared with date_gmt; errors as WordPress shapes them ({"code", "message", "data"}).
"""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

ROOT = "/wp-json/wp/v2"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
STATUSES = {"approved": "approved", "approve": "approved", "1": "approved", "hold": "hold", "0": "hold",
            "spam": "spam", "trash": "trash"}


@dataclass
class FakeWordPress:
    user: str = "modbot"
    password: str = "abcd EFGH 1234 ijkl MNOP 5678"
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    fail_with: list[int] = field(default_factory=list)  # statuses to answer next, one per request
    ok_status: list[int] = field(default_factory=list)  # 2xx statuses for the next good answers, one per answer
    inject: list[tuple[int, Any]] = field(default_factory=list)  # (position, item) put into the first page as is
    list_headers: dict[str, str] = field(default_factory=dict)  # headers that override the paging headers
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    redirect_with: list[int] = field(default_factory=list)  # 3xx to answer next POSTs, pointing at the same URL
    url: str = ""

    def add(self, text: str, status: str = "hold", minutes_ago: float = 60.0, author: int = 0,
            author_name: str = "Guest", author_email: str = "guest@example.org", post: int = 7) -> dict[str, Any]:
        cid = max(self.comments, default=100) + 1
        date = (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%S")
        self.comments[cid] = {
            "id": cid, "post": post, "parent": 0, "author": author, "author_name": author_name,
            "author_email": author_email, "date": date, "date_gmt": date, "status": status,
            "link": f"https://blog.example/?p={post}#comment-{cid}",
            "content": {"raw": text, "rendered": f"<p>{text}</p>\n"},
        }
        return self.comments[cid]

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.user and password == self.password

    @staticmethod
    def _error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message, "data": {"status": status}}, status=status)

    def _gate(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.method, request.path, dict(request.query)))
        if self.fail_with:
            status = self.fail_with.pop(0)
            return self._error(status, "fake_failure", f"failing on purpose with {status}")
        if not self._authorised(request):
            return self._error(401, "rest_cannot_edit", "Sorry, you are not allowed to edit comments.")
        return None

    async def list_comments(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused:
            return refused
        q = request.query
        if q.get("orderby", "date_gmt") != "date_gmt" or q.get("order", "desc") != "asc":
            return self._error(400, "rest_invalid_param", "this fake only sorts by date_gmt ascending")
        per_page, page = int(q.get("per_page", "10")), int(q.get("page", "1"))
        if not 1 <= per_page <= 100:
            return self._error(400, "rest_invalid_param", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        found = [c for c in self.comments.values() if c["status"] == q.get("status", "approved")]
        if "after" in q:
            after = datetime.fromisoformat(q["after"])
            found = [c for c in found if datetime.fromisoformat(c["date_gmt"]) > after]
        found.sort(key=lambda c: (c["date_gmt"], c["id"]))
        total_pages = math.ceil(len(found) / per_page)
        if page > max(total_pages, 1):
            return self._error(400, "rest_comment_invalid_page_number",
                               "The page number requested is larger than the number of pages available.")
        chunk = found[(page - 1) * per_page:page * per_page]
        body: list[Any] = [c if q.get("context") == "edit" else {**c, "content": {"rendered": c["content"]["rendered"]},
                                                                 "author_email": None} for c in chunk]
        if page == 1:
            for position, item in self.inject:
                body.insert(position, item)
        headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(total_pages), **self.list_headers}
        return self._ok(body, headers)

    def _ok(self, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        status = self.ok_status.pop(0) if self.ok_status else 200
        return web.json_response(body, headers=headers, status=status)

    async def get_comment(self, request: web.Request) -> web.Response:
        refused = self._gate(request)
        if refused:
            return refused
        found = self.comments.get(int(request.match_info["id"]))
        return self._ok(found) if found else self._error(404, "rest_comment_invalid_id", "Invalid comment ID.")

    async def update_comment(self, request: web.Request) -> web.Response:
        if self.redirect_with:  # a site moved to https or www.: a followed redirect arrives as a GET
            self.requests.append((request.method, request.path, dict(request.query)))
            return web.Response(status=self.redirect_with.pop(0), headers={"Location": str(request.url)})
        refused = self._gate(request)
        if refused:
            return refused
        cid = int(request.match_info["id"])
        if cid not in self.comments:
            return self._error(404, "rest_comment_invalid_id", "Invalid comment ID.")
        data = await request.json()
        status = STATUSES.get(str(data.get("status")))
        if status is None:
            return self._error(400, "rest_comment_failed_edit", "Updating comment status failed.")
        self.comments[cid]["status"] = status
        return self._ok(self.comments[cid])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(ROOT + "/comments", self.list_comments)
        app.router.add_get(ROOT + "/comments/{id:\\d+}", self.get_comment)
        app.router.add_post(ROOT + "/comments/{id:\\d+}", self.update_comment)
        return app


@asynccontextmanager
async def running(wp: FakeWordPress) -> AsyncIterator[FakeWordPress]:
    runner = web.AppRunner(wp.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    wp.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield wp
    finally:
        await runner.cleanup()
