"""Login throttling by (moderator, client address), with growing delays, so a stranger cannot lock a moderator out.

After `free_tries` failed logins for one name from one address, each further try from that address must wait
1 s, 2 s, 4 s ... up to `max_delay_s`. The same name from any other address is not slowed: a moderator whose
account is being guessed at from elsewhere still logs in at once. One address trying many names is slowed the
same way after `free_tries_per_address` failures across all names.

An attempt is counted before its password is checked (argon2 is slow, and parallel requests would otherwise all
be checked before the first failure is recorded); a successful login takes its attempt back, so the counts hold
failures plus attempts still in flight. The table lives in the process's memory: it is bounded (`max_entries`,
least recently used entries are dropped first) and forgets an entry `forget_after_s` after its last attempt.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_TRIES = 5
FREE_TRIES_PER_ADDRESS = 20
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 300.0
FORGET_AFTER_S = 3600.0
MAX_ENTRIES = 10_000


@dataclass
class _Entry:
    count: int = 0  # failures plus attempts in flight
    not_before: float = 0.0  # clock time before which a try is refused
    last: float = 0.0  # clock time of the last counted try


class LoginThrottle:
    """Counts login attempts per (name, address) and per address; says how long a new attempt must wait."""

    def __init__(self, free_tries: int = FREE_TRIES, free_tries_per_address: int = FREE_TRIES_PER_ADDRESS,
                 first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 forget_after_s: float = FORGET_AFTER_S, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_tries = free_tries
        self.free_tries_per_address = free_tries_per_address
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self.max_entries = max_entries
        self._clock = clock
        # Least recently counted first: the front is what is forgotten or dropped first.
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def attempt(self, user: str, address: str) -> int:
        """Count a login attempt and return 0; or, while this name from this address (or this address) must
        wait, the whole seconds left, and count nothing (its password must then not be checked)."""
        now = self._clock()
        self._forget(now)
        pair, per_address = ("user", user, address), ("address", address)
        wait = max((self._entries[k].not_before - now for k in (pair, per_address) if k in self._entries),
                   default=0.0)
        if wait > 0:
            return math.ceil(wait)
        self._count(pair, self.free_tries, now)
        self._count(per_address, self.free_tries_per_address, now)
        return 0

    def succeeded(self, user: str, address: str) -> None:
        """A good password: this name from this address starts afresh, and the address gets its attempt back
        (not its whole count: one address may try many names)."""
        self._entries.pop(("user", user, address), None)
        entry = self._entries.get(("address", address))
        if entry is not None:
            entry.count = max(0, entry.count - 1)
            if entry.count < self.free_tries_per_address:
                entry.not_before = 0.0

    def _count(self, key: tuple[str, ...], free: int, now: float) -> None:
        entry = self._entries.pop(key, None) or _Entry()
        entry.count += 1
        entry.last = now
        if entry.count >= free:
            entry.not_before = now + min(self.first_delay_s * 2 ** min(entry.count - free, 62), self.max_delay_s)
        self._entries[key] = entry
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def _forget(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.last < self.forget_after_s or now < entry.not_before:
                break
            del self._entries[key]
