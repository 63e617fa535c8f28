"""The offline copy: days replaced by the server's list, never rolled back, never losing work."""

from __future__ import annotations

from mobile_app.store import Store


def job(job_id: int, version: int, status: str = "dispatched", start: str = "09:00") -> dict:
    return {
        "id": job_id,
        "date": "2026-11-27",
        "status": status,
        "version": version,
        "assignment": {"planned_start": f"2026-11-27T{start}:00+00:00", "sequence": job_id},
    }


def test_day_in_route_order_and_an_older_copy_does_not_win(tmp_path):
    store = Store(str(tmp_path / "cache.db"))
    store.replace_day("2026-11-27", [job(2, 1, start="11:00"), job(1, 1, start="08:00")])
    assert [j["id"] for j in store.jobs_for("2026-11-27")] == [1, 2]
    store.put_job(job(1, 3, "en_route", start="08:00"))  # an event's answer
    store.replace_day("2026-11-27", [job(1, 2, start="08:00"), job(2, 1, start="11:00")])
    assert store.job(1)["status"] == "en_route"
    store.put_job(job(1, 2, "dispatched"))
    assert store.job(1)["version"] == 3


def test_a_job_taken_away_with_work_on_it_stays_marked_gone(tmp_path):
    store = Store(str(tmp_path / "cache.db"))
    store.replace_day("2026-11-27", [job(1, 1), job(2, 1), job(3, 1)])
    store.replace_day("2026-11-27", [job(1, 1)], keep={2})
    assert [j["id"] for j in store.jobs_for("2026-11-27")] == [1, 2]
    assert store.job(2)["_gone"] is True and store.job(3) is None


def test_lists_merge_what_the_outbox_added_after_the_read(tmp_path):
    store = Store(str(tmp_path / "cache.db"))
    store.append_job_list("photos", 1, {"id": 7, "local_path": "/p/7.jpg", "created_at": "b"})
    store.merge_job_list("photos", 1, [{"id": 6, "created_at": "a"}])
    store.merge_job_list("photos", 1, [{"id": 6, "created_at": "a"}, {"id": 7, "created_at": "b"}])
    photos = store.job_list("photos", 1)
    assert [p["id"] for p in photos] == [6, 7] and photos[1]["local_path"] == "/p/7.jpg"
