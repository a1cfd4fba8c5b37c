"""The WordPress sink: set each comment's status through the REST API.

    POST {site}/wp-json/wp/v2/comments/<id>   {"status": "approved" | "hold" | "spam" | "trash"}

authenticated with HTTP Basic as `user` and an Application Password (Users -> Profile -> Application
Passwords in wp-admin; the user needs the `moderate_comments` capability, e.g. the Editor role). Comment ids
are WordPress's numeric ids, as the poller (modbot.ingest.wordpress) writes them. Setting a status is
idempotent, so a retried delivery is harmless; the idempotency key is sent anyway for proxies that log it.
"""

from __future__ import annotations

import base64

import aiohttp

from modbot import __version__
from modbot.config import WordPressSettings
from modbot.errors import DeliveryError
from modbot.models import Action, Decision
from modbot.sinks.base import check_header_value, check_status, read_secret

STATUS_FOR_ACTION = {Action.APPROVE: "approved", Action.HOLD: "hold", Action.SPAM: "spam", Action.REJECT: "trash"}


def api_root(site_url: str) -> str:
    return site_url.rstrip("/") + "/wp-json/wp/v2"


def basic_auth(settings: WordPressSettings) -> str:
    """The HTTP Basic `Authorization` header value (password from `password_file`, else `$password_env`)."""
    password = read_secret(settings.password_env, settings.password_file, "the WordPress application password",
                           "sink.wordpress.password_file")
    return "Basic " + base64.b64encode(f"{settings.user}:{password}".encode()).decode("ascii")


class WordPressSink:
    """Delivers decisions by setting the WordPress comment status."""

    name = "wordpress"

    def __init__(self, settings: WordPressSettings, session: aiohttp.ClientSession) -> None:
        self.root = api_root(settings.url)
        self.auth = basic_auth(settings)
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self.session = session

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        wp_id = decision.comment_id
        if not (wp_id.isascii() and wp_id.isdigit()):
            raise DeliveryError(f"comment id {wp_id!r} is not a WordPress comment id", retryable=False)
        url = f"{self.root}/comments/{wp_id}"
        headers = {"Authorization": self.auth, "Idempotency-Key": idempotency_key,
                   "User-Agent": f"modbot/{__version__}"}
        check_header_value(idempotency_key, "the idempotency key (comment id + hash)")
        body = {"status": STATUS_FOR_ACTION[decision.action]}
        try:
            async with self.session.post(url, json=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False) as resp:
                check_status(resp.status, await resp.text(errors="replace"), f"WordPress (comment {wp_id})",
                             resp.headers.get("Location"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"WordPress unreachable: {type(exc).__name__}: {exc}", retryable=True) from None

    async def close(self) -> None:
        return None
