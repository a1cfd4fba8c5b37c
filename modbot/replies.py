"""Values as redis-py returns them: the client does not decode, so ids, names and fields come back as bytes."""

from __future__ import annotations


def as_str(value: object) -> str:
    """A reply value as text: bytes decoded as UTF-8, anything else as str()."""
    return value.decode() if isinstance(value, bytes) else str(value)
