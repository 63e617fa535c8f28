"""The demo seed is realistic and idempotent (a second `make run` adds nothing)."""

from __future__ import annotations

from sqlalchemy import func, select

from core.settings import Settings
from dispatch_api import demo
from stock.models import StockMovement
from workforce.models import Job, OptimizationRun, PlanVersion, Technician, User


def _counts(session) -> tuple[int, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(m))
        for m in (User, Technician, Job, StockMovement, PlanVersion, OptimizationRun)
    )


def test_demo_seed_optimise_publish_is_idempotent(settings: Settings, session, capsys) -> None:
    first = demo.seed(settings, size="small")
    assert first["technicians"] == 5 and first["jobs"] == 40 and first["users"] == 2
    result = demo.optimise_and_publish(settings, time_limit=1.0)
    assert result is not None and result["status"] == "published"
    before = _counts(session)
    again = demo.seed(settings, size="small")
    assert again == {"users": 0, "technicians": 0, "jobs": 0}
    assert demo.optimise_and_publish(settings, time_limit=1.0) is None
    session.rollback()
    assert _counts(session) == before
    day = demo.demo_date(settings)
    kinds = set(session.scalars(select(Job.source).where(Job.date == day)))
    assert {"order", "ticket", "maintenance"} <= kinds
    assert (
        session.scalar(select(func.count()).select_from(Job).where(Job.status == "dispatched")) > 0
    )
    demo.print_logins(settings, "127.0.0.1", 8000)
    out = capsys.readouterr().out
    assert "dispatcher / dispatcher" in out and "tech01 / tech01" in out


def test_cli_migrate_and_seed_read_the_environment(tmp_path, monkeypatch, capsys) -> None:
    from dispatch_api.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FWS_DATABASE_URL", url)
    assert main(["migrate"]) == 0
    assert "Migrated" in capsys.readouterr().out
    assert main(["seed", "--size", "small"]) == 0
    assert main(["seed", "--size", "small"]) == 0  # idempotent
    settings = Settings()
    assert settings.database_url == url
    from core.db import Database

    db = Database(url)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Technician)) == 5
        assert s.scalar(select(func.count()).select_from(Job)) == 40
    db.dispose()
