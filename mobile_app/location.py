"""The technician's position while on shift, batched into the outbox.

plyer's GPS exists on Android and iOS only; on a desktop :meth:`LocationTracker.start` says
so and the app shows "GPS unavailable". Positions are collected in memory and written to the
outbox as one ``location`` action per batch, so a day of positions costs a few requests and
survives a dead network like any other action.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Position = dict[str, Any]


class LocationTracker:
    """Collect GPS fixes and hand them over in batches."""

    def __init__(
        self,
        flush_to: Callable[[list[Position]], None],
        *,
        batch_size: int = 20,
        max_age_s: float = 120.0,
        min_time_ms: int = 30_000,
        min_distance_m: float = 25.0,
    ) -> None:
        self.flush_to = flush_to
        self.batch_size = batch_size
        self.max_age_s = max_age_s
        self.min_time_ms = min_time_ms
        self.min_distance_m = min_distance_m
        self.last: Position | None = None
        self.running = False
        self.unavailable_reason = ""
        self._buffer: list[Position] = []
        self._first_at: float | None = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Start the platform GPS; False (with ``unavailable_reason``) where there is none."""
        try:
            from plyer import gps
            from plyer.utils import platform

            if platform not in ("android", "ios"):
                raise NotImplementedError(f"no GPS provider on {platform}")

            gps.configure(on_location=self._on_location, on_status=self._on_status)
            gps.start(minTime=self.min_time_ms, minDistance=self.min_distance_m)
        except (ImportError, NotImplementedError) as exc:
            self.unavailable_reason = f"GPS unavailable on this device ({type(exc).__name__})"
            return False
        except Exception as exc:  # permission refused, GPS switched off, ...
            self.unavailable_reason = f"GPS could not start: {exc}"
            return False
        self.running = True
        self.unavailable_reason = ""
        return True

    def stop(self) -> None:
        if self.running:
            try:
                from plyer import gps

                gps.stop()
            except Exception:  # stopping a GPS that never started is not an error
                pass
        self.running = False
        self.flush()

    def _on_status(self, stype: str, status: str) -> None:
        if stype == "provider-disabled":
            self.unavailable_reason = "Location is switched off on the phone"

    def _on_location(self, **kwargs: Any) -> None:
        self.add(
            float(kwargs["lat"]),
            float(kwargs["lon"]),
            float(kwargs.get("accuracy") or 0.0) or None,
        )

    def add(
        self, lat: float, lon: float, accuracy_m: float | None = None, at: datetime | None = None
    ) -> None:
        """Record one fix (from the GPS thread); flush when the batch is full or old."""
        position = {
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "accuracy_m": accuracy_m,
            "at": (at or datetime.now(UTC)).isoformat(),
        }
        with self._lock:
            self.last = position
            self._buffer.append(position)
            if self._first_at is None:
                self._first_at = time.monotonic()
            due = len(self._buffer) >= self.batch_size or (
                time.monotonic() - self._first_at >= self.max_age_s
            )
        if due:
            self.flush()

    def flush(self) -> int:
        """Hand the buffered positions over as one batch; returns how many."""
        with self._lock:
            batch, self._buffer, self._first_at = self._buffer, [], None
        if batch:
            self.flush_to(batch)
        return len(batch)

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer)
