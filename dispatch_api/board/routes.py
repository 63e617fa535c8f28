"""Routes that serve the dispatcher board's page, scripts and vendored libraries.

Nothing here reads the database: the page fetches its data from ``/api/v1`` with the
dispatcher's token, so the board obeys exactly the rules every other client does.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from core.errors import ApiError, NotFound

BOARD_DIR = Path(__file__).resolve().parent
STATIC_DIR = BOARD_DIR / "static"
NODE_MODULES = BOARD_DIR / "node_modules"

# Only these files of node_modules are reachable: the page needs nothing else, and
# serving the whole tree would publish every package's sources and metadata.
VENDOR_FILES: dict[str, Path] = {
    "vis-timeline.min.js": Path("vis-timeline/standalone/umd/vis-timeline-graph2d.min.js"),
    "vis-timeline.min.css": Path("vis-timeline/styles/vis-timeline-graph2d.min.css"),
}

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(js|css|svg)$")
# Scripts change with every release; revalidating keeps a browser from mixing versions.
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

router = APIRouter(tags=["board"], include_in_schema=False)


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)


@router.get("/board")
def board_page() -> FileResponse:
    """The single page; login, data and live updates all happen in the browser."""
    return _file(STATIC_DIR / "index.html")


@router.get("/board/")
def board_page_slash() -> RedirectResponse:
    """Relative asset URLs resolve against ``/board``, so keep one canonical address."""
    return RedirectResponse("/board", status_code=308)


@router.get("/board/static/{name}")
def board_static(name: str) -> FileResponse:
    """The board's own scripts and styles (flat folder; names are checked, no paths)."""
    path = STATIC_DIR / name
    if not _STATIC_NAME.match(name) or not path.is_file():
        raise NotFound(f"No board file named {name!r}.")
    return _file(path)


@router.get("/board/vendor/{name}")
def board_vendor(name: str) -> FileResponse:
    """A pinned front-end library from ``node_modules`` (installed by ``make frontend``)."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        raise NotFound(f"No vendored library named {name!r}.")
    path = NODE_MODULES / relative
    if not path.is_file():
        raise ApiError(
            f"The board's front-end libraries are not installed ({relative} is missing): "
            "run `make frontend`.",
            code="frontend_not_installed",
            status_code=503,
        )
    return _file(path)
