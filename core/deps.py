"""FastAPI dependencies that need nothing but the core: the session and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from core.db import get_session
from core.settings import Settings

# `scope="function"` commits before the response is sent, so a client that reads right
# after a write always sees it, and a failed commit becomes an error response.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
