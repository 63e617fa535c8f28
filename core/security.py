"""Password hashing (argon2) and signed bearer tokens (JWT, HS256)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
_hasher = PasswordHasher()

ROLES = ("admin", "dispatcher", "technician")


class TokenError(Exception):
    """A token that is malformed, expired or signed with another key."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches; never raises on a corrupt hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_token(
    *, subject: str, secret: str, ttl_min: int, claims: dict[str, Any] | None = None
) -> str:
    """Sign a token for ``subject`` (the user id) that expires after ``ttl_min`` minutes."""
    now = dt.datetime.now(dt.UTC)
    payload: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + dt.timedelta(minutes=ttl_min),
        **(claims or {}),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_token(token: str, *, secret: str) -> dict[str, Any]:
    """Return the claims of a valid token, else raise :class:`TokenError`."""
    try:
        return jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
