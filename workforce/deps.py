"""Authentication dependencies: the current user from the bearer token, and role checks.

They live beside the ``User`` model so every domain router can use them without
importing the web application (``dispatch_api.deps`` re-exports them).
"""

from __future__ import annotations

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


def user_from_token(db: Session, settings: Settings, token: str | None) -> User:
    """Resolve a bearer token to an active user, or raise 401."""
    if not token:
        raise Unauthorized("Not authenticated: send 'Authorization: Bearer <token>'.")
    try:
        claims = decode_token(token, secret=settings.secret_key)
        user_id = int(claims["sub"])
    except (TokenError, ValueError, KeyError) as exc:
        raise Unauthorized("The access token is invalid or expired.") from exc
    user = db.get(User, user_id)
    if user is None or not user.active:
        raise Unauthorized("The user of this token no longer exists or is disabled.")
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
