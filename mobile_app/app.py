"""The technician app: session, offline store, outbox and screens wired together.

Threads: the UI thread owns every widget. Reads from the server run on a small worker pool
(:meth:`FieldApp.run_bg`), the outbox drains on its own sender thread, and both hand results
back with ``Clock``/``@mainthread``. Bursts of "something changed" notifications are folded into
one screen refresh by a ``Clock.create_trigger``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import uuid
import webbrowser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.core.window import Window
from kivy.logger import Logger
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.utils import platform

from mobile_app import widgets  # noqa: F401  (registers the shared widget rules)
from mobile_app.api import (
    ApiClient,
    ApiError,
    AuthError,
    RejectedError,
    TransientError,
    normalise_server,
)
from mobile_app.localview import LocalJob, check_used_item, local_job
from mobile_app.location import LocationTracker
from mobile_app.outbox import Action, Backoff, Outbox, OutboxSender
from mobile_app.screens.equipment import EquipmentScreen
from mobile_app.screens.job import JobScreen
from mobile_app.screens.login import LoginScreen
from mobile_app.screens.media import MediaScreen
from mobile_app.screens.today import TodayScreen
from mobile_app.store import Store

MOBILE = platform in ("android", "ios")
#: Pillow makes small thumbnails; the phone build leaves it out and shows the original.
HAVE_PIL = importlib.util.find_spec("PIL") is not None


def _safe_dirname(*parts: str) -> str:
    raw = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9._-]+", "_", raw).strip("_")[:80] or "default"


class FieldApp(App):
    """Technician app. ``server`` pre-fills the login; ``data_dir`` overrides user_data_dir.

    ``transport`` (an ``httpx`` transport) is handed to :class:`ApiClient`, for tests.
    """

    title = "Fieldplan Technician"

    server_url = StringProperty("")
    username = StringProperty("")
    display_name = StringProperty("")
    logged_in = BooleanProperty(False)
    pending_count = NumericProperty(0)
    failed_count = NumericProperty(0)
    online = BooleanProperty(True)
    sync_text = StringProperty("")
    last_error = StringProperty("")
    on_shift = BooleanProperty(False)
    gps_text = StringProperty("")
    current_day = StringProperty("")
    current_job_id = NumericProperty(0)
    #: Bumped whenever the local store or the outbox changed; screens refresh on it.
    data_version = NumericProperty(0)
    #: outbox action id -> upload fraction (0..1) of a photo being sent.
    upload_progress = DictProperty({})
    toast = StringProperty("")
    busy = BooleanProperty(False)
    store = ObjectProperty(None, allownone=True)
    outbox = ObjectProperty(None, allownone=True)

    def __init__(
        self,
        server: str | None = None,
        data_dir: str | None = None,
        transport: Any = None,
        backoff: Backoff | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Names user_data_dir (e.g. ~/.config/fieldplan-technician on Linux).
        self._app_name = "fieldplan-technician"
        self._server_arg = server
        self._data_dir = data_dir
        self._transport = transport
        self._backoff = backoff or Backoff()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="api")
        self.api: ApiClient | None = None
        self.sender: OutboxSender | None = None
        self._store_dir: str | None = None
        self.tracker = LocationTracker(self._queue_positions)
        self._refresh_trigger = Clock.create_trigger(self._bump, 0.05)
        self._location_tick = None
        self.current_day = date.today().isoformat()

    # -- paths and session ----------------------------------------------------------------
    @property
    def data_dir(self) -> str:
        path = self._data_dir or self.user_data_dir
        os.makedirs(path, exist_ok=True)
        return path

    @property
    def session_path(self) -> str:
        return os.path.join(self.data_dir, "session.json")

    def _read_session(self) -> dict[str, Any] | None:
        try:
            with open(self.session_path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("token") else None

    def _write_session(self, session: dict[str, Any]) -> None:
        tmp = self.session_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(session, fh)
        os.replace(tmp, self.session_path)
        if not MOBILE:
            os.chmod(self.session_path, 0o600)

    def _user_dir(self) -> str:
        path = os.path.join(self.data_dir, _safe_dirname(self.server_url, self.username))
        os.makedirs(os.path.join(path, "photos"), exist_ok=True)
        os.makedirs(os.path.join(path, "thumbs"), exist_ok=True)
        return path

    # -- app life cycle -------------------------------------------------------------------
    def build(self) -> ScreenManager:
        Window.clearcolor = (0.96, 0.96, 0.96, 1)
        sm = ScreenManager(transition=NoTransition())
        for screen in (
            LoginScreen(name="login"),
            TodayScreen(name="today"),
            JobScreen(name="job"),
            MediaScreen(name="media"),
            EquipmentScreen(name="equipment"),
        ):
            sm.add_widget(screen)
        session = self._read_session()
        last = self._read_last_login()
        self.server_url = (
            normalise_server(self._server_arg) if self._server_arg else last.get("server", "")
        )
        if session and (not self._server_arg or session.get("server") == self.server_url):
            self._open_session(session)
            sm.current = "today"
            Clock.schedule_once(lambda _dt: self.refresh_day(), 0)
        else:
            self.username = last.get("username", "")
            sm.current = "login"
            sm.get_screen("login").prefill()
        Window.bind(on_keyboard=self._on_key)
        return sm

    def on_pause(self) -> bool:
        """Keep running in the background; everything is already on disk."""
        self.tracker.flush()
        return True

    def on_resume(self) -> None:
        if self.sender:
            self.sender.kick(reset_backoff=True)

    def on_stop(self) -> None:
        self.tracker.stop()
        if self.sender:
            self.sender.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _on_key(self, _window: Any, key: int, *_args: Any) -> bool:
        """Android back button: go back a screen instead of leaving the app."""
        if key != 27 or self.root is None:
            return False
        back = {"job": "today", "media": "job", "equipment": "job"}.get(self.root.current)
        if back:
            self.go(back)
            return True
        return False

    def _read_last_login(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.data_dir, "last_login.json"), encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    # -- background work ------------------------------------------------------------------
    def run_bg(
        self,
        fn: Callable[[], Any],
        on_ok: Callable[[Any], None] | None = None,
        on_err: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run ``fn`` on the worker pool; its result or error comes back on the UI thread."""

        def job() -> None:
            try:
                result = fn()
            except Exception as exc:
                error = exc
                Clock.schedule_once(lambda _dt: self._bg_error(error, on_err), 0)
                return
            if on_ok:
                Clock.schedule_once(lambda _dt: on_ok(result), 0)

        self._pool.submit(job)

    def _bg_error(self, exc: Exception, on_err: Callable[[Exception], None] | None) -> None:
        if isinstance(exc, AuthError) and self.logged_in:
            self._auth_required()
        if isinstance(exc, TransientError):
            self.online = exc.status is not None  # no status: no answer at all
        elif isinstance(exc, ApiError) and exc.status is not None:
            self.online = True
        if on_err:
            on_err(exc)
        else:
            self.show_toast(str(exc))

    def show_toast(self, text: str, seconds: float = 4.0) -> None:
        self.toast = text
        Clock.unschedule(self._clear_toast)
        Clock.schedule_once(self._clear_toast, seconds)

    def _clear_toast(self, _dt: float) -> None:
        self.toast = ""

    def go(self, screen: str) -> None:
        if self.root is not None:
            self.root.current = screen

    # -- login / logout -------------------------------------------------------------------
    def login(
        self,
        server: str,
        username: str,
        password: str,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        """Log in off the UI thread; ``on_done("")`` on success, else with the reason."""
        try:
            base = normalise_server(server)
            if not username.strip():
                raise ValueError("username: enter your user name")
            if not password:
                raise ValueError("password: enter your password")
        except ValueError as exc:
            if on_done:
                on_done(str(exc))
            return
        client = ApiClient(base, transport=self._transport)

        def work() -> dict[str, Any]:
            token = client.login(username, password)
            me = client.me()
            if me.get("role") != "technician" or not me.get("technician_id"):
                raise RejectedError(
                    "This app is for technicians; dispatchers use the board.", code="forbidden"
                )
            return {
                "server": base,
                "username": username.strip(),
                "token": token["access_token"],
                "technician_id": me.get("technician_id"),
                "name": me.get("name") or username.strip(),
            }

        def ok(session: dict[str, Any]) -> None:
            self._write_session(session)
            with open(os.path.join(self.data_dir, "last_login.json"), "w", encoding="utf-8") as fh:
                json.dump({"server": base, "username": session["username"]}, fh)
            self._open_session(session, client)
            self.go("today")
            self.refresh_day()
            if on_done:
                on_done("")

        def err(exc: Exception) -> None:
            client.close()
            if on_done:
                on_done(str(exc))

        self.run_bg(work, ok, err)

    def _open_session(self, session: dict[str, Any], client: ApiClient | None = None) -> None:
        self.server_url = session["server"]
        self.username = session["username"]
        self.display_name = session.get("name") or session["username"]
        if self.api and self.api is not client:
            self.api.close()
        self.api = client or ApiClient(self.server_url, transport=self._transport)
        self.api.token = session["token"]
        user_dir = self._user_dir()
        if self.store is None or self._store_dir != user_dir:
            self._close_stores()
            self.store = Store(os.path.join(user_dir, "cache.db"))
            self.outbox = Outbox(os.path.join(user_dir, "outbox.db"))
            self._store_dir = user_dir
            self.outbox.purge_done()
            self.sender = OutboxSender(
                self.outbox,
                self._send_action,
                backoff=self._backoff,
                on_change=self._outbox_changed,
                on_result=self._apply_result,
                on_rejected=self._rejected,
                on_auth_required=self._auth_required_from_thread,
                on_progress=self._progress_from_thread,
            )
        self.logged_in = True
        self.sender.resume()
        self.sender.start()
        self._outbox_changed()

    def _close_stores(self) -> None:
        if self.sender:
            # Do not hold the UI for a request in flight; its action simply stays pending.
            self.sender.stop(timeout=1.0)
            self.sender = None
        for db in (self.store, self.outbox):
            if db is not None:
                db.close()
        self.store = None
        self.outbox = None

    def logout(self) -> None:
        """Forget the token; queued actions stay on the phone until this user logs in again."""
        self.set_on_shift(False)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.session_path)
        self._close_stores()
        self._store_dir = None
        if self.api:
            self.api.token = None
        self.logged_in = False
        self.go("login")

    def _auth_required(self) -> None:
        self.logged_in = False
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.session_path)
        pending = self.pending_count
        self.go("login")
        login = self.root.get_screen("login") if self.root else None
        if login is not None:
            login.error = "Your session has ended. Log in again" + (
                f"; {pending} actions are kept and will be sent." if pending else "."
            )

    @mainthread
    def _auth_required_from_thread(self) -> None:
        self._auth_required()

    # -- outbox wiring ----------------------------------------------------------------------
    def _send_action(self, action: Action, progress: Callable[[int, int], None]) -> Any:
        if self.api is None:
            raise AuthError("Log in first.", status=401, code="unauthorized")
        return self.api.perform(action.kind, action.job_id, action.payload, action.key, progress)

    def _apply_result(self, action: Action, result: dict[str, Any] | None) -> None:
        """Fold a server answer into the local copy (runs on the sender thread)."""
        store = self.store
        if store is None or not isinstance(result, dict):
            return
        if action.kind == "event" and isinstance(result.get("job"), dict):
            store.put_job(result["job"])
        elif action.kind == "note" and action.job_id:
            store.append_job_list("notes", action.job_id, result)
        elif action.kind == "photo" and action.job_id:
            photo = dict(result, local_path=action.payload["path"])
            store.append_job_list("photos", action.job_id, photo)
        elif action.kind == "used_item" and action.job_id:
            store.append_job_list("used_items", action.job_id, result)
            if "remaining" in result:
                sku = result.get("sku", action.payload["sku"])
                store.set_stock_remaining(sku, result["remaining"])

    @mainthread
    def _rejected(self, action: Action) -> None:
        self.show_toast("The server refused an action; see the job for what to do.")

    @mainthread
    def _outbox_changed(self) -> None:
        if self.outbox is None:
            return
        counts = self.outbox.counts()
        self.pending_count = counts["pending"]
        self.failed_count = counts["failed"]
        sender = self.sender
        if sender is not None:
            self.online = sender.online is not False
            self.last_error = sender.last_error
        self._update_sync_text()
        self._refresh_trigger()

    def _update_sync_text(self) -> None:
        parts = []
        if self.pending_count:
            parts.append(f"{self.pending_count} to send")
        if self.failed_count:
            parts.append(f"{self.failed_count} refused")
        if not parts:
            parts.append("All sent")
        if not self.online:
            parts.append("offline")
        self.sync_text = " | ".join(parts)

    @mainthread
    def _progress_from_thread(self, action: Action, sent: int, total: int) -> None:
        progress = dict(self.upload_progress)
        progress[action.id] = sent / total if total else 1.0
        self.upload_progress = progress

    def _bump(self, _dt: float = 0) -> None:
        self.data_version += 1

    def sync_now(self) -> None:
        if self.sender:
            self.sender.kick(reset_backoff=True)
        self.refresh_day()

    # -- reads ----------------------------------------------------------------------------
    def refresh_day(self, day: str | None = None) -> None:
        """Fetch the day's jobs and the van's stock; the cached copy stays if offline."""
        if self.api is None or self.store is None:
            return
        day = day or self.current_day
        api, store = self.api, self.store
        self.busy = True

        outbox = self.outbox

        def work() -> None:
            jobs = api.my_jobs(day)
            keep = {a.job_id for a in outbox.pending() + outbox.failed() if a.job_id}
            store.replace_day(day, jobs, keep=keep)
            store.put_stock(api.my_stock())

        def ok(_result: Any) -> None:
            self.busy = False
            self.online = True
            self._update_sync_text()
            self._refresh_trigger()

        def err(exc: Exception) -> None:
            self.busy = False
            self._update_sync_text()
            self.show_toast(f"Showing saved data: {exc}")
            self._refresh_trigger()

        self.run_bg(work, ok, err)

    def change_day(self, offset: int) -> None:
        day = date.fromisoformat(self.current_day) + timedelta(days=offset)
        self.current_day = (date.today() if offset == 0 else day).isoformat()
        self._refresh_trigger()
        self.refresh_day()

    def open_job(self, job_id: int) -> None:
        self.current_job_id = int(job_id)
        self.go("job")
        self.refresh_job(int(job_id))

    def refresh_job(self, job_id: int) -> None:
        """Fetch one job with its notes, photos and used items."""
        if self.api is None or self.store is None:
            return
        api, store, outbox = self.api, self.store, self.outbox

        def work() -> None:
            try:
                store.put_job(api.job(job_id))
            except RejectedError as exc:
                if exc.status == 404:
                    if outbox.for_job(job_id):
                        store.mark_gone(job_id)
                    else:
                        store.drop_job(job_id)
                raise
            store.merge_job_list("notes", job_id, api.notes(job_id))
            store.merge_job_list("used_items", job_id, api.used_items(job_id))
            store.merge_job_list("photos", job_id, api.photos(job_id))

        def err(exc: Exception) -> None:
            if isinstance(exc, RejectedError) and exc.status == 404:
                self.show_toast("This job is no longer assigned to you.")
            else:
                self.show_toast(f"Showing saved data: {exc}")
            self._refresh_trigger()

        self.run_bg(work, lambda _r: self._refresh_trigger(), err)

    def local_job(self, job_id: int) -> LocalJob | None:
        if self.store is None or self.outbox is None:
            return None
        job = self.store.job(job_id)
        if job is None:
            return None
        return local_job(
            job,
            self.outbox.for_job(job_id),
            notes=self.store.job_list("notes", job_id),
            photos=self.store.job_list("photos", job_id),
            used_items=self.store.job_list("used_items", job_id),
        )

    def current_job(self) -> LocalJob | None:
        """The open job as the screens show it, or None when none is open or stored."""
        return self.local_job(self.current_job_id) if self.current_job_id else None

    def thumbnail(self, photo: dict[str, Any], on_ready: Callable[[str], None]) -> None:
        """A small local copy of a photo (downloaded if needed), made off the UI thread."""
        if self.api is None:
            return
        api = self.api
        thumbs = os.path.join(self._user_dir(), "thumbs")
        stem = photo.get("id") or uuid.uuid5(uuid.NAMESPACE_URL, str(photo.get("local_path")))
        original = str(photo.get("local_path") or photo.get("filename") or "photo.jpg")
        ext = ".png" if HAVE_PIL else (os.path.splitext(original)[1].lower() or ".jpg")
        target = os.path.join(thumbs, f"{stem}{ext}")
        if os.path.exists(target):
            on_ready(target)
            return

        def work() -> str:
            source = photo.get("local_path")
            if not (source and os.path.exists(source)):
                source = f"{target}.{uuid.uuid4().hex}.download"
                with open(source, "wb") as fh:
                    fh.write(api.photo_bytes(photo))
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            if not HAVE_PIL:  # phone builds without Pillow: Kivy scales the original
                shutil.copyfile(source, tmp)
            else:
                from PIL import Image

                with Image.open(source) as image:
                    image.thumbnail((256, 256))
                    image.convert("RGB").save(tmp, "PNG")
            os.replace(tmp, target)
            if source.endswith(".download"):
                os.remove(source)
            return target

        def failed(exc: Exception) -> None:
            Logger.warning("Photos: no thumbnail for %s: %s", photo.get("id") or "new photo", exc)

        self.run_bg(work, on_ready, failed)

    # -- actions (all go through the outbox) ------------------------------------------------
    def _now(self) -> str:
        return datetime.now(UTC).isoformat()

    def _enqueue(self, kind: str, payload: dict[str, Any], job_id: int | None) -> Action:
        if self.outbox is None:
            raise RuntimeError("not logged in")
        action = self.outbox.enqueue(kind, payload, job_id=job_id)
        self._outbox_changed()
        if self.sender:
            self.sender.kick()
        return action

    def queue_event(self, job_id: int, event: str, reason: str | None = None) -> str:
        """Queue a status change; returns "" or why it is not allowed from the local state."""
        view = self.local_job(job_id)
        if view is None:
            return "This job is not on the phone any more."
        if event not in view.actions:
            return f"{event} is not possible while the job is {view.status}."
        if event == "incomplete" and not (reason or "").strip():
            return "reason: say why the job cannot be finished"
        payload: dict[str, Any] = {
            "type": event,
            "at": self._now(),
            "position": (
                {k: self.tracker.last[k] for k in ("lat", "lon", "accuracy_m")}
                if self.tracker.last
                else None
            ),
            "reason": (reason or "").strip() or None,
        }
        self._enqueue("event", payload, job_id)
        if event == "en_route" and not self.on_shift:
            self.set_on_shift(True)
        return ""

    def queue_note(self, job_id: int, text: str) -> str:
        text = text.strip()
        if not text:
            return "note: write something first"
        if len(text) > 4000:
            return "note: at most 4000 characters"
        self._enqueue("note", {"text": text, "at": self._now()}, job_id)
        return ""

    def queue_photo(
        self,
        job_id: int,
        path: str,
        caption: str = "",
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        """Copy the picture into the app's own folder, then queue its upload."""
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".jpg", ".jpeg", ".png"):
            if on_done:
                on_done("photo: choose a JPEG or PNG file")
            return
        if not os.path.isfile(path):
            if on_done:
                on_done("photo: the file does not exist")
            return
        target = os.path.join(self._user_dir(), "photos", f"{uuid.uuid4().hex}{ext}")

        def work() -> str:
            shutil.copyfile(path, target + ".tmp")
            os.replace(target + ".tmp", target)
            return target

        def ok(copied: str) -> None:
            self._enqueue(
                "photo",
                {"path": copied, "caption": caption, "name": os.path.basename(path)},
                job_id,
            )
            if on_done:
                on_done("")

        self.run_bg(work, ok, lambda exc: on_done and on_done(f"photo: {exc}"))

    def queue_used_item(self, job_id: int, sku: str, quantity: str, serials: str) -> str:
        """Check against the van (minus what is still queued), then queue; "" on success."""
        if self.store is None or self.outbox is None:
            return "Log in first."
        view = self.local_job(job_id)
        try:
            payload = check_used_item(
                self.store.stock(),
                self.outbox.pending(),
                sku,
                quantity,
                serials,
                status=view.status if view else None,
            )
        except ValueError as exc:
            return str(exc)
        self._enqueue("used_item", payload, job_id)
        return ""

    def resend(self, action_id: int) -> None:
        if self.outbox is None:
            return
        try:
            self.outbox.requeue(action_id)
        except (KeyError, ValueError) as exc:
            self.show_toast(str(exc))
        self._outbox_changed()
        if self.sender:
            self.sender.kick(reset_backoff=True)

    def dismiss(self, action_id: int) -> None:
        if self.outbox is not None:
            self.outbox.dismiss(action_id)
            self._outbox_changed()

    # -- navigation link and position -------------------------------------------------------
    @staticmethod
    def geo_uri(job: dict[str, Any]) -> str:
        loc = job.get("location") or {}
        address = str(job.get("address") or "")
        if loc.get("lat") is None or loc.get("lon") is None:
            return "geo:0,0?q=" + quote(address)
        lat, lon = loc["lat"], loc["lon"]
        label = address.replace("(", " ").replace(")", " ")
        return f"geo:{lat},{lon}?q={lat},{lon}({label})"

    def open_uri(self, uri: str) -> None:
        """Hand a geo:/tel: link to the phone; a desktop gets a map page instead."""
        if not MOBILE and uri.startswith("geo:"):
            coords = uri[4:].split("?")[0]
            lat, _, lon = coords.partition(",")
            uri = f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"
        webbrowser.open(uri)

    def set_on_shift(self, value: bool) -> None:
        if value == self.on_shift and (value == self.tracker.running or not value):
            return
        self.on_shift = value
        if value:
            if MOBILE:
                self._request_location_permission()
            started = self.tracker.start()
            self.gps_text = "GPS on" if started else self.tracker.unavailable_reason
            self._location_tick = Clock.schedule_interval(lambda _dt: self.tracker.flush(), 120)
        else:
            self.tracker.stop()
            if self._location_tick is not None:
                self._location_tick.cancel()
                self._location_tick = None
            self.gps_text = ""

    @staticmethod
    def _request_location_permission() -> None:
        if platform != "android":
            return
        try:
            from android.permissions import Permission, request_permissions

            request_permissions(
                [
                    Permission.ACCESS_FINE_LOCATION,
                    Permission.ACCESS_COARSE_LOCATION,
                    Permission.CAMERA,
                ]
            )
        except ImportError:
            pass

    def _queue_positions(self, positions: list[dict[str, Any]]) -> None:
        """Called from the GPS thread with a batch: the outbox is thread-safe."""
        if self.outbox is None:
            return
        self.outbox.enqueue("location", {"positions": positions})
        if self.sender:
            self.sender.kick()
        self._outbox_changed()
