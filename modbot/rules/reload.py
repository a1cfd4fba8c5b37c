"""Hot reload: the rules in force live in a RulesHolder; a valid new file replaces them whole, a broken one does not.

Swapping is one attribute assignment, so a batch that read `holder.current` keeps judging with that RuleSet even
if a reload lands mid-batch: every decision names exactly one rules version.

Reading and parsing run in a worker thread (`watch`, `reload_soon`): a large or hostile file must not stop the
event loop, which keeps deciding comments with the old rules meanwhile. A lock keeps a SIGHUP reload and a
watcher's reload from running at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Collection
from pathlib import Path

from modbot.errors import ConfigError, RuleError
from modbot.rules.engine import RuleSet
from modbot.rules.loader import RuleSetInvalid, parse_rules
from modbot.yamlsrc import read_limited

log = logging.getLogger("modbot.rules")


class RulesHolder:
    """Holds the current RuleSet for `path`.

    The constructor loads the file and raises RuleError when it is invalid: the daemon must not start without
    valid rules. Later reloads never raise; they log and keep the old rules.
    """

    def __init__(self, path: Path, categories: Collection[str] | None = None) -> None:
        self.path = Path(path)
        self.categories = categories
        self.last_error: RuleError | None = None
        self._lock = threading.Lock()
        self._background: set[asyncio.Task[bool]] = set()
        self._stamp = self._stat()
        # A change the last poll saw and is waiting to settle: its stamp (None for a deleted file).
        self._pending = False
        self._pending_stamp: tuple[int, int] | None = None
        self.current: RuleSet = parse_rules(self._read(), str(self.path), categories)

    def _read(self) -> bytes:
        try:
            return read_limited(self.path)
        except ConfigError as exc:
            raise RuleSetInvalid([RuleError(exc.message.replace("cannot read file", "cannot read rules file"),
                                            exc.file, hint=exc.hint)]) from None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload(self) -> bool:
        """Load, validate and swap. True when the file's current content is in force, False when it was refused
        (the old rules stay and the reason is logged and kept in `last_error`). Blocking: call it from a thread
        when an event loop is running (`reload_soon`, `watch`)."""
        with self._lock:
            return self._reload()

    def _reload(self) -> bool:
        self._stamp = self._stat()
        try:
            data = self._read()
            if hashlib.sha256(data).hexdigest() == self.current.sha256:
                self.last_error = None
                log.info("rules unchanged: version %s", self.current.version,
                         extra={"event": "rules_unchanged", "rules_version": self.current.version})
                return True
            new = parse_rules(data, str(self.path), self.categories)
        except (RuleError, RecursionError, MemoryError) as exc:
            # Whatever a file does to the parser, the daemon keeps running on the rules it has.
            if not isinstance(exc, RuleError):
                exc = RuleError(f"rules file could not be loaded: {type(exc).__name__}", file=str(self.path))
            self.last_error = exc
            log.error("rules reload refused, keeping version %s: %s", self.current.version, exc,
                      extra={"event": "rules_reload_failed", "rules_version": self.current.version,
                             "error": str(exc)})
            return False
        old = self.current
        self.current = new
        self.last_error = None
        log.info("rules reloaded: version %s -> %s (%d rules)", old.version, new.version, len(new.rules),
                 extra={"event": "rules_reloaded", "rules_version": new.version, "previous_version": old.version})
        return True

    def changed(self) -> bool:
        """Whether the file's mtime or size differ from the last load attempt (cheap; the hash decides)."""
        return self._stat() != self._stamp

    def poll(self) -> bool:
        """One watch step: reload when the file changed and has stayed the same since the previous poll.

        Waiting for the change to settle keeps a file that an editor or `cp` is still writing from being loaded
        half-written (which may well be valid YAML with rules missing). True when a reload was attempted.
        """
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                self._pending = False
                return False
            if not self._pending or stamp != self._pending_stamp:
                self._pending, self._pending_stamp = True, stamp
                return False
            self._pending = False
            self._reload()
            return True

    def reload_soon(self) -> asyncio.Task[bool]:
        """Reload in a worker thread, for a signal handler (SIGHUP) on the running loop; returns the task."""
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.reload))
        self._background.add(task)  # the loop keeps only a weak reference to tasks
        task.add_done_callback(self._background.discard)
        return task

    async def watch(self, interval_s: float = 2.0) -> None:
        """Poll the file every `interval_s` seconds and reload a change once it has settled (see `poll`), in a
        worker thread. Runs until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            await asyncio.to_thread(self.poll)
