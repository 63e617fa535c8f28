"""Authentication dependencies: the current user from the bearer token, and role checks.

They live beside the ``User`` model so every domain router can use them without
importing the web application.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from core.deps import SessionDep, SettingsDep
from core.errors import Forbidden, Unauthorized
from core.security import TokenError, decode_token
from core.settings import Settings
from workforce.models import User

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


# Tokens whose signature was checked, with their user id and expiry: a phone sends the
# same token with every request, and verifying it (base64, JSON, HMAC) costs more than
# the lookup. The expiry is still checked on every use; the cache forgets everything
# when full rather than tracking age.
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str], tuple[int, float]] = {}


def token_user_id(settings: Settings, token: str | None) -> int:
    """The user id a valid bearer token names, or 401 (whether that user may still log
    in is for the caller to check: :func:`user_from_token`, or a query of its own)."""
    if not token:
        raise Unauthorized("Not authenticated: send 'Authorization: Bearer <token>'.")
    cache_key = (settings.secret_key, token)
    known = _verified.get(cache_key)
    if known is not None and known[1] > time.time():
        return known[0]
    try:
        claims = decode_token(token, secret=settings.secret_key)
        user_id, expires = int(claims["sub"]), float(claims["exp"])
    except (TokenError, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("The access token is invalid or expired.") from exc
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[cache_key] = (user_id, expires)
    return user_id


def inactive_user() -> Unauthorized:
    return Unauthorized("The user of this token no longer exists or is disabled.")


def user_from_token(db: Session, settings: Settings, token: str | None) -> User:
    """Resolve a bearer token to an active user, or raise 401."""
    user = db.get(User, token_user_id(settings, token))
    if user is None or not user.active:
        raise inactive_user()
    return user


def get_current_user(
    db: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    return user_from_token(db, settings, token)


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str) -> Callable[[User], User]:
    """Dependency factory: the current user, if their role is one of ``roles`` (else 403)."""

    def _check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(
                f"This action needs the role {' or '.join(roles)}; you are {user.role}."
            )
        return user

    return _check


DispatcherUser = Annotated[User, Depends(require_role("admin", "dispatcher"))]
AdminUser = Annotated[User, Depends(require_role("admin"))]
TechnicianUser = Annotated[User, Depends(require_role("technician"))]
