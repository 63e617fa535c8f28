"""Settings, password hashing, tokens and the error body: no database needed."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from core.errors import Conflict, RuleViolation, install_error_handlers
from core.security import TokenError, create_token, decode_token, hash_password, verify_password
from core.settings import Settings


def test_password_hash_round_trip_and_rejects_wrong_password() -> None:
    h = hash_password("s3cret")
    assert h.startswith("$argon2")
    assert verify_password("s3cret", h)
    assert not verify_password("S3cret", h)
    assert not verify_password("s3cret", "not-a-hash")


def test_token_round_trip_and_tampering() -> None:
    token = create_token(subject="7", secret="k" * 32, ttl_min=5, claims={"role": "admin"})
    claims = decode_token(token, secret="k" * 32)
    assert claims["sub"] == "7" and claims["role"] == "admin"
    with pytest.raises(TokenError):
        decode_token(token, secret="x" * 32)
    with pytest.raises(TokenError):
        decode_token(token + "x", secret="k" * 32)
    expired = create_token(subject="7", secret="k" * 32, ttl_min=-1)
    with pytest.raises(TokenError):
        decode_token(expired, secret="k" * 32)


def test_settings_read_prefixed_env_and_plain_database_url(monkeypatch) -> None:
    monkeypatch.delenv("FWS_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h:5432/db")
    monkeypatch.setenv("FWS_TIMEZONE", "Europe/Paris")
    s = Settings()
    assert s.database_url == "postgresql+psycopg://u@h:5432/db"
    assert s.is_postgres and not s.is_sqlite
    assert s.timezone == "Europe/Paris"
    monkeypatch.setenv("FWS_DATABASE_URL", "sqlite:///x.db")
    assert Settings().database_url == "sqlite:///x.db"


class Body(BaseModel):
    duration_min: int = Field(gt=0)


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/x")
    def x(body: Body) -> dict:
        return {"ok": body.duration_min}

    @app.get("/conflict")
    def conflict() -> dict:
        raise Conflict("Busy.", run_id=3)

    @app.get("/rule")
    def rule() -> dict:
        raise RuleViolation("skill", "Lacks fiber 3.")

    @app.get("/boom")
    def boom() -> dict:
        raise RuntimeError("secret internals")

    return app


def test_error_bodies_follow_the_contract() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    r = client.post("/x", json={"duration_min": 0})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    assert body["detail"].startswith("body.duration_min:")
    assert body["errors"][0]["field"] == "body.duration_min"
    r = client.post("/x", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert client.get("/conflict").json() == {"detail": "Busy.", "code": "conflict", "run_id": 3}
    r = client.get("/rule")
    assert r.status_code == 422 and r.json()["rule"] == "skill"
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal server error.", "code": "internal_error"}
