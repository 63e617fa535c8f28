"""Start the real dispatch API as a subprocess on loopback, for end-to-end app tests.

The app must not import the server, and neither do these helpers: they only run its documented
command line (``python -m dispatch_api migrate|seed``) and uvicorn, on a temporary SQLite file.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def server_available() -> str:
    """Empty when the dispatch API can be started here, else why not."""
    for module in ("dispatch_api.app", "dispatch_api.__main__"):
        if importlib.util.find_spec(module) is None:
            return f"the dispatch API is not there yet ({module} missing)"
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """One server process on one port; it can be stopped and started again on that port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            FWS_DATABASE_URL=f"sqlite:///{workdir / 'dispatch.db'}",
            FWS_DATA_DIR=str(workdir / "data"),
            FWS_SECRET_KEY="mobile-app-tests-secret-0123456789abcdef",
            FWS_INPROCESS_WORKER="false",
            PYTHONUNBUFFERED="1",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._logins: dict[str, dict] = {}
        self.log = workdir / "server.log"

    def _cli(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "dispatch_api", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"dispatch_api {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )

    def prepare(self) -> None:
        self._cli("migrate")
        self._cli("seed", "--size", "small")

    def start(self, timeout: float = 40.0) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "dispatch_api.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def login(self, username: str, password: str | None = None) -> dict:
        """The token answer for ``username`` (cached: password hashing is slow on purpose)."""
        if username not in self._logins:
            response = httpx.post(
                f"{self.url}/api/v1/auth/token",
                data={"username": username, "password": password or username},
                timeout=10,
            )
            response.raise_for_status()
            self._logins[username] = response.json()
        return self._logins[username]

    def token(self, username: str, password: str | None = None) -> str:
        return self.login(username, password)["access_token"]

    def client(self, username: str, password: str | None = None) -> httpx.Client:
        """A plain httpx client logged in as ``username`` (for checking server state)."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token(username, password)}"},
            timeout=15,
        )


def create_job(
    server: LiveServer,
    *,
    technician: str = "tech01",
    day: str | None = None,
    title: str = "No sync on DSL line",
    start_hour: int = 9,
    items: list[dict] | None = None,
) -> dict:
    """A new job assigned to ``technician`` (as a dispatcher would), status dispatched."""
    import datetime as dt

    day = day or dt.date.today().isoformat()
    tech_id = server.login(technician)["technician_id"]
    with server.client("dispatcher") as http:
        created = http.post(
            "/api/v1/jobs",
            json={
                "source": "ticket",
                "kind": "repair",
                "title": title,
                "customer": {"name": "Marie Dubois", "phone": "+33 6 12 34 56 78"},
                "address": "12 Rue de la Paix, Paris",
                "location": {"lat": 48.869, "lon": 2.331},
                "territory": "north",
                "duration_min": 60,
                "skills": {},
                "time_windows": [],
                "sla_due": f"{day}T{start_hour + 3:02d}:00:00+00:00",
                "priority": 80,
                "items": items if items is not None else [{"sku": "ONT-G2", "quantity": 1}],
                "date": day,
            },
        )
        created.raise_for_status()
        job = created.json()
        assigned = http.patch(
            f"/api/v1/jobs/{job['id']}/assignment",
            headers={"If-Match": created.headers["etag"]},
            json={
                "technician_id": tech_id,
                "start": f"{day}T{start_hour:02d}:00:00+00:00",
                "pinned": False,
                "force": True,
            },
        )
        assigned.raise_for_status()
        return assigned.json()


def unassign(server: LiveServer, job_id: int) -> dict:
    """Take a job away from its technician (dispatcher action)."""
    with server.client("dispatcher") as http:
        current = http.get(f"/api/v1/jobs/{job_id}")
        current.raise_for_status()
        response = http.patch(
            f"/api/v1/jobs/{job_id}/assignment",
            headers={"If-Match": current.headers["etag"]},
            json={"technician_id": None, "start": None, "pinned": None, "force": True},
        )
        response.raise_for_status()
        return response.json()
