"""Today: the technician's jobs in route order, with status, SLA and sync state."""

from __future__ import annotations

from datetime import date
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import (
    BooleanProperty,
    ColorProperty,
    NumericProperty,
    StringProperty,
)
from kivy.uix.screenmanager import Screen

from mobile_app.localview import FINAL, STATUS_COLOURS, STATUS_LABELS, hhmm, local_job, sla_left
from mobile_app.widgets import TapCard, load_kv


class JobCard(TapCard):
    """One job in the day's list; the whole card opens the job."""

    job_id = NumericProperty(0)
    line1 = StringProperty("")
    status_text = StringProperty("")
    status_fill = ColorProperty((0.3, 0.3, 0.3, 1))
    customer = StringProperty("")
    address = StringProperty("")
    sla_text = StringProperty("")
    sla_late = BooleanProperty(False)
    flag_text = StringProperty("")


class TodayScreen(Screen):
    day_label = StringProperty("")
    summary = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._trigger = Clock.create_trigger(lambda _dt: self.refresh(), 0)
        app = App.get_running_app()
        app.bind(data_version=self._trigger, current_day=self._trigger)
        # SLA countdowns age even without new data.
        Clock.schedule_interval(self._tick, 60)

    def _tick(self, _dt: float) -> None:
        if self.manager is not None and self.manager.current == self.name:
            self._trigger()

    def on_pre_enter(self, *_args: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        if app is None:  # a refresh queued while the app was stopping
            return
        day = date.fromisoformat(app.current_day)
        self.day_label = (
            "Today" if day == date.today() else day.strftime("%a %d %b")
        ) + f"  {day.isoformat()}"
        if app.store is None or app.outbox is None:
            self.ids.rv.data = []
            self.summary = ""
            return
        jobs = app.store.jobs_for(app.current_day)
        data = []
        for n, job in enumerate(jobs, start=1):
            view = local_job(job, app.outbox.for_job(job["id"]))
            assignment = job.get("assignment") or {}
            flags = []
            if view.gone:
                flags.append("reassigned")
            if view.rejections:
                flags.append(f"! {len(view.rejections)} refused")
            if view.pending:
                flags.append(f"{view.pending} to send")
            sla = sla_left(job)
            data.append(
                {
                    "job_id": job["id"],
                    "line1": f"{assignment.get('sequence') or n}.  "
                    f"{hhmm(assignment.get('planned_start'))}-{hhmm(assignment.get('planned_end'))}"
                    f"   P{job.get('priority', '')}",
                    "status_text": STATUS_LABELS.get(view.status, view.status),
                    "status_fill": STATUS_COLOURS.get(view.status, (0.3, 0.3, 0.3, 1)),
                    "customer": (job.get("customer") or {}).get("name") or job.get("title", ""),
                    "address": job.get("address") or "",
                    "sla_text": sla,
                    "sla_late": "late" in sla,
                    "flag_text": "   ".join(flags),
                }
            )
        self.ids.rv.data = data
        known = app.store.day_known(app.current_day)
        if not jobs:
            self.summary = "No jobs for this day." if known else "Not loaded yet: tap Refresh."
        else:
            done = sum(1 for j in jobs if j.get("status") in FINAL)
            self.summary = f"{len(jobs)} jobs, {done} finished"
        if app.busy:
            self.summary += "  (loading...)"

    def toggle_shift(self, value: bool) -> None:
        App.get_running_app().set_on_shift(value)


load_kv("today")
