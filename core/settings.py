"""One place for configuration, read from the environment (prefix ``FWS_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")
DEV_SECRET_KEY = "change-me-in-production-please-32b"


class Settings(BaseSettings):
    """Runtime configuration; every field can be set as ``FWS_<NAME>``.

    ``DATABASE_URL`` (without prefix) is accepted too, because that is what most
    hosting platforms export.
    """

    model_config = SettingsConfigDict(env_prefix="FWS_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_VAR_DIR / 'fieldplan.db'}",
        validation_alias=AliasChoices("FWS_DATABASE_URL", "DATABASE_URL"),
    )
    data_dir: Path = DEFAULT_VAR_DIR / "data"
    secret_key: str = DEV_SECRET_KEY
    token_ttl_min: int = 12 * 60
    timezone: str = "UTC"
    # Optimisation runs: an in-process worker thread serves SQLite; PostgreSQL uses
    # procrastinate workers (`python -m dispatch_api worker`).
    inprocess_worker: bool = True
    # A running run whose worker has not written a heartbeat for this long is failed.
    run_stale_after_s: int = 120
    run_default_time_limit_s: int = 30
    sse_ping_s: float = 15.0
    max_upload_bytes: int = 10 * 1024 * 1024
    cors_origins: list[str] = []

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        """Accept the common ``postgres://`` spellings and pick the psycopg 3 driver."""
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


@lru_cache
def get_settings() -> Settings:
    """Process-wide settings from the environment (tests pass their own instance)."""
    return Settings()
