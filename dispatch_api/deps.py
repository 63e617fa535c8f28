"""The request dependencies every router uses, in one import.

``SessionDep`` is one transaction per request (commit on success, rollback on error);
``CurrentUser`` is the authenticated user; ``require_role("admin", "dispatcher")`` makes
a dependency that refuses other roles with 403.
"""

from core.deps import SessionDep, SettingsDep, get_settings_dep
from workforce.deps import (
    AdminUser,
    CurrentUser,
    DispatcherUser,
    TechnicianUser,
    get_current_user,
    oauth2_scheme,
    require_role,
    user_from_token,
)

__all__ = [
    "AdminUser",
    "CurrentUser",
    "DispatcherUser",
    "SessionDep",
    "SettingsDep",
    "TechnicianUser",
    "get_current_user",
    "get_settings_dep",
    "oauth2_scheme",
    "require_role",
    "user_from_token",
]
