"""The signed webhook: POST each decision as JSON, signed with HMAC-SHA256.

Headers sent:
    X-Modbot-Timestamp: unix seconds when this attempt was sent
    Idempotency-Key:    stable per decision across retries and restarts; the platform should ignore repeats
    X-Modbot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<idempotency key>." + raw body)>
The platform recomputes the HMAC, compares in constant time and refuses timestamps older than a few
minutes: the timestamp and key are signed too, so a captured request cannot be replayed later or under
another key (see README, "Receiving decisions").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping

import aiohttp

from modbot import __version__
from modbot.config import WebhookSettings
from modbot.errors import DeliveryError
from modbot.models import Decision
from modbot.sinks.base import check_header_value, check_status, read_secret

SIGNATURE_HEADER = "X-Modbot-Signature"


TIMESTAMP_HEADER = "X-Modbot-Timestamp"
KEY_HEADER = "Idempotency-Key"
MAX_AGE_S = 300


def sign(secret: str, timestamp: str, key: str, body: bytes) -> str:
    """The signature header's value for one request."""
    message = f"{timestamp}.{key}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None,
           max_age_s: int = MAX_AGE_S) -> bool:
    """What a receiving platform does (used by `modbot receive` and the tests, shown in the README)."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return False
    if abs(age) > max_age_s:
        return False
    expected = sign(secret, timestamp, headers.get(KEY_HEADER, ""), body).encode()
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, "").encode("utf-8", "replace"))


class WebhookSink:
    """Delivers decisions to the platform's webhook URL, signed so the platform can trust them."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings, session: aiohttp.ClientSession) -> None:
        self.url = settings.url
        self.secret = read_secret(settings.secret_env, settings.secret_file, "the webhook secret",
                                  "sink.webhook.secret_file")
        self.timeout = aiohttp.ClientTimeout(total=settings.timeout_s)
        self.session = session

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        """POST one decision. Raises DeliveryError, retryable when the platform may take it on a later try
        (unreachable, timeout, 5xx, 429), so the outbox keeps it; not retryable when the platform refused it."""
        check_header_value(idempotency_key, "the idempotency key (comment id + hash)")
        body = json.dumps(decision.to_dict(), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, KEY_HEADER: idempotency_key,
                   SIGNATURE_HEADER: sign(self.secret, timestamp, idempotency_key, body),
                   "User-Agent": f"modbot/{__version__}"}
        try:
            async with self.session.post(self.url, data=body, headers=headers, timeout=self.timeout,
                                         allow_redirects=False) as resp:
                check_status(resp.status, await resp.text(errors="replace"), "webhook",
                             resp.headers.get("Location"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}", retryable=True) from None

    async def close(self) -> None:
        """Nothing to release: the HTTP session belongs to the caller, who closes it."""
        return None


class LogSink:
    """Writes decisions to the log only: for trying modbot out and for shadow deployments."""

    name = "log"

    def __init__(self) -> None:
        import logging
        self.log = logging.getLogger("modbot.sink")

    async def deliver(self, decision: Decision, idempotency_key: str) -> None:
        """Log the decision; never fails, so nothing waits in the outbox."""
        self.log.info("decision", extra={"comment_id": decision.comment_id, "action": decision.action.value,
                                         "rule": decision.rule, "reason": decision.reason})

    async def close(self) -> None:
        """Nothing to release."""
        return None
