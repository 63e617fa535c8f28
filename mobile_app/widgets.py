"""Shared widgets: large touch targets (>= 48dp) and high-contrast colours for field use."""

from __future__ import annotations

import os

from kivy.lang import Builder
from kivy.properties import ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.textinput import TextInput

from mobile_app.theme import DANGER, INK, MUTED, OK, PAPER, PRIMARY, WARNING

__all__ = ["DANGER", "INK", "MUTED", "OK", "PAPER", "PRIMARY", "WARNING"]


def load_kv(name: str, folder: str = "screens") -> None:
    """Load ``<folder>/<name>.kv`` once; each screen module calls it at import."""
    base = os.path.dirname(__file__)
    path = os.path.join(base, folder, f"{name}.kv") if folder else os.path.join(base, f"{name}.kv")
    if path not in Builder.files:
        Builder.load_file(path)


class BigButton(Button):
    """A primary action: 56dp high, bold, white on blue."""

    fill = ColorProperty(PRIMARY)


class FlatButton(Button):
    """A secondary action: 52dp high, dark text on light grey."""

    fill = ColorProperty((0.86, 0.86, 0.86, 1))


class Chip(Label):
    """A coloured status tag."""

    fill = ColorProperty(MUTED)


class Heading(Label):
    pass


class BodyLabel(Label):
    """Wrapping text whose height follows its content."""


class Field(TextInput):
    """A one-line input sized for thumbs and gloves."""


class TapCard(ButtonBehavior, BoxLayout):
    """A card the whole surface of which is one touch target."""

    fill = ColorProperty(PAPER)
    border_fill = ColorProperty((0.75, 0.75, 0.75, 1))


class SyncBadge(Button):
    """How many actions wait to be sent and how many were refused."""

    pending = NumericProperty(0)
    failed = NumericProperty(0)
    online = NumericProperty(1)
    summary = StringProperty("")


class TopBar(BoxLayout):
    """The blue bar at the top of every screen."""


class ToastBar(Label):
    """A one-line message at the bottom of a screen (bound to ``app.toast``)."""


load_kv("widgets", folder="")
