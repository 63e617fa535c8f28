"""The outbox against a fake server: order, backoff, replay after a lost answer, rejections."""

from __future__ import annotations

import sqlite3
import time

import pytest
from mobile_fake_api import FakeDispatch

from mobile_app.api import ApiClient, AuthError, RejectedError, TransientError
from mobile_app.outbox import DONE, FAILED, PENDING, Backoff, Outbox, OutboxSender

NO_JITTER = Backoff(base_s=1.0, cap_s=8.0, jitter=0.0)


@pytest.fixture()
def fake() -> FakeDispatch:
    return FakeDispatch()


@pytest.fixture()
def outbox(tmp_path) -> Outbox:
    box = Outbox(str(tmp_path / "outbox.db"))
    yield box
    box.close()


def make_sender(outbox: Outbox, fake: FakeDispatch) -> OutboxSender:
    api = ApiClient("http://fake", token=fake.token, transport=fake.transport())
    return OutboxSender(
        outbox,
        lambda a, progress: api.perform(a.kind, a.job_id, a.payload, a.key, progress),
        backoff=NO_JITTER,
    )


def test_key_is_stored_before_anything_is_sent(outbox, fake, tmp_path):
    action = outbox.enqueue("note", {"text": "cable cut"}, job_id=1)
    assert fake.requests == []
    raw = sqlite3.connect(tmp_path / "outbox.db")
    key, state = raw.execute("SELECT key, state FROM actions WHERE id=?", (action.id,)).fetchone()
    assert key == action.key and len(key) == 36 and state == PENDING


def test_offline_queue_is_sent_in_order_once_the_server_answers(outbox, fake):
    fake.down = True
    sender = make_sender(outbox, fake)
    outbox.enqueue("event", {"type": "en_route", "at": "t"}, job_id=1)
    outbox.enqueue("event", {"type": "on_site", "at": "t"}, job_id=1)
    outbox.enqueue("note", {"text": "fixed"}, job_id=1)

    delay = sender.run_once()
    assert delay is not None and 0.9 < delay <= 1.0
    assert [r[1] for r in fake.requests] == ["/api/v1/jobs/1/events"]  # the head holds the queue
    assert outbox.head().attempts == 1
    # Not due yet: nothing is sent.
    assert sender.run_once() > 0 and len(fake.requests) == 1
    # Second failure doubles the wait.
    assert sender.run_once(now=time.time() + 5) is not None
    assert 1.5 < outbox.head().next_attempt_at - time.time() <= 2.0

    fake.down = False
    outbox.reset_backoff()
    assert sender.run_once() is None
    assert outbox.counts()[DONE] == 3 and outbox.pending() == []
    assert fake.jobs[1]["status"] == "on_site"
    assert [n["text"] for n in fake.notes] == ["fixed"]
    sent = [r for r in fake.requests[2:]]
    assert [r[1].rsplit("/", 1)[1] for r in sent] == ["events", "events", "notes"]


def test_backoff_is_capped_and_jittered():
    backoff = Backoff(base_s=2, cap_s=60, jitter=0.2)
    assert [Backoff(2, 60, 0).delay(n) for n in (1, 2, 3, 10)] == [2, 4, 8, 60]
    delays = {round(backoff.delay(3), 3) for _ in range(20)}
    assert len(delays) > 1 and all(6.4 <= d <= 9.6 for d in delays)


def test_lost_answer_is_retried_with_the_same_key_and_applied_once(outbox, fake):
    sender = make_sender(outbox, fake)
    outbox.enqueue("note", {"text": "ONT replaced"}, job_id=1)
    outbox.enqueue("used_item", {"sku": "ONT-G2", "quantity": 1, "serial_numbers": []}, job_id=1)
    fake.drop_responses = 1  # the note is applied, its answer never arrives

    sender.run_once()
    assert len(fake.notes) == 1 and outbox.counts()[PENDING] == 2
    outbox.reset_backoff()
    sender.run_once()

    keys = [r[2] for r in fake.requests if r[1].endswith("/notes")]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(fake.notes) == 1 and fake.stock["ONT-G2"] == 1
    assert outbox.counts()[DONE] == 2


def test_rejection_is_kept_with_the_servers_reason_and_the_queue_moves_on(outbox, fake):
    results = []
    sender = make_sender(outbox, fake)
    sender.on_rejected = results.append
    outbox.enqueue("event", {"type": "completed", "at": "t"}, job_id=1)  # not from dispatched
    outbox.enqueue("used_item", {"sku": "ONT-G2", "quantity": 5, "serial_numbers": []}, job_id=2)
    outbox.enqueue("note", {"text": "still sent"}, job_id=2)

    assert sender.run_once() is None
    failed = outbox.failed()
    assert [a.error_code for a in failed] == ["invalid_transition", "insufficient_stock"]
    assert failed[0].error_status == 409
    assert failed[0].error_body["allowed"] == ["en_route", "cancelled"]
    assert "cannot go from 'dispatched'" in failed[0].error_detail
    assert failed[1].error_body["available"] == 2
    assert [a.id for a in results] == [a.id for a in failed]
    assert [n["text"] for n in fake.notes] == ["still sent"]
    assert outbox.for_job(1)[0].state == FAILED

    # Resending a corrected action uses a new key; dismissing hides it.
    again = outbox.requeue(failed[1].id, {"sku": "ONT-G2", "quantity": 2, "serial_numbers": []})
    assert again.key != failed[1].key
    outbox.dismiss(failed[0].id)
    sender.run_once()
    assert fake.stock["ONT-G2"] == 0 and outbox.failed() == []


def test_server_errors_and_lost_login_keep_actions_pending(outbox, fake):
    sender = make_sender(outbox, fake)
    outbox.enqueue("note", {"text": "a"}, job_id=1)
    fake.fail_5xx = 1
    assert sender.run_once() is not None and outbox.head().attempts == 1
    fake.token = "rotated"
    outbox.reset_backoff()
    assert sender.run_once() is None
    assert sender.paused and outbox.counts()[PENDING] == 1 and outbox.failed() == []
    fake.token = "tok"
    sender.resume()
    sender.run_once()
    assert outbox.counts()[DONE] == 1


def test_restart_after_a_crash_resends_pending_actions_with_their_keys(tmp_path, fake):
    path = str(tmp_path / "outbox.db")
    first = Outbox(path)
    action = first.enqueue("note", {"text": "before the crash"}, job_id=1)
    fake.drop_responses = 1
    make_sender(first, fake).run_once()  # applied on the server, answer lost, then "killed"
    first.close()

    second = Outbox(path)
    assert second.head().key == action.key
    second.reset_backoff()
    make_sender(second, fake).run_once()
    assert len(fake.notes) == 1 and second.counts()[DONE] == 1
    second.close()


def test_background_thread_sends_without_blocking(outbox, fake):
    sender = make_sender(outbox, fake)
    changed = []
    sender.on_change = lambda: changed.append(1)
    sender.start()
    try:
        outbox.enqueue("note", {"text": "threaded"}, job_id=1)
        sender.kick()
        deadline = time.time() + 5
        while outbox.counts()[DONE] < 1 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        sender.stop()
    assert outbox.counts()[DONE] == 1 and changed


def test_error_classes_follow_the_status():
    fake = FakeDispatch()
    api = ApiClient("127.0.0.1:1", token="tok", transport=fake.transport())
    assert api.base_url == "http://127.0.0.1:1"
    fake.down = True
    with pytest.raises(TransientError) as info:
        api.post_note(1, "x", "k")
    assert info.value.status is None
    fake.down = False
    with pytest.raises(RejectedError) as info:
        api.post_note(99, "x", "k2")
    assert info.value.status == 404 and info.value.detail == "Job not found."
    api.token = "bad"
    with pytest.raises(AuthError):
        api.post_note(1, "x", "k3")
    with pytest.raises(ValueError, match="server"):
        ApiClient("  ")
    with pytest.raises(ValueError, match="kind"):
        Outbox(":memory:").enqueue("teleport", {})
