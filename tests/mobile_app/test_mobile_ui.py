"""The technician's day in a real Kivy window (headless), against the real dispatch API.

One app and one window serve the whole module (Kivy allows one window per process); the tests
run in order like a working day. Each saves a 360x640 screenshot to artifacts/screenshots/mobile/.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest
from kivy.uix.button import Button
from mobile_live_server import create_job, unassign
from mobile_ui_driver import UiDriver, open_popup

pytestmark = [pytest.mark.ui, pytest.mark.live_server]

TECH = "tech02"


@pytest.fixture(scope="module")
def day(live_server, tmp_path_factory):
    """Three jobs on tech02's route today, and the app started with an empty phone."""
    from PIL import Image, ImageDraw

    from mobile_app.app import FieldApp
    from mobile_app.outbox import Backoff

    jobs = [
        create_job(live_server, technician=TECH, title=title, start_hour=hour, items=items)
        for title, hour, items in (
            ("Fibre install, new order", 8, [{"sku": "ONT-G2", "quantity": 1}]),
            ("DSL repair", 10, []),
            ("Maintenance check", 12, []),
        )
    ]
    folder = tmp_path_factory.mktemp("phone")
    photo = folder / "pictures" / "cabinet.png"
    photo.parent.mkdir()
    image = Image.new("RGB", (640, 480), (30, 90, 160))
    ImageDraw.Draw(image).rectangle((120, 100, 520, 380), fill=(240, 200, 40))
    image.save(photo)

    app = FieldApp(
        server=live_server.url,
        data_dir=str(folder / "user_data"),
        backoff=Backoff(base_s=0.2, cap_s=1.0, jitter=0.0),
    )
    opened: list[str] = []
    app.open_uri = opened.append
    driver = UiDriver(app)
    driver.start()
    yield {"ui": driver, "app": app, "jobs": jobs, "photo": photo, "opened": opened}
    driver.stop()


def synced(app) -> bool:
    return app.outbox is not None and app.outbox.counts()["pending"] == 0 and app.pending_count == 0


def server_job(live_server, job_id: int) -> dict:
    with live_server.client("dispatcher") as http:
        return http.get(f"/api/v1/jobs/{job_id}").json()


def buttons(root, text: str) -> list[Button]:
    return UiDriver.find(root, Button, text)


def test_login_then_todays_route_in_order(day, live_server):
    ui, app = day["ui"], day["app"]
    login = ui.screen
    assert app.root.current == "login" and login.ids.server.text == live_server.url
    ui.type_into(login.ids.user, TECH)
    ui.type_into(login.ids.password, "wrong-password")
    ui.tap(login.ids.submit)
    ui.pump(until=lambda: login.error and not login.busy, what="login refusal")
    assert app.root.current == "login"
    ui.type_into(login.ids.password, TECH)
    ui.screenshot("01_login")
    ui.tap(login.ids.submit)
    ui.pump(
        until=lambda: app.root.current == "today" and len(ui.screen.ids.rv.data) >= 3,
        timeout=15,
        what="today's jobs",
    )
    today = ui.screen
    ids = [row["job_id"] for row in today.ids.rv.data]
    mine = [j["id"] for j in day["jobs"]]
    assert [i for i in ids if i in mine] == mine  # route order: 08:00, 10:00, 12:00
    first = today.ids.rv.data[ids.index(mine[0])]
    assert first["status_text"] == "Dispatched" and first["customer"] == "Marie Dubois"
    # Planned times are shown in the phone's time zone.
    start = dt.datetime.fromisoformat(day["jobs"][0]["assignment"]["planned_start"])
    assert f"{start.astimezone():%H:%M}-" in first["line1"] and "P80" in first["line1"]
    assert first["sla_text"].startswith("SLA")
    assert "session.json" in os.listdir(app.data_dir)
    ui.screenshot("02_today")
    # Other days: tomorrow has none of these jobs; the date button comes back to today.
    buttons_row = UiDriver.find(today, Button, ">")
    ui.tap(buttons_row[0])
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    ui.pump(until=lambda: tomorrow in today.day_label and not app.busy, what="tomorrow")
    assert not {row["job_id"] for row in today.ids.rv.data} & set(mine)
    ui.tap(UiDriver.find(today, Button, today.day_label)[0])
    ui.pump(until=lambda: len(today.ids.rv.data) >= 3, what="back to today")


def open_card(ui, job_id: int) -> None:
    rv = ui.screen.ids.rv
    ui.pump(until=lambda: any(c.job_id == job_id for c in rv.children[0].children), what="card")
    card = next(c for c in rv.children[0].children if c.job_id == job_id)
    ui.tap(card)
    ui.pump(until=lambda: ui.app.root.current == "job", what="job screen")


def test_job_detail_moves_through_its_statuses(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][0]
    open_card(ui, job["id"])
    screen = ui.screen
    ui.pump(until=lambda: screen.reference == job["reference"], what="job detail")
    assert [b.text for b in screen.ids.actions.children[::-1]] == ["Start driving", "Cancel visit"]
    assert screen.customer_text == "Marie Dubois" and "ONT-G2" in screen.needs_text
    ui.tap(screen.ids.navigate)
    assert day["opened"] == ["geo:48.869,2.331?q=48.869,2.331(12 Rue de la Paix, Paris)"]
    ui.screenshot("03_job_detail")

    ui.tap(buttons(screen.ids.actions, "Start driving")[0])
    assert screen.status_text == "En route"  # shown at once, before the server answered
    ui.pump(until=lambda: synced(app), what="en_route sent")
    ui.tap(buttons(screen.ids.actions, "Arrived on site")[0])
    ui.pump(
        until=lambda: synced(app) and server_job(live_server, job["id"])["status"] == "on_site",
        what="on_site applied",
    )
    assert [b.text for b in screen.ids.actions.children[::-1]] == [
        "Complete job",
        "Cannot finish",
        "Cancel visit",
    ]
    ui.screenshot("04_job_on_site")


def test_add_a_note(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][0]
    ui.tap(ui.screen.ids.open_media)
    media = ui.screen
    assert app.root.current == "media"
    ui.tap(media.ids.add_note)
    assert media.error == "note: write something first"
    ui.type_into(media.ids.note_input, "ONT mounted next to the TV, customer shown the Wi-Fi")
    ui.tap(media.ids.add_note)
    assert media.error == "" and media.ids.note_input.text == ""
    ui.pump(until=lambda: synced(app), what="note sent")
    with live_server.client("dispatcher") as http:
        notes = http.get(f"/api/v1/jobs/{job['id']}/notes").json()
    assert [n["text"] for n in notes] == ["ONT mounted next to the TV, customer shown the Wi-Fi"]
    ui.screenshot("05_notes")


def test_attach_a_photo_from_a_file(day, live_server):
    ui, app = day["ui"], day["app"]
    job, photo = day["jobs"][0], day["photo"]
    media = ui.screen
    ui.type_into(media.ids.caption, "Cabinet after the splice")
    ui.tap(media.ids.add_photo)
    chooser = ui.popup()
    assert chooser is not None
    files = chooser.ids.files
    files.path = str(photo.parent)
    ui.pump(until=lambda: any(str(f).endswith("cabinet.png") for f in files.files), what="files")
    files.selection = [str(photo)]
    ui.pump(0.1)
    ui.screenshot("06_file_chooser")
    ui.tap(chooser.ids.attach)
    ui.pump(until=lambda: synced(app) and media.ids.photos.children, timeout=15, what="upload")
    with live_server.client("dispatcher") as http:
        photos = http.get(f"/api/v1/jobs/{job['id']}/photos").json()
    assert len(photos) == 1 and photos[0]["caption"] == "Cabinet after the splice"
    assert (photos[0]["width"], photos[0]["height"]) == (640, 480)
    assert max(app.upload_progress.values()) == 1.0

    def thumbnail_shown() -> bool:
        tiles = media.ids.photos.children
        return len(tiles) == 1 and bool(tiles[0].source) and tiles[0].state_text == "sent"

    ui.pump(until=thumbnail_shown, what="thumbnail of the sent photo")
    ui.screenshot("07_photos")


def test_record_used_equipment_checked_against_the_van(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][0]
    app.go("job")
    ui.pump(0.05)
    ui.tap(ui.screen.ids.open_equipment)
    screen = ui.screen
    assert app.root.current == "equipment"
    rows = {row.sku: row for row in screen.ids.stock.children}
    before = rows["ONT-G2"].available
    assert before >= 1 and rows["ONT-G2"].serialized
    ui.tap(rows["ONT-G2"])
    ui.type_into(screen.ids.quantity, str(before + 1))
    ui.tap(screen.ids.record)
    assert screen.error.startswith(f"quantity: the van holds only {before} of ONT-G2")
    ui.type_into(screen.ids.quantity, "1")
    ui.tap(screen.ids.record)
    assert screen.error.startswith("serial numbers: ONT-G2 is tracked by serial")
    ui.screenshot("08_equipment_check")
    ui.type_into(screen.ids.serials, "ONT-SN-000123")
    ui.tap(screen.ids.record)
    assert screen.error == ""
    ui.pump(until=lambda: synced(app), what="used item sent")
    with live_server.client("dispatcher") as http:
        used = http.get(f"/api/v1/jobs/{job['id']}/used-items").json()
    assert [(u["sku"], u["quantity"], u["serial_numbers"]) for u in used] == [
        ("ONT-G2", 1, ["ONT-SN-000123"])
    ]
    with live_server.client(TECH) as http:
        van = {s["sku"]: s["quantity"] for s in http.get("/api/v1/me/stock").json()}
    assert van["ONT-G2"] == before - 1
    ui.pump(until=lambda: "ONT-SN-000123" in screen.used_text, what="used list")
    ui.screenshot("09_equipment")


def test_completing_asks_for_confirmation(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][0]
    app.go("job")
    screen = ui.screen
    ui.pump(0.05)
    ui.tap(buttons(screen.ids.actions, "Complete job")[0])
    popup = ui.popup()
    assert popup is not None and "cannot be undone" in popup.message
    ui.screenshot("10_confirm_complete")
    ui.tap(popup.ids.confirm)
    ui.pump(until=lambda: screen.status_text == "Completed", timeout=1, what="shown at once")
    assert not screen.ids.actions.children
    ui.pump(until=lambda: synced(app), what="completion sent")
    assert server_job(live_server, job["id"])["status"] == "completed"
    screen.ids.scroll.scroll_y = 1
    ui.screenshot("11_completed")


def test_incomplete_needs_a_reason(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][1]
    app.go("today")
    open_card(ui, job["id"])
    screen = ui.screen
    ui.pump(until=lambda: screen.reference == job["reference"], what="job detail")
    ui.tap(buttons(screen.ids.actions, "Start driving")[0])
    ui.tap(buttons(screen.ids.actions, "Arrived on site")[0])
    ui.tap(buttons(screen.ids.actions, "Cannot finish")[0])
    popup = ui.popup()
    ui.tap(popup.ids.confirm)
    assert popup.error.startswith("reason:") and open_popup() is popup
    ui.type_into(popup.ids.reason, "Customer absent, card left in the mailbox")
    ui.screenshot("12_incomplete_reason")
    ui.tap(popup.ids.confirm)
    ui.pump(until=lambda: screen.status_text == "Incomplete", timeout=1, what="shown at once")
    assert open_popup() is None
    ui.pump(until=lambda: synced(app), what="incomplete sent")
    remote = server_job(live_server, job["id"])
    assert remote["status"] == "incomplete"
    assert remote["incomplete_reason"] == "Customer absent, card left in the mailbox"


def test_a_reassigned_job_shows_the_refusal_and_what_to_do(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][2]
    app.go("today")
    open_card(ui, job["id"])
    screen = ui.screen
    ui.pump(
        until=lambda: (
            screen.reference == job["reference"] and app.store.get(f"notes:{job['id']}") is not None
        ),
        what="job detail loaded",
    )
    unassign(live_server, job["id"])  # the dispatcher moves it while the technician looks
    ui.tap(buttons(screen.ids.actions, "Start driving")[0])
    ui.pump(
        until=lambda: app.failed_count == 1 and screen.ids.rejections.children, what="refusal shown"
    )
    card = screen.ids.rejections.children[0]
    assert card.title == "Status change to En route: refused"
    assert card.detail  # the server's own sentence
    assert "no longer assigned to you" in card.advice
    assert "1 refused" in app.sync_text
    # Refreshing the day keeps the job (and its refusal) on the phone, marked as gone.
    app.sync_now()
    ui.pump(
        until=lambda: not app.busy and screen.status_text == "Not yours any more",
        what="job marked as no longer assigned",
    )
    assert screen.ids.rejections.children and not screen.ids.actions.children
    ui.screenshot("13_refused_on_job")
    ui.tap(buttons(card, "Dismiss")[0])
    ui.pump(
        until=lambda: not screen.ids.rejections.children and app.failed_count == 0, what="dismissed"
    )


def test_work_done_offline_is_shown_counted_and_sent_when_back(day, live_server):
    ui, app = day["ui"], day["app"]
    job = day["jobs"][0]
    app.open_job(job["id"])
    ui.pump(until=lambda: ui.screen.reference == job["reference"], what="job detail")
    live_server.stop()
    try:
        ui.tap(ui.screen.ids.open_media)
        media = ui.screen
        ui.type_into(media.ids.note_input, "Written in the basement, no signal")
        ui.tap(media.ids.add_note)
        ui.pump(until=lambda: not app.online, what="offline noticed")
        assert app.pending_count == 1 and app.sync_text == "1 to send | offline"
        assert any(r.meta == "waiting to be sent" for r in media.ids.notes.children)
        app.go("job")
        ui.pump(until=lambda: "Written in the basement" in ui.screen.notes_text, what="note")
        assert "[to send]" in ui.screen.notes_text
        ui.screen.ids.scroll.scroll_y = 0.45
        ui.screenshot("14_offline_pending")
    finally:
        live_server.start()
    ui.tap(ui.screen.ids.sync)  # "sync now" retries at once instead of after the backoff
    ui.pump(until=lambda: synced(app) and app.sync_text == "All sent", what="synced")
    with live_server.client("dispatcher") as http:
        notes = http.get(f"/api/v1/jobs/{job['id']}/notes").json()
    assert [n["text"] for n in notes][-1] == "Written in the basement, no signal"
    assert len(notes) == 2


def test_logout_keeps_nothing_but_the_queue(day):
    ui, app = day["ui"], day["app"]
    app.go("today")
    ui.pump(0.05)
    ui.tap(ui.screen.ids.logout)
    assert app.root.current == "login" and not app.logged_in
    assert "session.json" not in os.listdir(app.data_dir)
    ui.screenshot("15_logged_out")
