"""Notes and photos of the open job: camera on phones, file chooser on desktops."""

from __future__ import annotations

import os
import time
from typing import Any

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.properties import NumericProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen
from kivy.utils import platform

from mobile_app.widgets import load_kv

HAS_CAMERA = platform in ("android", "ios")


def _camera_folder(data_dir: str) -> str:
    """Where the camera app may write the picture.

    On Android the camera is another app: it cannot write into our private folder, and
    handing it a ``file://`` URI is refused from API 24 unless the VM policy allows it (plyer
    passes such a URI). The app's external files folder needs no storage permission.
    """
    if platform != "android":
        return os.path.join(data_dir, "camera")
    from android.permissions import Permission, request_permissions  # type: ignore
    from jnius import autoclass  # type: ignore

    request_permissions([Permission.CAMERA])
    strict_mode = autoclass("android.os.StrictMode")
    strict_mode.setVmPolicy(autoclass("android.os.StrictMode$VmPolicy$Builder")().build())
    activity = autoclass("org.kivy.android.PythonActivity").mActivity
    return os.path.join(activity.getExternalFilesDir(None).getAbsolutePath(), "camera")


class PhotoTile(BoxLayout):
    """A thumbnail with its upload state (waiting, a progress bar, sent)."""

    source = StringProperty("")
    state_text = StringProperty("")
    progress = NumericProperty(0)
    action_id = NumericProperty(0)


class NoteRow(BoxLayout):
    text = StringProperty("")
    meta = StringProperty("")


class PhotoChooser(Popup):
    """Kivy's file chooser, for desktops (plyer has no camera there)."""

    start_path = StringProperty(os.path.expanduser("~"))

    def attach(self, selection: list[str]) -> None:
        if selection:
            self.dismiss()
            self.screen.attach_file(selection[0])


class MediaScreen(Screen):
    error = StringProperty("")
    title_text = StringProperty("")
    photo_button_text = StringProperty("Take photo" if HAS_CAMERA else "Attach photo from file")

    def on_kv_post(self, _base: Any) -> None:
        self._trigger = Clock.create_trigger(lambda _dt: self.refresh(), 0)
        app = App.get_running_app()
        app.bind(data_version=self._trigger, current_job_id=self._trigger)
        app.bind(upload_progress=self._update_progress)
        self.chooser: PhotoChooser | None = None
        self._tiles: dict[str, PhotoTile] = {}

    def on_pre_enter(self, *_args: object) -> None:
        self.error = ""
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        if app is None:  # a refresh queued while the app was stopping
            return
        view = app.current_job()
        notes_box, grid = self.ids.notes, self.ids.photos
        if view is None:
            self.title_text = "Job not on the phone"
            notes_box.clear_widgets()
            grid.clear_widgets()
            self._tiles = {}
            return
        self.title_text = view.job.get("reference") or f"Job {view.job['id']}"
        notes_box.clear_widgets()
        for note in view.notes:
            meta = (
                "waiting to be sent"
                if note.get("pending")
                else (
                    f"{note.get('author') or ''} {str(note.get('created_at') or '')[:16]}".strip()
                )
            )
            notes_box.add_widget(NoteRow(text=note.get("text", ""), meta=meta))
        if not view.notes:
            notes_box.add_widget(NoteRow(text="No notes yet.", meta=""))
        keys = []
        for photo in view.photos:
            key = str(photo.get("id") or f"a{photo.get('action_id')}")
            keys.append(key)
            tile = self._tiles.get(key)
            if tile is None:
                tile = PhotoTile(action_id=photo.get("action_id") or 0)
                self._tiles[key] = tile
                app.thumbnail(photo, lambda path, tile=tile: setattr(tile, "source", path))
            if photo.get("pending"):
                fraction = app.upload_progress.get(photo.get("action_id"), 0.0)
                tile.progress = fraction
                tile.state_text = f"sending {fraction:.0%}" if fraction else "waiting to send"
            else:
                tile.progress = 1
                tile.state_text = "sent"
        # A sent photo replaces its pending tile: drop tiles no longer in the view.
        grid.clear_widgets()
        self._tiles = {k: self._tiles[k] for k in keys}
        for key in keys:
            grid.add_widget(self._tiles[key])

    def _update_progress(self, _app: Any, progress: dict[int, float]) -> None:
        for tile in self._tiles.values():
            if tile.action_id and tile.action_id in progress and tile.state_text != "sent":
                tile.progress = progress[tile.action_id]
                tile.state_text = f"sending {tile.progress:.0%}"

    def add_note(self) -> None:
        app = App.get_running_app()
        self.error = app.queue_note(app.current_job_id, self.ids.note_input.text)
        if not self.error:
            self.ids.note_input.text = ""

    def add_photo(self) -> None:
        self.error = ""
        if HAS_CAMERA:
            self._take_picture()
        else:
            self.open_chooser()

    def open_chooser(self) -> PhotoChooser:
        self.chooser = PhotoChooser()
        self.chooser.screen = self
        self.chooser.open()
        return self.chooser

    def _take_picture(self) -> None:
        from plyer import camera

        app = App.get_running_app()
        try:
            folder = _camera_folder(app.data_dir)
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, f"IMG_{time.strftime('%Y%m%d_%H%M%S')}.jpg")
            camera.take_picture(filename=path, on_complete=self._camera_done)
        except Exception as exc:  # no camera app, permission refused, ...
            app.show_toast(f"Camera unavailable ({exc}); choose a file instead.")
            self.open_chooser()

    @mainthread
    def _camera_done(self, path: str) -> bool:
        if path and os.path.exists(path):
            self.attach_file(path)
        return False

    def attach_file(self, path: str) -> None:
        app = App.get_running_app()
        app.queue_photo(app.current_job_id, path, self.ids.caption.text.strip(), self._attached)

    def _attached(self, error: str) -> None:
        self.error = error
        if not error:
            self.ids.caption.text = ""

    def back(self) -> None:
        App.get_running_app().go("job")


load_kv("media")
