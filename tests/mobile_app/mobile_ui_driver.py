"""Drive the real Kivy app in this process: frames, touches, typing and screenshots.

Kivy allows one window per process, so one :class:`UiDriver` (and one app) serves every UI test
of a session. The app runs "embedded": instead of Kivy's main loop, :meth:`pump` renders frames
until a condition holds, so a test reads like a technician's taps.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from kivy.base import EventLoop, runTouchApp, stopTouchApp
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots" / "mobile"


class UiDriver:
    def __init__(self, app) -> None:
        self.app = app

    def start(self) -> None:
        from kivy.core.window import Window  # creates the one window of this process

        Window.size = (360, 640)
        self.app._run_prepare()
        runTouchApp(embedded=True)
        self.pump(0.3)

    def stop(self) -> None:
        self.app.stop()
        self.pump(0.1)
        stopTouchApp()

    def pump(
        self,
        seconds: float = 0.0,
        until: Callable[[], bool] | None = None,
        timeout: float = 10.0,
        what: str = "condition",
    ) -> None:
        """Render frames for ``seconds``, or until ``until()`` holds (failing after timeout)."""
        start = time.monotonic()
        while True:
            EventLoop.idle()
            elapsed = time.monotonic() - start
            if until is not None:
                if until():
                    return
                if elapsed > timeout:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            elif elapsed >= seconds:
                return

    @property
    def screen(self):
        return self.app.root.current_screen

    def popup(self) -> Widget:
        """The open popup, rendering frames until one has opened (it opens a frame late)."""
        self.pump(until=lambda: open_popup() is not None, what="a popup")
        return open_popup()

    def tap(self, widget: Widget) -> None:
        """A finger tap at the centre of ``widget`` (scrolled into view first)."""
        from kivy.core.window import Window
        from kivy.tests.common import UnitTestTouch

        parent = widget.parent
        while parent is not None and not isinstance(parent, ScrollView):
            parent = None if parent is Window or parent.parent is parent else parent.parent
        # Kivy's Factory may load RecycleView under a second module name: compare by name.
        recycled = parent is not None and any(
            c.__name__ == "RecycleView" for c in type(parent).__mro__
        )
        x, y = widget.to_window(*widget.center)
        if parent is not None and not recycled:
            # Layouts settle over a few frames after content changed: scroll until visible.
            for _ in range(5):
                self.pump(0.05)
                parent.scroll_to(widget, padding=10, animate=False)
                self.pump(0.05)
                x, y = widget.to_window(*widget.center)
                if 0 <= y <= Window.height:
                    break
        assert 0 <= x <= Window.width and 0 <= y <= Window.height, (
            f"{widget} is off screen at {(x, y)}"
        )
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.pump(0.02)
        touch.touch_up()
        self.pump(0.3 if parent is not None else 0.15)

    def type_into(self, field: Widget, text: str) -> None:
        field.focus = True
        field.text = ""
        field.insert_text(text)
        field.focus = False
        self.pump(0.02)

    def screenshot(self, name: str) -> Path:
        """Save the window (360x640) to artifacts/screenshots/mobile/<name>.png.

        Also checks what a gloved thumb needs: every visible touch target is >= 48dp high.
        """
        from kivy.core.window import Window
        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.pump(0.15)
        written = Window.screenshot(name=str(SCREENSHOTS / f"{name}.png"))
        target = SCREENSHOTS / f"{name}.png"
        shutil.move(written, target)
        with Image.open(target) as image:
            assert image.size == (360, 640)
            assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 8, "blank"
        small = self.small_touch_targets()
        assert not small, f"touch targets under 48dp on {name}: {small}"
        return target

    @staticmethod
    def small_touch_targets() -> list[str]:
        """Visible buttons, cards and inputs lower than 48dp (desktop file lists excepted)."""
        from kivy.core.window import Window
        from kivy.metrics import dp
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.filechooser import FileChooserListView
        from kivy.uix.textinput import TextInput

        found = []
        for top in Window.children:
            skip = {
                id(inner)
                for chooser in top.walk(restrict=True)
                if isinstance(chooser, FileChooserListView)
                for inner in chooser.walk(restrict=True)
            }
            for w in top.walk(restrict=True):
                if id(w) in skip:
                    continue
                if not isinstance(w, ButtonBehavior | TextInput) or w.opacity == 0 or w.disabled:
                    continue
                if not w.get_root_window():
                    continue
                x, y = w.to_window(*w.center)
                visible = 0 <= x <= Window.width and 0 <= y <= Window.height
                if visible and w.height < dp(48) - 0.5:
                    found.append(f"{type(w).__name__}({getattr(w, 'text', '')!r}, h={w.height})")
        return found

    @staticmethod
    def find(root: Widget, cls: type, text: str | None = None) -> list[Widget]:
        """Widgets of ``cls`` under ``root`` (optionally with exactly this text)."""
        return [
            w
            for w in root.walk(restrict=True)
            if isinstance(w, cls) and (text is None or getattr(w, "text", None) == text)
        ]


def open_popup() -> Widget | None:
    from kivy.core.window import Window
    from kivy.uix.modalview import ModalView

    return next((w for w in Window.children if isinstance(w, ModalView)), None)


def env_summary() -> str:
    return f"{os.environ.get('KIVY_WINDOW')} {os.environ.get('SDL_VIDEODRIVER')}"
