"""Bearer tokens of the intake API: made, listed and revoked by ``veraz tokens``.

A token is ``veraz_<scope>_`` followed by 43 characters of URL-safe base64: 256 random bits from
the operating system's generator (``secrets.token_urlsafe(32)``). It is shown once, when made;
the database keeps only ``SHA-256(token)`` in hex. A slow password hash (bcrypt, scrypt,
Argon2) is made for secrets people choose, which an attacker holding the hashes can guess by
trying likely ones; 256 random bits cannot be guessed however fast each try is (2^255 tries on
average), so one SHA-256 protects them as well, and checking a token costs a microsecond
instead of tens of milliseconds on every request. For the same reason the hash is looked up
directly (an index on it): the time a lookup takes tells nothing useful about a secret nobody
can invert from its hash.

The scope prefix lets a leaked token be recognised (secret scanners, logs) and says what it is
for; it is part of what is hashed. Tokens are never logged: only their id and name.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from portal.intake.tables import SCOPES, tokens

PREFIX = "veraz_"


@dataclass(frozen=True)
class Token:
    """A stored token (never its secret)."""

    id: int
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _aware(self.expires_at) <= now:
            return "expired"
        return "active"


class Verdict(Enum):
    """What a request's Authorization header is worth for a scope."""

    MISSING = "missing"  # no bearer token: 401
    UNKNOWN = "unknown"  # not a token of this portal: 401
    REVOKED = "revoked"  # 403
    EXPIRED = "expired"  # 403
    WRONG_SCOPE = "wrong scope"  # 403
    OK = "ok"


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored as UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def secret_hash(secret: str) -> str:
    """What is stored of a token: SHA-256 of its UTF-8 text, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _row(row: Any) -> Token:
    return Token(
        row.id,
        row.name,
        row.scope,
        _aware(row.created_at),
        _aware(row.expires_at) if row.expires_at else None,
        _aware(row.revoked_at) if row.revoked_at else None,
    )


def create(conn: Connection, scope: str, name: str, expires_at: datetime | None = None) -> tuple[Token, str]:
    """Make a token; return it and its secret (shown once, stored nowhere)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    secret = f"{PREFIX}{scope}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    pk: Any = conn.execute(
        insert(tokens).values(
            name=name, scope=scope, secret_hash=secret_hash(secret), created_at=now, expires_at=expires_at
        )
    ).inserted_primary_key
    return Token(int(pk[0]), name, scope, now, expires_at, None), secret


def listing(conn: Connection) -> list[Token]:
    """Every token, oldest first."""
    return [_row(r) for r in conn.execute(select(tokens).order_by(tokens.c.id))]


def revoke(conn: Connection, token_id: int) -> Token | None:
    """Revoke token ``token_id`` (kept, so the list shows it); None if there is none. Revoking
    a revoked token keeps its first revocation time."""
    found = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    if found is None:
        return None
    if found.revoked_at is None:
        conn.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=datetime.now(UTC)))
        found = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
    return _row(found)


_BY_HASH = select(tokens).where(tokens.c.secret_hash == bindparam("h"))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750), or None."""
    if not header:
        return None
    kind, _, value = header.strip().partition(" ")
    value = value.strip()
    if kind.lower() != "bearer" or not value or " " in value:
        return None
    return value


def authenticate(conn: Connection, header: str | None, scope: str) -> tuple[Verdict, Token | None]:
    """The verdict on an Authorization header for ``scope``, with the token when it is one."""
    secret = bearer(header)
    if secret is None:
        return Verdict.MISSING, None
    if not secret.startswith(PREFIX) or len(secret) > 200 or not secret.isascii():
        return Verdict.UNKNOWN, None
    row = conn.execute(_BY_HASH, {"h": secret_hash(secret)}).first()
    if row is None:
        return Verdict.UNKNOWN, None
    token = _row(row)
    state = token.state(datetime.now(UTC))
    if state == "revoked":
        return Verdict.REVOKED, token
    if state == "expired":
        return Verdict.EXPIRED, token
    if token.scope != scope:
        return Verdict.WRONG_SCOPE, token
    return Verdict.OK, token
