"""The Sink interface and the HTTP status rules shared by the HTTP sinks."""

from __future__ import annotations

from typing import Protocol

from modbot.errors import DeliveryError
from modbot.models import Decision


class Sink(Protocol):
    """Delivers one decision. Raises DeliveryError; `retryable=False` means retrying cannot help."""

    name: str

    async def deliver(self, decision: Decision, idempotency_key: str) -> None: ...

    async def close(self) -> None: ...


def check_status(status: int, body: str, what: str, location: str | None = None) -> None:
    """Turn an HTTP status into success or a DeliveryError that says whether a retry can help.

    The sinks do not follow redirects: a 301/302/303 would turn the POST into a GET without a body, and a 2xx
    to that GET would count a decision as delivered that the platform never saw. A 3xx is a refusal that
    names where the platform points (`location`), so an operator can fix the URL and `--retry-failed`."""
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise DeliveryError(f"{what} answered HTTP {status} redirecting to {location or '(no Location)'}; "
                            "redirects are not followed (the decision would be lost): set the URL to the final "
                            "address", retryable=False)
    retryable = status >= 500 or status in (408, 425, 429)
    raise DeliveryError(f"{what} answered HTTP {status}: {body[:200]}", retryable=retryable)


def check_header_value(value: str, what: str) -> None:
    """Refuse (for good) a value an HTTP header cannot carry unchanged: aiohttp rejects control characters,
    and receivers strip outer whitespace, so the platform would see another value than the one signed."""
    if value != value.strip() or not value.isprintable():
        raise DeliveryError(f"{what} {value[:80]!r} cannot be sent in an HTTP header (control, format or "
                            "separator characters, or outer whitespace)", retryable=False)


def read_secret(env_name: str, file: object, what: str, file_setting: str) -> str:
    """A secret from a file (first line) or an environment variable; the file wins when both are set."""
    import os
    from pathlib import Path

    if file is not None:
        try:
            secret = Path(str(file)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise DeliveryError(f"cannot read {what} from {file}: {exc.strerror}", retryable=False) from None
        if secret:
            return secret
    secret = os.environ.get(env_name, "")
    if not secret:
        raise DeliveryError(f"{what} is not set: put it in ${env_name}, or in a file named by {file_setting}",
                            retryable=False)
    return secret
