"""The app's client and outbox against the real dispatch API on loopback.

Each check looks at the server's own state (through a dispatcher or a fresh technician
client), not at what the app believes.
"""

from __future__ import annotations

import httpx
import pytest
from mobile_live_server import create_job

from mobile_app.api import ApiClient
from mobile_app.localview import local_job
from mobile_app.outbox import DONE, FAILED, PENDING, Backoff, Outbox, OutboxSender

pytestmark = pytest.mark.live_server


class DropResponses(httpx.BaseTransport):
    """Forwards requests to the server but loses the answer of the first N matching ones,
    as a dying mobile connection does after the server has committed."""

    def __init__(self, path_suffix: str, times: int = 1) -> None:
        self.inner = httpx.HTTPTransport()
        self.path_suffix = path_suffix
        self.times = times
        self.dropped: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.times and request.url.path.endswith(self.path_suffix):
            self.times -= 1
            response.read()
            response.close()
            self.dropped.append(request.headers.get("Idempotency-Key"))
            raise httpx.ReadError("connection lost before the answer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def technician_api(server, transport: httpx.BaseTransport | None = None) -> ApiClient:
    """The app's client, holding tech01's token (the login call itself is tested in the UI)."""
    return ApiClient(server.url, token=server.token("tech01"), transport=transport)


def sender_for(outbox: Outbox, api: ApiClient) -> OutboxSender:
    return OutboxSender(
        outbox,
        lambda a, progress: api.perform(a.kind, a.job_id, a.payload, a.key, progress),
        backoff=Backoff(base_s=0.2, cap_s=1.0, jitter=0.0),
    )


def server_job(server, job_id: int) -> dict:
    with server.client("dispatcher") as http:
        return http.get(f"/api/v1/jobs/{job_id}").json()


def server_list(server, job_id: int, what: str) -> list[dict]:
    with server.client("dispatcher") as http:
        response = http.get(f"/api/v1/jobs/{job_id}/{what}")
        response.raise_for_status()
        return response.json()


def van(api: ApiClient) -> dict[str, int]:
    return {line["sku"]: line["quantity"] for line in api.my_stock()}


def event(kind: str, reason: str | None = None) -> dict:
    return {"type": kind, "at": "2026-11-26T09:00:00+00:00", "position": None, "reason": reason}


def test_actions_taken_while_the_server_is_down_are_applied_once_when_it_is_back(
    live_server, tmp_path
):
    job = create_job(live_server, title="Offline day")
    api = technician_api(live_server)
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sender = sender_for(outbox, api)

    live_server.stop()
    try:
        outbox.enqueue("event", event("en_route"), job_id=job["id"])
        outbox.enqueue("event", event("on_site"), job_id=job["id"])
        outbox.enqueue("note", {"text": "Basement, no signal"}, job_id=job["id"])
        assert sender.run_once() is not None  # connection refused: held, retried later
        assert sender.online is False and outbox.counts()[PENDING] == 3
        assert outbox.head().attempts == 1
    finally:
        live_server.start()

    outbox.reset_backoff()
    assert sender.run_once() is None
    assert outbox.counts()[DONE] == 3
    # Sending again (a second pass, a restart) changes nothing.
    sender.run_once()
    assert server_job(live_server, job["id"])["status"] == "on_site"
    notes = server_list(live_server, job["id"], "notes")
    assert [n["text"] for n in notes] == ["Basement, no signal"]
    outbox.close()


def test_a_lost_answer_is_retried_with_the_same_key_without_a_double_effect(live_server, tmp_path):
    job = create_job(live_server, title="Lost answers", start_hour=11)
    setup = technician_api(live_server)
    setup.post_event(job["id"], event("en_route"), "setup-en-route-" + str(job["id"]))
    setup.post_event(job["id"], event("on_site"), "setup-on-site-" + str(job["id"]))
    before = van(setup)["DROP-50M"]

    notes_drop = DropResponses("/notes")
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sender = sender_for(outbox, technician_api(live_server, notes_drop))
    note = outbox.enqueue("note", {"text": "Spliced at the cabinet"}, job_id=job["id"])
    sender.run_once()
    assert notes_drop.dropped == [note.key]
    assert outbox.get(note.id).state == PENDING  # the app does not know it was applied

    # The phone dies here; a new process resends the stored key through a connection that
    # now also loses the used-item answer once.
    outbox.close()
    items_drop = DropResponses("/used-items")
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sender = sender_for(outbox, technician_api(live_server, items_drop))
    item = outbox.enqueue(
        "used_item", {"sku": "DROP-50M", "quantity": 2, "serial_numbers": []}, job_id=job["id"]
    )
    outbox.reset_backoff()
    sender.run_once()
    assert items_drop.dropped == [item.key]
    outbox.reset_backoff()
    assert sender.run_once() is None

    assert outbox.counts()[DONE] == 2
    assert [n["text"] for n in server_list(live_server, job["id"], "notes")] == [
        "Spliced at the cabinet"
    ]
    used = server_list(live_server, job["id"], "used-items")
    assert [(u["sku"], u["quantity"]) for u in used] == [("DROP-50M", 2)]
    assert van(setup)["DROP-50M"] == before - 2
    assert outbox.get(item.id).result["remaining"] == before - 2
    outbox.close()


def test_refusals_are_surfaced_on_the_job_with_the_servers_reason(live_server, tmp_path):
    job = create_job(live_server, title="Conflicts", start_hour=13)
    api = technician_api(live_server)
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sender = sender_for(outbox, api)
    rejected = []
    sender.on_rejected = rejected.append

    outbox.enqueue("event", event("completed"), job_id=job["id"])  # skips en route / on site
    outbox.enqueue("event", event("en_route"), job_id=job["id"])
    outbox.enqueue("event", event("on_site"), job_id=job["id"])
    stock = van(api)["SPL-1x8"]
    outbox.enqueue(
        "used_item",
        {"sku": "SPL-1x8", "quantity": stock + 5, "serial_numbers": []},
        job_id=job["id"],
    )
    assert sender.run_once() is None

    failed = outbox.failed()
    assert [a.id for a in rejected] == [a.id for a in failed]
    assert [(a.error_status, a.error_code) for a in failed] == [
        (409, "invalid_transition"),
        (409, "insufficient_stock"),
    ]
    assert failed[0].error_body["current_status"] == "dispatched"
    assert "en_route" in failed[0].error_body["allowed"]
    assert failed[1].error_body["available"] == stock
    # The queue went on past the refusals.
    assert server_job(live_server, job["id"])["status"] == "on_site"
    assert van(api)["SPL-1x8"] == stock

    view = local_job(api.job(job["id"]), outbox.for_job(job["id"], (PENDING, FAILED)))
    titles = [r.title for r in view.rejections]
    assert titles == ["Status change to Completed: refused", f"Used {stock + 5} x SPL-1x8: refused"]
    assert view.rejections[0].detail == failed[0].error_detail and failed[0].error_detail
    assert f"only {stock} of SPL-1x8" in view.rejections[1].advice
    outbox.close()


def test_positions_are_batched_into_the_outbox_and_accepted(live_server, tmp_path):
    from mobile_app.location import LocationTracker

    outbox = Outbox(str(tmp_path / "outbox.db"))
    tracker = LocationTracker(
        lambda batch: outbox.enqueue("location", {"positions": batch}), batch_size=3
    )
    assert tracker.start() is False and "GPS unavailable" in tracker.unavailable_reason
    for n in range(4):
        tracker.add(48.85 + n / 1000, 2.35, accuracy_m=8.0)
    assert len(outbox.pending()) == 1 and tracker.buffered == 1
    tracker.stop()  # going off shift sends what is left
    assert [len(a.payload["positions"]) for a in outbox.pending()] == [3, 1]
    sender = sender_for(outbox, technician_api(live_server))
    assert sender.run_once() is None
    done = outbox.by_state(DONE)
    assert [a.result["accepted"] for a in done] == [3, 1]
    outbox.close()
