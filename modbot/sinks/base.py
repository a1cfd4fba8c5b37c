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


def check_status(status: int, body: str, what: str) -> None:
    """Turn an HTTP status into success or a DeliveryError that says whether a retry can help."""
    if 200 <= status < 300:
        return
    retryable = status >= 500 or status in (408, 425, 429)
    raise DeliveryError(f"{what} answered HTTP {status}: {body[:200]}", retryable=retryable)


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
