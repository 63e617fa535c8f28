"""Used equipment: pick from the van, quantity and serials, checked before it is queued."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import Screen

from mobile_app.localview import available_stock, used_lines
from mobile_app.widgets import TapCard, load_kv


class StockRow(TapCard):
    """One line of the van's stock; tap to pick it."""

    sku = StringProperty("")
    name = StringProperty("")
    available = NumericProperty(0)
    serialized = BooleanProperty(False)
    selected = BooleanProperty(False)


class EquipmentScreen(Screen):
    selected_sku = StringProperty("")
    selected_text = StringProperty("Pick an item from the van.")
    serialized = BooleanProperty(False)
    error = StringProperty("")
    used_text = StringProperty("")
    stock_note = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._trigger = Clock.create_trigger(lambda _dt: self.refresh(), 0)
        app = App.get_running_app()
        app.bind(data_version=self._trigger, current_job_id=self._trigger)

    def on_pre_enter(self, *_args: object) -> None:
        self.error = ""
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        if app is None:  # a refresh queued while the app was stopping
            return
        box = self.ids.stock
        box.clear_widgets()
        if app.store is None or app.outbox is None:
            return
        stock = app.store.stock()
        left = available_stock(stock, app.outbox.pending())
        for line in stock:
            row = StockRow(
                sku=line["sku"],
                name=line.get("name") or "",
                available=max(0, left.get(line["sku"], 0)),
                serialized=bool(line.get("serialized")),
                selected=line["sku"] == self.selected_sku,
            )
            row.bind(on_release=lambda r: self.select(r.sku))
            box.add_widget(row)
        self.stock_note = "" if stock else "No stock known for the van: tap Refresh on My jobs."
        self._update_selected(stock, left)
        view = app.current_job()
        items = view.used_items if view else []
        self.used_text = used_lines(items) or "Nothing recorded for this job."

    def _update_selected(self, stock: list[dict[str, Any]], left: dict[str, int]) -> None:
        line = next((s for s in stock if s["sku"] == self.selected_sku), None)
        if line is None:
            self.selected_sku = ""
            self.serialized = False
            self.selected_text = "Pick an item from the van."
            return
        self.serialized = bool(line.get("serialized"))
        self.selected_text = (
            f"{line['sku']}  {line.get('name', '')}: {max(0, left.get(line['sku'], 0))} in the van"
            + ("  (serial numbers required)" if self.serialized else "")
        )

    def select(self, sku: str) -> None:
        self.selected_sku = sku
        self.error = ""
        self.refresh()

    def record(self) -> None:
        app = App.get_running_app()
        self.error = app.queue_used_item(
            app.current_job_id,
            self.selected_sku,
            self.ids.quantity.text,
            self.ids.serials.text,
        )
        if not self.error:
            self.ids.quantity.text = "1"
            self.ids.serials.text = ""
            app.show_toast("Recorded; it will be sent with the next sync.")

    def back(self) -> None:
        App.get_running_app().go("job")


load_kv("equipment")
