"""Job detail: customer, address with navigation, needs, notes, photos and status actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ColorProperty, NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen

from mobile_app.localview import (
    ACTION_LABELS,
    IRREVERSIBLE,
    STATUS_COLOURS,
    STATUS_LABELS,
    LocalJob,
    hhmm,
    sla_left,
    used_lines,
)
from mobile_app.widgets import DANGER, OK, PRIMARY, WARNING, BigButton, load_kv

ACTION_FILLS = {
    "en_route": PRIMARY,
    "on_site": PRIMARY,
    "completed": OK,
    "incomplete": WARNING,
    "cancelled": DANGER,
}


class RejectionCard(BoxLayout):
    """A refused action with the server's reason and what the technician can do."""

    action_id = NumericProperty(0)
    title = StringProperty("")
    detail = StringProperty("")
    advice = StringProperty("")
    can_retry = BooleanProperty(False)


class ConfirmPopup(Popup):
    """Asks before a step that cannot be undone."""

    message = StringProperty("")
    confirm_text = StringProperty("Yes")
    confirm_fill = ColorProperty(PRIMARY)
    on_confirm: Callable[[], None] | None = None

    def confirm(self) -> None:
        self.dismiss()
        if self.on_confirm:
            self.on_confirm()


class ReasonPopup(Popup):
    """Asks why a job cannot be finished (the server requires a reason)."""

    error = StringProperty("")
    on_reason: Callable[[str], str] | None = None

    def submit(self, text: str) -> None:
        error = self.on_reason(text) if self.on_reason else ""
        if error:
            self.error = error
        else:
            self.dismiss()


class JobScreen(Screen):
    reference = StringProperty("")
    title_text = StringProperty("")
    status_text = StringProperty("")
    status_fill = ColorProperty((0.3, 0.3, 0.3, 1))
    status_note = StringProperty("")
    times_text = StringProperty("")
    customer_text = StringProperty("")
    phone = StringProperty("")
    address_text = StringProperty("")
    geo_uri = StringProperty("")
    needs_text = StringProperty("")
    notes_text = StringProperty("")
    used_text = StringProperty("")
    photo_count = NumericProperty(0)
    missing = BooleanProperty(False)

    def on_kv_post(self, _base: Any) -> None:
        self._trigger = Clock.create_trigger(lambda _dt: self.refresh(), 0)
        app = App.get_running_app()
        app.bind(data_version=self._trigger, current_job_id=self._trigger)
        self.popup: Popup | None = None
        self._thumb_keys: list[str] = []

    def on_pre_enter(self, *_args: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        if app is None:  # a refresh queued while the app was stopping
            return
        view = app.current_job()
        self.missing = view is None
        if view is None:
            self.reference = ""
            self.title_text = "This job is not on the phone (any more)."
            self.ids.actions.clear_widgets()
            self.ids.rejections.clear_widgets()
            return
        job = view.job
        assignment = job.get("assignment") or {}
        customer = job.get("customer") or {}
        self.reference = job.get("reference") or f"Job {job['id']}"
        self.title_text = job.get("title") or job.get("kind", "")
        self.status_text = STATUS_LABELS.get(view.status, view.status)
        self.status_fill = STATUS_COLOURS.get(view.status, (0.3, 0.3, 0.3, 1))
        notes = []
        if view.gone:
            self.status_text = "Not yours any more"
            self.status_fill = DANGER
            notes.append("reassigned or removed: call dispatch")
        elif view.status != view.server_status:
            notes.append("waiting to be sent")
        if view.incomplete_reason:
            notes.append(f"reason: {view.incomplete_reason}")
        self.status_note = "; ".join(notes)
        windows = ", ".join(
            f"{hhmm(w.get('start'))}-{hhmm(w.get('end'))}" for w in job.get("time_windows") or []
        )
        self.times_text = "\n".join(
            part
            for part in (
                f"Planned {hhmm(assignment.get('planned_start'))}-"
                f"{hhmm(assignment.get('planned_end'))}   Priority {job.get('priority', '-')}",
                f"Customer window {windows}" if windows else "",
                sla_left(job),
                f"{job.get('kind', '')}  {job.get('duration_min', '?')} min",
            )
            if part
        )
        self.customer_text = customer.get("name") or "-"
        self.phone = customer.get("phone") or ""
        self.address_text = job.get("address") or "-"
        self.geo_uri = app.geo_uri(job)
        skills = ", ".join(f"{k} (level {v})" for k, v in (job.get("skills") or {}).items())
        items = ", ".join(f"{i.get('quantity')} x {i.get('sku')}" for i in job.get("items") or [])
        self.needs_text = f"Skills: {skills or 'none'}\nItems: {items or 'none'}"
        self.notes_text = (
            "\n".join(
                f"- {n.get('text')}" + ("  [to send]" if n.get("pending") else "")
                for n in view.notes[-5:]
            )
            or "No notes yet."
        )
        self.used_text = used_lines(view.used_items) or "Nothing recorded."
        self.photo_count = len(view.photos)
        self._build_actions(view)
        self._build_rejections(view)
        self._build_thumbs(view)

    def _build_actions(self, view: LocalJob) -> None:
        box = self.ids.actions
        if [getattr(b, "action", None) for b in reversed(box.children)] == list(view.actions):
            return  # same choices: keep the buttons under the technician's thumb
        box.clear_widgets()
        for action in view.actions:
            button = BigButton(text=ACTION_LABELS.get(action, action))
            button.fill = ACTION_FILLS.get(action, PRIMARY)
            button.action = action
            button.bind(on_release=lambda b: self.ask(b.action))
            box.add_widget(button)

    def _build_rejections(self, view: LocalJob) -> None:
        box = self.ids.rejections
        if [c.action_id for c in reversed(box.children)] == [r.action_id for r in view.rejections]:
            return
        box.clear_widgets()
        for r in view.rejections:
            box.add_widget(
                RejectionCard(
                    action_id=r.action_id,
                    title=r.title,
                    detail=r.detail,
                    advice=r.advice,
                    can_retry=r.can_retry,
                )
            )

    def _build_thumbs(self, view: LocalJob) -> None:
        keys = [str(p.get("id") or p.get("local_path")) for p in view.photos]
        if keys == self._thumb_keys:
            return
        self._thumb_keys = keys
        grid = self.ids.thumbs
        grid.clear_widgets()
        app = App.get_running_app()
        for photo in view.photos[-6:]:
            image = Image(size_hint=(None, None), size=("104dp", "96dp"), fit_mode="contain")
            grid.add_widget(image)
            app.thumbnail(photo, lambda path, image=image: setattr(image, "source", path))

    # -- status actions -----------------------------------------------------------------
    def ask(self, action: str) -> None:
        app = App.get_running_app()
        job_id = app.current_job_id
        if action == "incomplete":
            popup = ReasonPopup()
            popup.on_reason = lambda text: app.queue_event(job_id, "incomplete", text)
        elif action in IRREVERSIBLE:
            popup = ConfirmPopup(
                title=ACTION_LABELS[action],
                message=f"{ACTION_LABELS[action]}? This cannot be undone on the phone.",
                confirm_text=ACTION_LABELS[action],
                confirm_fill=ACTION_FILLS.get(action, PRIMARY),
            )
            popup.on_confirm = lambda: self._queue(job_id, action)
        else:
            self._queue(job_id, action)
            return
        self.popup = popup
        popup.open()

    def _queue(self, job_id: int, action: str) -> None:
        error = App.get_running_app().queue_event(job_id, action)
        if error:
            App.get_running_app().show_toast(error)

    def navigate(self) -> None:
        if self.geo_uri:
            App.get_running_app().open_uri(self.geo_uri)

    def call(self) -> None:
        if self.phone:
            App.get_running_app().open_uri("tel:" + self.phone.replace(" ", ""))

    def back(self) -> None:
        App.get_running_app().go("today")

    def open_media(self) -> None:
        App.get_running_app().go("media")

    def open_equipment(self) -> None:
        App.get_running_app().go("equipment")

    def reload(self) -> None:
        app = App.get_running_app()
        app.refresh_job(app.current_job_id)


load_kv("job")
