"""Fixtures for the technician app's tests.

Kivy reads its environment at import, so the headless window settings are fixed here, before
any test module imports ``mobile_app``: SDL2 window (without it a missing GL kills the process
silently), an offscreen SDL video driver over Mesa EGL, a throw-away KIVY_HOME, and no Kivy
command-line parsing (pytest's arguments are not Kivy's).
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("KIVY_WINDOW", "sdl2")
os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kivy-home-"))
os.environ["KIVY_NO_ARGS"] = "1"
os.environ.setdefault("KIVY_NO_FILELOG", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
os.environ.setdefault("KIVY_METRICS_DENSITY", "1")
# The phone size the screenshots are taken at (Kivy reads KCFG_<SECTION>_<KEY>).
os.environ.setdefault("KCFG_GRAPHICS_WIDTH", "360")
os.environ.setdefault("KCFG_GRAPHICS_HEIGHT", "640")
os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", "warning")

import pytest
from mobile_live_server import LiveServer, server_available


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "live_server: needs the dispatch API (started by a fixture on loopback)"
    )


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The real dispatch API on a free loopback port, migrated and seeded once per session."""
    reason = server_available()
    if reason:
        pytest.skip(reason)
    server = LiveServer(tmp_path_factory.mktemp("dispatch-api"))
    server.prepare()
    server.start()
    yield server
    server.stop()
