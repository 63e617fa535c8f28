"""``python -m dispatch_api <command>``: migrate, seed, serve, worker, demo.

Every command reads its configuration from the environment (``FWS_DATABASE_URL`` ...).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from core.db import Database
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("dispatch_api")


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def migrate_database(url: str, revision: str = "head") -> None:
    """Alembic upgrade (and procrastinate's own schema on PostgreSQL)."""
    command.upgrade(alembic_config(url), revision)
    if url.startswith("postgresql"):
        from workforce.runs import ensure_procrastinate_schema

        database = Database(url)
        try:
            ensure_procrastinate_schema(database)
        finally:
            database.dispose()


def downgrade_database(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    print(
        f"Serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs, "
        f"board: http://{host}:{port}/board)",
        flush=True,
    )
    uvicorn.run(
        "dispatch_api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dispatch_api", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations")
    seed = sub.add_parser("seed", help="load the demo city (idempotent)")
    seed.add_argument("--size", choices=("small", "medium", "large"), default="medium")
    serve = sub.add_parser("serve", help="serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker", help="execute optimisation runs (PostgreSQL: procrastinate)")
    demo = sub.add_parser("demo", help="migrate + seed + optimise + publish + serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--size", choices=("small", "medium", "large"), default="medium")
    demo.add_argument(
        "--time-limit", type=float, default=20.0, help="seconds for the demo optimisation"
    )
    demo.add_argument("--no-serve", action="store_true", help="prepare the data and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        migrate_database(settings.database_url)
        print(f"Migrated {Database(settings.database_url).engine.url.render_as_string()}")
        return 0
    if args.command == "serve":
        _serve(settings, args.host, args.port, args.workers)
        return 0
    if args.command == "worker":
        from workforce.runs import run_worker

        database = Database(settings.database_url)
        with contextlib.suppress(KeyboardInterrupt):
            run_worker(database, settings)
        return 0
    from dispatch_api import demo

    if args.command == "seed":
        migrate_database(settings.database_url)
        demo.seed(settings, size=args.size)
        return 0
    if args.command == "demo":
        migrate_database(settings.database_url)
        demo.seed(settings, size=args.size)
        demo.optimise_and_publish(settings, time_limit=args.time_limit)
        demo.print_logins(settings, args.host, args.port)
        if not args.no_serve:
            _serve(settings, args.host, args.port, 1)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
