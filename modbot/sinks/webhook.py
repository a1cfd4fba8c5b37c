"""The signed webhook: POST each decision as JSON, signed with HMAC-SHA256 over the exact body.

Headers sent:
    X-Modbot-Signature: sha256=<hex HMAC-SHA256(secret, body)>
    Idempotency-Key:    stable per decision across retries and restarts; the platform should ignore repeats
The platform verifies by computing the HMAC over the raw request body with the shared secret and comparing
in constant time (see README, "Receiving decisions").
"""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from modbot import __version__
from modbot.config import WebhookSettings
from modbot.errors import DeliveryError
from modbot.models import Decision
from modbot.sinks.base import check_status, read_secret

SIGNATURE_HEADER = "X-Modbot-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """What a receiving platform does (used by tests and shown in the README)."""
    return hmac.compare_digest(sign(secret, body), signature)


class WebhookSink:
    name = "webhook"

    def __init__(self, settings: WebhookSettings, session: aiohttp.ClientSession) -> None:
        self.url = settings.url
        self.secret = read_secret(settings.secret_env, settings.secret_file, "the webhook secret",
                                  "sink.webhook.secret_file")
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self.session = session

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        body = json.dumps(decision.to_dict(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body),
                   "Idempotency-Key": idempotency_key, "User-Agent": f"modbot/{__version__}"}
        try:
            async with self.session.post(self.url, data=body, headers=headers, timeout=self.timeout) as resp:
                check_status(resp.status, await resp.text(errors="replace"), "webhook")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}", retryable=True) from None

    async def close(self) -> None:
        return None


class LogSink:
    """Writes decisions to the log only: for trying modbot out and for shadow deployments."""

    name = "log"

    def __init__(self) -> None:
        import logging
        self.log = logging.getLogger("modbot.sink")

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        self.log.info("decision", extra={"comment_id": decision.comment_id, "action": decision.action.value,
                                         "rule": decision.rule, "reason": decision.reason})

    async def close(self) -> None:
        return None
