"""Concurrent writes on PostgreSQL: stock never goes below zero, duplicate keys apply once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from fieldwork.models import UsedItem
from stock import service as stock_service

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row-level concurrency is a PostgreSQL property; SQLite serialises writers")


def test_parallel_used_items_never_drive_stock_below_zero(pg_only, field) -> None:
    field.to_on_site(field.job.id)
    path = f"/api/v1/jobs/{field.job.id}/used-items"

    def post(_i: int) -> int:
        r = field.client.post(
            path,
            json={"sku": "DROP-50M", "quantity": 1},
            headers={**field.headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(post, range(20)))
    assert sorted(codes) == [201] * 5 + [409] * 15
    assert field.van()["DROP-50M"] == 0

    def ledger(s):
        item = stock_service.get_item_by_sku(s, sku="DROP-50M")
        return stock_service.ledger_balance(s, location_id=field.van_id, item_id=item.id)

    assert field.read(ledger) == 0
    assert field.read(lambda s: s.scalar(select(func.count()).select_from(UsedItem))) == 5


def test_concurrent_duplicates_of_one_key_apply_once(pg_only, field) -> None:
    field.to_on_site(field.job.id)
    path = f"/api/v1/jobs/{field.job.id}/used-items"
    key = str(uuid.uuid4())

    def post(_i: int):
        r = field.client.post(
            path,
            json={"sku": "DROP-50M", "quantity": 1},
            headers={**field.headers, "Idempotency-Key": key},
        )
        return r.status_code, r.json(), r.headers.get("Idempotent-Replay")

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(post, range(10)))
    assert {code for code, _, _ in results} == {201}
    assert len({body["id"] for _, body, _ in results}) == 1
    assert sum(1 for _, _, replay in results if replay != "true") == 1
    assert field.van()["DROP-50M"] == 4
