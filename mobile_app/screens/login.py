"""Login: server address, user name and password."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from mobile_app.widgets import load_kv


class LoginScreen(Screen):
    error = StringProperty("")
    busy = BooleanProperty(False)

    def on_pre_enter(self, *_args: object) -> None:
        self.prefill()

    def prefill(self) -> None:
        """Offer the last server and user name (the app sets them after building screens)."""
        app = App.get_running_app()
        if not self.ids.server.text:
            self.ids.server.text = app.server_url
        if not self.ids.user.text:
            self.ids.user.text = app.username

    def submit(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.error = ""
        App.get_running_app().login(
            self.ids.server.text, self.ids.user.text, self.ids.password.text, self._done
        )

    def _done(self, error: str) -> None:
        self.busy = False
        self.error = error
        if not error:
            self.ids.password.text = ""


load_kv("login")
