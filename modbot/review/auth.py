"""Who may use the review page: moderators' hashed passwords, login sessions, CSRF tokens.

Passwords are stored as argon2id hashes in the users file (settings.review.users_file), written by
`modbot moderators add`. Sessions live in Redis under the SHA-256 of the cookie value, so a copy of the
database does not hand out live cookies. A session holds a short fingerprint of its user's password hash and is
checked against the users file on every request: removing a moderator or changing their password ends their
sessions at the next request. Login attempts are throttled in modbot.review.throttle.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from modbot.errors import ConfigError
from modbot.keys import Keys

SESSION_TTL_S = 12 * 3600
USERS_FILE_HEADER = "# Review page moderators, written by `modbot moderators add NAME`. Hashes are argon2id.\n"

_hasher = PasswordHasher()
# Verified when the user name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    """An argon2id hash of `password` (argon2-cffi's default cost unless `hasher` says otherwise)."""
    return (hasher or _hasher).hash(password)


def hash_fingerprint(stored_hash: str) -> str:
    """A short digest of a stored password hash: a session remembers it to notice a password change. It says
    nothing useful about the password (it is a digest of a salted, slow hash)."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:16]


def load_users(path: Path) -> dict[str, str]:
    """Read the users file: {name: argon2 hash}. A missing file means no moderators yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = yaml.safe_load(text) or {}
    users = data.get("users", {}) if isinstance(data, dict) else None
    if not isinstance(users, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in users.items()):
        raise ConfigError("the users file must hold 'users:' mapping names to password hashes", file=str(path),
                          hint="recreate it with `modbot moderators add NAME`")
    return dict(users)


def save_users(path: Path, users: dict[str, str]) -> None:
    """Write the users file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = USERS_FILE_HEADER + yaml.safe_dump({"users": dict(sorted(users.items()))}, sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".moderators-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class UserDirectory:
    """The moderators in the users file, re-read when the file changes so new moderators need no restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, str] = {}

    def users(self) -> dict[str, str]:
        """{name: hash}, re-read when the file's stat changes (save_users replaces the file: a new inode)."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if stamp != self._stamp:
            self._users = load_users(self.path)
            self._stamp = stamp
        return self._users

    async def authenticate(self, name: str, password: str) -> str | None:
        """The fingerprint of `name`'s password hash when `password` is theirs, else None. Hashing runs in a
        thread: argon2 is deliberately slow."""
        stored = self.users().get(name)
        ok = await asyncio.to_thread(_verify, stored or _DUMMY_HASH, password, stored is not None)
        return hash_fingerprint(stored) if ok and stored is not None else None

    async def verify(self, name: str, password: str) -> bool:
        """True when `password` is `name`'s."""
        return await self.authenticate(name, password) is not None

    def still_valid(self, session: Session) -> bool:
        """False when the session's user was removed or their password changed since the session began."""
        stored = self.users().get(session.user)
        return stored is not None and bool(session.pw) and hmac.compare_digest(hash_fingerprint(stored), session.pw)


def _verify(stored: str, password: str, known: bool) -> bool:
    try:
        ok = _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and known


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    created: float
    # Fingerprint of the password hash the user logged in with (hash_fingerprint). Sessions from before this
    # field read as "", which never matches: they are asked to log in again.
    pw: str = ""


_SESSION_FIELDS = {"user", "csrf", "created", "pw"}


class SessionStore:
    """Login sessions in Redis. The cookie holds a random token; Redis holds only its hash."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_s: int = SESSION_TTL_S) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s

    def _key(self, token: str) -> str:
        return self.keys.session(hashlib.sha256(token.encode()).hexdigest())

    async def create(self, user: str, pw_fingerprint: str = "") -> tuple[str, Session]:
        """A new session for `user`; `pw_fingerprint` is hash_fingerprint of the hash they logged in with."""
        token = secrets.token_urlsafe(32)
        session = Session(user=user, csrf=secrets.token_urlsafe(32), created=time.time(), pw=pw_fingerprint)
        await self.redis.set(self._key(token), json.dumps(session.__dict__), ex=self.ttl_s)
        return token, session

    async def get(self, token: str | None) -> Session | None:
        if not token or len(token) > 100:
            return None
        raw = await self.redis.get(self._key(token))
        if raw is None:
            return None
        data = json.loads(raw)
        return Session(**{k: v for k, v in data.items() if k in _SESSION_FIELDS})

    async def delete(self, token: str | None) -> None:
        if token:
            await self.redis.delete(self._key(token))


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the one the request sent."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
