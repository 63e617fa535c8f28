"""Travel models: geodesic, OSRM table (against a fake server), given matrix."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import numpy as np
import pytest

from scheduler import Geodesic, GivenMatrix, OsrmError, OsrmTable, Point, build_matrix
from scheduler.travel import haversine_matrix

PARIS = Point(2.3522, 48.8566)
LYON = Point(4.8357, 45.7640)


def test_haversine_paris_lyon():
    d = haversine_matrix([PARIS, LYON])
    assert d[0, 0] == 0
    assert d[0, 1] == pytest.approx(392_000, rel=0.01)  # great-circle Paris-Lyon
    assert d[0, 1] == d[1, 0]


def test_geodesic_speed_detour_and_overhead():
    a, b = Point(4.80, 45.75), Point(4.80, 45.76)  # ~1.11 km apart
    model = Geodesic(speed_kmh=36.0, detour=1.5, stop_overhead=120)
    dur, dist = build_matrix([a, b, a], model)
    road = haversine_matrix([a, b])[0, 1] * 1.5
    assert dist[0, 1] == round(road)
    assert dur[0, 1] == int(np.ceil(road / 10.0)) + 120  # 36 km/h = 10 m/s
    assert dur[0, 2] == 0  # same place: no overhead
    assert np.all(np.diag(dur) == 0)
    assert dur.dtype == np.int64


def test_geodesic_rejects_bad_settings():
    with pytest.raises(ValueError, match="speed_kmh"):
        Geodesic(speed_kmh=0)
    with pytest.raises(ValueError, match="detour"):
        Geodesic(detour=0.5)


def test_given_matrix_checks_shape_and_values():
    dur, dist = GivenMatrix(np.array([[0, 1.2], [3, 0]])).matrices([])
    assert dur.tolist() == [[0, 2], [3, 0]]  # rounded up
    assert dist.tolist() == [[0, 0], [0, 0]]
    with pytest.raises(ValueError, match="square"):
        GivenMatrix(np.zeros((2, 3))).matrices([])
    with pytest.raises(ValueError, match="non-negative"):
        GivenMatrix(np.array([[0, -1], [1, 0]])).matrices([])


def _table(n: int, with_null: bool = False) -> dict:
    durations = [[float(abs(i - j) * 100 + 0.4) for j in range(n)] for i in range(n)]
    if with_null:
        durations[0][1] = None
    distances = [[abs(i - j) * 1000.0 for j in range(n)] for i in range(n)]
    return {"code": "Ok", "durations": durations, "distances": distances}


def test_osrm_with_mock_transport():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        return httpx.Response(200, json=_table(3, with_null=True))

    model = OsrmTable("http://osrm.test", transport=httpx.MockTransport(handler), unreachable=999)
    dur, dist = model.matrices([PARIS, LYON, PARIS])
    assert (
        "/table/v1/driving/2.352200,48.856600;4.835700,45.764000;2.352200,48.856600" in seen["url"]
    )
    assert "annotations=duration%2Cdistance" in seen["url"]
    assert dur[1, 0] == 101  # 100.4 rounded up
    assert dur[0, 1] == 999  # no route
    assert dist[0, 2] == 2000


def test_osrm_error_answer():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": "InvalidQuery", "message": "bad coords"})

    model = OsrmTable("http://osrm.test", transport=httpx.MockTransport(handler))
    with pytest.raises(OsrmError, match="InvalidQuery"):
        model.matrices([PARIS, LYON])


class _FakeOsrm(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        coords = self.path.split("/table/v1/driving/")[1].split("?")[0].split(";")
        body = json.dumps(_table(len(coords))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_osrm_against_a_local_fake_server():
    server = HTTPServer(("127.0.0.1", 0), _FakeOsrm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        dur, _ = build_matrix([PARIS, LYON, PARIS, LYON], OsrmTable(url, stop_overhead=60))
    finally:
        server.shutdown()
        server.server_close()
    assert dur.shape == (4, 4)
    assert dur[0, 3] == 301 + 60
    assert dur[2, 2] == 1  # 0.4 s rounded up; the diagonal gets no overhead


def test_osrm_unreachable_server():
    with pytest.raises(OsrmError, match="failed"):
        OsrmTable("http://127.0.0.1:9", timeout=1.0).matrices([PARIS, LYON])
