"""The dispatcher board end to end: headless Chromium against the real server on loopback.

One server (migrated and seeded SQLite in a temp folder) and one browser page serve
the whole module; the tests run in order like a dispatcher's morning: sign in, see
every technician, optimise and publish, move a job, get refused, force, watch a
technician's status arrive live. Each step saves a screenshot to
``artifacts/screenshots/board/``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "artifacts" / "screenshots" / "board"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DISPATCHER = ("dispatcher", "dispatcher")
TECHNICIAN = ("tech01", "tech01")
VIEWPORT = {"width": 1600, "height": 1500}
OPTIMIZE_S = 10
# Generous for a shared 2-core machine; locally the full day renders in well under this.
RENDER_BUDGET_MS = 2000
# Room left around a moved visit so the target technician's travel cannot overlap it.
MARGIN = dt.timedelta(minutes=60)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)"
    ),
]


# -- server -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str, log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(
            [sys.executable, "-m", "dispatch_api", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
    assert done.returncode == 0, f"`dispatch_api {' '.join(args)}` failed; see {log}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn in a subprocess on a free loopback port, on a migrated and seeded database."""
    tmp = tmp_path_factory.mktemp("board-server")
    env = {
        **os.environ,
        "FWS_DATABASE_URL": f"sqlite:///{tmp / 'board.db'}",
        "FWS_DATA_DIR": str(tmp / "data"),
        "FWS_SECRET_KEY": "board-test-secret-key-long-enough-for-hs256",
        "FWS_TIMEZONE": "UTC",
        "FWS_SSE_PING_S": "2",
    }
    env.pop("DATABASE_URL", None)
    log = tmp / "server.log"
    _cli(env, "migrate", log=log)
    _cli(env, "seed", log=log)
    port = _free_port()
    out = log.open("a")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch_api", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited early; see {log}"
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"server not up after 30 s; see {log}"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


class Api:
    """A small authenticated client for arranging and checking what the page does."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        response = self.http.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        self.login = response.json()
        self.http.headers["Authorization"] = f"Bearer {self.login['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(path, json=body, headers=headers)


def _at(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


@dataclass
class Board:
    """State shared by the ordered tests of this module."""

    base: str
    api: Api
    page: Any
    day: str
    shots: list[Path] = field(default_factory=list)
    refused: dict[str, Any] = field(default_factory=dict)
    created: dict[str, Any] = field(default_factory=dict)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)

    def schedule(self) -> dict[str, Any]:
        return self.api.get(f"/api/v1/schedules/{self.day}")

    def loads(self) -> int:
        return int(self.page.evaluate("Number(document.body.dataset.loads || 0)"))

    def wait_reloaded(self, before: int) -> None:
        self.page.wait_for_function(
            f"Number(document.body.dataset.loads || 0) > {before}", timeout=10_000
        )


@pytest.fixture(scope="module")
def board(server: str) -> Iterator[Board]:
    from playwright.sync_api import sync_playwright

    api = Api(server, *DISPATCHER)
    jobs = api.get("/api/v1/jobs", limit=500)
    assert jobs, "the seed created no jobs"
    day = Counter(j["date"] for j in jobs).most_common(1)[0][0]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):  # numbering restarts with every run
        old.unlink()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(15_000)
        yield Board(server, api, page, day)
        context.close()
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# -- helpers ----------------------------------------------------------------------------------
def _row_box(board: Board, technician_id: int) -> dict[str, float]:
    label = board.page.locator(f".vis-label.tech-{technician_id}")
    box = label.bounding_box()
    assert box, f"row of technician {technician_id} is not on screen"
    return box


def _bar_box(board: Board, job_id: int) -> dict[str, float]:
    bar = board.page.locator(f".vis-item.job-{job_id}")
    bar.wait_for(state="visible")
    box = bar.bounding_box()
    assert box
    return box


def _drag_bar_to_row(board: Board, job_id: int, technician_id: int) -> None:
    """Press on the bar, move it down/up to another technician's row at the same time."""
    bar = _bar_box(board, job_id)
    row = _row_box(board, technician_id)
    x = bar["x"] + bar["width"] / 2
    y = bar["y"] + bar["height"] / 2
    page = board.page
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 4, y + 4, steps=4)
    page.mouse.move(x, row["y"] + row["height"] / 2, steps=20)
    page.mouse.up()
    page.mouse.move(2, 2)  # no hover tooltip over the result


def _in_row(board: Board, job_id: int, technician_id: int) -> bool:
    bar = _bar_box(board, job_id)
    row = _row_box(board, technician_id)
    middle = bar["y"] + bar["height"] / 2
    return row["y"] <= middle <= row["y"] + row["height"]


def _eventually(check: Any, what: str, timeout: float = 10.0) -> None:
    """Wait for the page to show something: a live refetch may land just before ours."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _fits(intervals: list[tuple[dt.datetime, dt.datetime]], start, end) -> bool:
    return all(end + MARGIN <= s or start - MARGIN >= e for s, e in intervals)


def _pick_move(board: Board, *, skilled: bool) -> tuple[dict, int, int]:
    """A dispatched job and another technician free at the same time, with or without its skills.

    Everything else the server checks (shift, break, overlap, stock) holds with a margin,
    so the skills are the only thing that decides whether the move is allowed.
    """
    schedule = board.schedule()
    techs = {t["id"]: t for t in board.api.get("/api/v1/technicians", limit=500)}
    busy: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    shifts: dict[int, tuple[dt.datetime, dt.datetime]] = {}
    for route in schedule["routes"]:
        tid = route["technician"]["id"]
        shifts[tid] = (_at(route["shift"]["start"]), _at(route["shift"]["end"]))
        busy[tid] = [(_at(b["start"]), _at(b["end"])) for b in route["breaks"]] + [
            (_at(v["start"]) - dt.timedelta(minutes=v["travel_min"]), _at(v["end"]))
            for v in route["visits"]
        ]
    for route in schedule["routes"]:
        source = route["technician"]["id"]
        for visit in route["visits"]:
            if visit["job"]["status"] != "dispatched" or visit["job"]["pinned"]:
                continue
            job = board.api.get(f"/api/v1/jobs/{visit['job_id']}")
            if job["items"] or not job["skills"]:
                continue
            start, end = _at(visit["start"]), _at(visit["end"])
            for target, (s_start, s_end) in shifts.items():
                if target == source:
                    continue
                have = techs[target]["skills"]
                ok = all(have.get(s, 0) >= level for s, level in job["skills"].items())
                if ok != skilled:
                    continue
                if start - MARGIN < s_start or end + MARGIN > s_end:
                    continue
                if _fits(busy[target], start, end):
                    return job, source, target
    pytest.fail(f"no {'skilled' if skilled else 'unskilled'} free technician for any job")


# -- the dispatcher's morning -----------------------------------------------------------------
def test_login_shows_every_technicians_row(board: Board) -> None:
    page = board.page
    page.goto(f"{board.base}/board?date={board.day}")
    page.locator("#login-form").wait_for()
    board.shot("login")
    page.fill("#login-username", DISPATCHER[0])
    page.fill("#login-password", "wrong-password")
    page.click("#login-submit")
    page.locator("#login-error").wait_for()
    assert "Wrong user name or password" in page.inner_text("#login-error")
    page.fill("#login-password", DISPATCHER[1])
    page.click("#login-submit")
    page.wait_for_function("Number(document.body.dataset.loads || 0) >= 1")
    routes = board.schedule()["routes"]
    assert len(routes) >= 20, "the demo day should have every technician working"
    for route in routes:
        label = page.locator(f".vis-label.tech-{route['technician']['id']}")
        assert route["technician"]["name"] in label.inner_text()
    assert page.locator(".vis-label.tech").count() == len(routes)
    territory = routes[0]["technician"]["territory"]
    page.select_option("#territory", territory)
    same = [r for r in routes if r["technician"]["territory"] == territory]
    page.wait_for_function(f"document.querySelectorAll('.vis-label.tech').length === {len(same)}")
    open_here = board.api.get("/api/v1/jobs", date=board.day, territory=territory, limit=500)
    assert int(page.inner_text("#unassigned-count")) == len(open_here)
    page.select_option("#territory", "")
    page.wait_for_function(f"document.querySelectorAll('.vis-label.tech').length === {len(routes)}")
    assert page.locator("#kpi-assigned").inner_text() != "–"
    page.wait_for_function("document.body.dataset.live === 'on'")
    board.shot("board")


def test_optimize_then_publish(board: Board) -> None:
    page = board.page
    page.click("#optimize-open")
    # Long enough for a first solution of 250 jobs on a busy, shared 2-core machine.
    page.fill("#optimize-time", str(OPTIMIZE_S))
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/optimization-runs") and r.request.method == "POST"
    ) as started:
        page.click("#optimize-start")
    run = started.value.json()
    assert started.value.status == 202, run
    page.locator("#optimize-decide").wait_for(timeout=60_000)
    plan_id = board.api.get(f"/api/v1/optimization-runs/{run['id']}")["plan_version_id"]
    diff = board.api.get(f"/api/v1/plan-versions/{plan_id}/diff")
    for key in ("reassigned", "moved", "newly-assigned", "newly-unassigned"):
        shown = page.inner_text(f"#optimize-diff .diff-{key} .count")
        assert int(shown) == len(diff[key.replace("-", "_")]), key
    assert diff["newly_assigned"], f"the scheduler assigned nothing in {OPTIMIZE_S} s"
    board.shot("optimize-diff")
    before = board.loads()
    page.click("#optimize-publish")
    page.wait_for_function(
        "document.getElementById('status-line').textContent.includes('published')"
    )
    board.wait_reloaded(before)
    assert board.api.get(f"/api/v1/plan-versions/{plan_id}")["status"] == "published"
    schedule = board.schedule()
    visits = sum(len(r["visits"]) for r in schedule["routes"])
    assert page.locator(".vis-item.job").count() == visits > 0
    assert page.inner_text("#kpi-assigned") == str(schedule["kpis"]["jobs_assigned"])
    assert int(page.inner_text("#unassigned-count")) == len(schedule["unassigned"])
    # Drawing the whole day (25 rows, ~200 bars with travel, map, list) stays interactive.
    assert int(page.evaluate("document.body.dataset.renderMs")) < RENDER_BUDGET_MS
    board.shot("published")


def test_drag_to_a_skilled_technician_is_saved(board: Board) -> None:
    job, source, target = _pick_move(board, skilled=True)
    before = board.loads()
    with board.page.expect_response(
        lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
    ) as answer:
        _drag_bar_to_row(board, job["id"], target)
    assert answer.value.status == 200, answer.value.text()
    board.wait_reloaded(before)
    saved = board.api.get(f"/api/v1/jobs/{job['id']}")
    assert saved["assignment"]["technician_id"] == target
    moved_by = _at(saved["assignment"]["planned_start"]) - _at(job["assignment"]["planned_start"])
    assert abs(moved_by) <= dt.timedelta(minutes=5)
    assert saved["version"] > job["version"]
    _eventually(lambda: _in_row(board, job["id"], target), "the bar is not in the new row")
    assert not _in_row(board, job["id"], source)
    board.shot("moved")


def test_drag_to_a_technician_without_the_skill_is_refused_and_snaps_back(board: Board) -> None:
    job, source, target = _pick_move(board, skilled=False)
    with board.page.expect_response(
        lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
    ) as answer:
        _drag_bar_to_row(board, job["id"], target)
    assert answer.value.status == 422
    assert answer.value.json()["rule"] == "skill"
    refusal = board.page.locator(".refusal")
    refusal.wait_for()
    assert "skill" in refusal.inner_text()
    board.page.wait_for_timeout(200)
    assert _in_row(board, job["id"], source), "the bar did not snap back"
    unchanged = board.api.get(f"/api/v1/jobs/{job['id']}")
    assert unchanged["assignment"]["technician_id"] == source
    assert unchanged["version"] == job["version"]
    board.shot("refused")
    board.refused = {"job": job, "target": target}


def test_force_after_confirmation_records_an_override(board: Board) -> None:
    assert board.refused, "needs the refusal of the previous test"
    job, target = board.refused["job"], board.refused["target"]
    page = board.page
    page.locator(".refusal button", has_text="Force").click()
    page.locator("#confirm").wait_for()
    assert job["reference"] in page.inner_text("#confirm-text")
    board.shot("force-confirm")
    before = board.loads()
    with page.expect_response(
        lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
    ) as answer:
        page.click("#confirm-yes")
    assert answer.value.status == 200, answer.value.text()
    board.wait_reloaded(before)
    forced = board.api.get(f"/api/v1/jobs/{job['id']}")
    assert forced["assignment"]["technician_id"] == target
    assert forced["assignment"]["override"] is True
    _eventually(lambda: _in_row(board, job["id"], target), "the forced bar is not in its row")
    board.shot("forced")


def test_a_stale_board_cannot_overwrite_another_dispatchers_change(board: Board) -> None:
    """A second dispatcher's board without live updates still holds the old version."""
    job, source, target = _pick_move(board, skilled=True)
    context = board.page.context.browser.new_context(viewport=VIEWPORT)
    try:
        other = context.new_page()
        other.route("**/api/v1/events/stream*", lambda route: route.abort())
        other.goto(f"{board.base}/board?date={board.day}")
        other.fill("#login-username", DISPATCHER[0])
        other.fill("#login-password", DISPATCHER[1])
        other.click("#login-submit")
        other.wait_for_function("Number(document.body.dataset.loads || 0) >= 1")
        # Meanwhile the first dispatcher pins the job: its version moves on.
        pinned = board.api.http.patch(
            f"/api/v1/jobs/{job['id']}/assignment",
            json={
                "technician_id": source,
                "start": job["assignment"]["planned_start"],
                "pinned": True,
                "force": False,
            },
            headers={"If-Match": f'"{job["version"]}"'},
        )
        assert pinned.status_code == 200, pinned.text
        stale = Board(board.base, board.api, other, board.day, shots=board.shots)
        with other.expect_response(
            lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
        ) as answer:
            _drag_bar_to_row(stale, job["id"], target)
        assert answer.value.status == 412
        other.locator(".refusal").wait_for()
        assert "someone changed this job" in other.inner_text(".refusal")
        # The board reloads what is there now: the bar stays, now pinned.
        other.locator(f".vis-item.job-{job['id']}.pinned").wait_for()
        assert _in_row(stale, job["id"], source)
        stale.shot("stale-refused")
        saved = board.api.get(f"/api/v1/jobs/{job['id']}")
        assert saved["assignment"]["technician_id"] == source
        assert saved["assignment"]["pinned"] is True
    finally:
        context.close()


def _some_dispatched_job(board: Board, *, avoid_technician: int) -> dict[str, Any]:
    for route in board.schedule()["routes"]:
        if route["technician"]["id"] == avoid_technician:
            continue
        for visit in route["visits"]:
            if visit["job"]["status"] == "dispatched" and not visit["job"]["pinned"]:
                return board.api.get(f"/api/v1/jobs/{visit['job_id']}")
    pytest.fail("no dispatched, unpinned job left")


def test_pin_and_unpin_from_the_details_panel(board: Board) -> None:
    tech01 = Api(board.base, *TECHNICIAN).login["technician_id"]
    job = _some_dispatched_job(board, avoid_technician=tech01)
    page = board.page
    page.locator(f".vis-item.job-{job['id']}").click()
    page.locator("#details").wait_for()
    assert job["reference"] in page.inner_text("#details h2")
    for pinned, label in ((True, "Pin"), (False, "Unpin")):
        before = board.loads()
        with page.expect_response(
            lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
        ) as answer:
            page.click(f"#detail-pin:text-is('{label}')")
        assert answer.value.status == 200, answer.value.text()
        board.wait_reloaded(before)
        saved = board.api.get(f"/api/v1/jobs/{job['id']}")
        assert saved["assignment"]["pinned"] is pinned
        assert saved["assignment"]["technician_id"] == job["assignment"]["technician_id"]
        bar = page.locator(f".vis-item.job-{job['id']}")
        _eventually(
            lambda bar=bar, pinned=pinned: (
                ("pinned" in (bar.get_attribute("class") or "").split()) is pinned
            ),
            f"the bar does not show pinned={pinned}",
        )
        if pinned:
            board.shot("pinned")
    page.click("#detail-close")


def test_drag_onto_the_unassigned_list_unassigns(board: Board) -> None:
    tech01 = Api(board.base, *TECHNICIAN).login["technician_id"]
    job = _some_dispatched_job(board, avoid_technician=tech01)
    page = board.page
    bar = _bar_box(board, job["id"])
    target = page.locator("#unassigned").bounding_box()
    assert target
    before = board.loads()
    with page.expect_response(
        lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
    ) as answer:
        page.mouse.move(bar["x"] + bar["width"] / 2, bar["y"] + bar["height"] / 2)
        page.mouse.down()
        page.mouse.move(target["x"] + 40, target["y"] + 60, steps=25)
        page.mouse.up()
    assert answer.value.status == 200, answer.value.text()
    board.wait_reloaded(before)
    saved = board.api.get(f"/api/v1/jobs/{job['id']}")
    assert saved["status"] == "open" and saved["assignment"] is None
    _eventually(
        lambda: (
            page.locator(f".vis-item.job-{job['id']}").count() == 0
            and page.locator(f'.unassigned-job[data-job-id="{job["id"]}"]').count() == 1
        ),
        "the job did not move from the Gantt to the Unassigned list",
    )
    board.shot("unassigned")


def test_technician_status_change_arrives_live(board: Board) -> None:
    tech = Api(board.base, *TECHNICIAN)
    tech_id = tech.login["technician_id"]
    mine = [j for j in tech.get("/api/v1/me/jobs", date=board.day) if j["status"] == "dispatched"]
    assert mine, f"{TECHNICIAN[0]} has no dispatched job on {board.day}"
    job = mine[0]
    page = board.page
    page.evaluate("window.__sameDocument = true")
    bar = page.locator(f".vis-item.job-{job['id']}")
    assert "status-dispatched" in (bar.get_attribute("class") or "")
    assert _in_row(board, job["id"], tech_id)
    response = tech.post(
        f"/api/v1/jobs/{job['id']}/events",
        {"type": "en_route", "at": dt.datetime.now(dt.UTC).isoformat(), "position": None},
        **{"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    page.locator(f".vis-item.job-{job['id']}.status-en_route").wait_for(timeout=10_000)
    # The map's stop changes with the bar, not at the schedule's refetch a second later.
    stop = page.locator(f"#map circle.stop[data-job-id='{job['id']}']")
    assert "status-en_route" in (stop.get_attribute("class") or "")
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    assert "en route" in page.inner_text("#status-line")
    board.shot("live-en-route")


def test_new_job_appears_live_in_the_unassigned_list(board: Board) -> None:
    page = board.page
    page.evaluate("window.__sameDocument = true")
    shown = int(page.inner_text("#unassigned-count"))
    response = board.api.post(
        "/api/v1/jobs",
        {
            "kind": "repair",
            "title": "Line down after storm",
            "location": {"lat": 45.76, "lon": 4.84},
            "territory": "centre",
            "duration_min": 45,
            "skills": {"copper": 1},
            "priority": 90,
            "date": board.day,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    item = page.locator(f'.unassigned-job[data-job-id="{created["id"]}"]')
    item.wait_for(timeout=10_000)
    assert created["reference"] in item.inner_text()
    assert int(page.inner_text("#unassigned-count")) == shown + 1
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    board.shot("live-new-job")
    board.created = created


def _x_of(board: Board, when: dt.datetime) -> float:
    """Screen x of a time, from the left edges of the day's earliest and latest bars.

    Two edges hours apart give the scale; one bar's width would not (borders and the
    minimum width of short bars skew it by minutes per hour).
    """
    visits = [v for r in board.schedule()["routes"] for v in r["visits"]]
    if len(visits) < 2:
        pytest.fail("no bars to measure the time axis with")
    first = min(visits, key=lambda v: v["start"])
    last = max(visits, key=lambda v: v["start"])
    t0, t1 = _at(first["start"]), _at(last["start"])
    x0, x1 = _bar_box(board, first["job_id"])["x"], _bar_box(board, last["job_id"])["x"]
    px_per_s = (x1 - x0) / (t1 - t0).total_seconds()
    return x0 + (when - t0).total_seconds() * px_per_s


def test_drop_from_the_unassigned_list_assigns(board: Board) -> None:
    job = board.created
    assert job, "needs the job created by the previous test"
    techs = board.api.get("/api/v1/technicians", limit=500)
    target = next(t for t in techs if t["skills"].get("copper", 0) >= 1)
    when = dt.datetime.fromisoformat(f"{board.day}T10:00:00+00:00")
    row = _row_box(board, target["id"])
    gantt = board.page.locator("#gantt").bounding_box()
    assert gantt
    page = board.page
    before = board.loads()
    with page.expect_request(
        lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
    ) as sent:
        page.locator(f'.unassigned-job[data-job-id="{job["id"]}"]').drag_to(
            page.locator("#gantt"),
            target_position={
                "x": _x_of(board, when) - gantt["x"],
                "y": row["y"] + row["height"] / 2 - gantt["y"],
            },
        )
    body = sent.value.post_data_json
    assert body["technician_id"] == target["id"]
    assert abs(_at(body["start"]) - when) <= dt.timedelta(minutes=5)
    answer = sent.value.response()
    assert answer
    if answer.status == 422:
        # Its place may break a rule on this busy day: then the refusal offers to force.
        assert answer.json()["code"] == "rule_violation"
        page.locator(".refusal button", has_text="Force").click()
        before = board.loads()
        with page.expect_response(
            lambda r: r.url.endswith(f"/api/v1/jobs/{job['id']}/assignment")
        ) as forced:
            page.click("#confirm-yes")
        assert forced.value.status == 200, forced.value.text()
    else:
        assert answer.status == 200, answer.text()
    board.wait_reloaded(before)
    saved = board.api.get(f"/api/v1/jobs/{job['id']}")
    assert saved["status"] == "dispatched"
    assert saved["assignment"]["technician_id"] == target["id"]
    _eventually(
        lambda: page.locator(f'.unassigned-job[data-job-id="{job["id"]}"]').count() == 0,
        "the job is still in the Unassigned list",
    )
    _eventually(lambda: _in_row(board, job["id"], target["id"]), "the bar is not in its row")
    board.shot("assigned-from-list")
