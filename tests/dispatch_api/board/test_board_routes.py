"""The board's routes serve the page, its scripts and only the whitelisted libraries."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.errors import install_error_handlers
from dispatch_api.board import router
from dispatch_api.board.routes import NODE_MODULES, VENDOR_FILES


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return TestClient(app)


def test_page_is_html_and_loads_only_local_assets(client: TestClient) -> None:
    response = client.get("/board")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'id="gantt"' in html and 'id="map"' in html and 'id="unassigned-list"' in html
    # Nothing may come from the internet at run time.
    assert "http://" not in html.replace('xmlns="http://', "") and "https://" not in html
    assert "/board/vendor/vis-timeline.min.js" in html


def test_trailing_slash_redirects_to_the_page(client: TestClient) -> None:
    response = client.get("/board/", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/board"


@pytest.mark.parametrize("name", ["main.js", "gantt.js", "map.js", "optimize.js", "board.css"])
def test_static_files_have_their_media_type(client: TestClient, name: str) -> None:
    response = client.get(f"/board/static/{name}")
    assert response.status_code == 200
    expected = "text/css" if name.endswith(".css") else "text/javascript"
    assert response.headers["content-type"].startswith(expected)


@pytest.mark.parametrize("name", ["index.html", "..%2Fpackage.json", "nope.js", ".npmrc"])
def test_other_names_are_not_served(client: TestClient, name: str) -> None:
    response = client.get(f"/board/static/{name}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_vendor_serves_the_pinned_timeline_and_nothing_else(client: TestClient) -> None:
    missing = [rel for rel in VENDOR_FILES.values() if not (NODE_MODULES / rel).is_file()]
    assert not missing, f"front-end libraries not installed ({missing}); run `make frontend`"
    js = client.get("/board/vendor/vis-timeline.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "vis-timeline" in js.text[:400]
    css = client.get("/board/vendor/vis-timeline.min.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    response = client.get("/board/vendor/package.json")
    assert response.status_code == 404
    assert "package.json" in response.json()["detail"]
