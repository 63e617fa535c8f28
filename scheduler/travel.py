"""Travel times behind one interface.

A travel model turns a list of points into two square integer matrices:
``durations`` (seconds) and ``distances`` (metres). Three models exist:

- :class:`Geodesic`: great-circle distance x a detour factor, driven at a constant
  speed, plus a fixed overhead per leg between distinct places (parking, walking in).
- :class:`OsrmTable`: the ``table`` service of an OSRM server (URL given by the caller).
- :class:`GivenMatrix`: matrices the caller already has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import numpy as np

from .model import Point

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres


class TravelModel(Protocol):
    """Anything that can produce (durations, distances) for a list of points."""

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]: ...


def haversine_matrix(points: Sequence[Point]) -> np.ndarray:
    """Great-circle distances in metres between every pair of points (vectorised)."""
    if len(points) == 0:
        return np.zeros((0, 0))
    lon = np.radians(np.array([p.lon for p in points], dtype=float))
    lat = np.radians(np.array([p.lat for p in points], dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True)
class Geodesic:
    """Straight-line distance stretched by ``detour`` and driven at ``speed_kmh``.

    ``stop_overhead`` seconds are added to every leg between two distinct places
    (finding a parking spot, walking to the door); a leg to the same place costs 0.
    """

    speed_kmh: float = 32.0
    detour: float = 1.35
    stop_overhead: int = 120

    def __post_init__(self) -> None:
        if not self.speed_kmh > 0:
            raise ValueError(f"speed_kmh must be > 0, got {self.speed_kmh}")
        if not self.detour >= 1.0:
            raise ValueError(f"detour must be >= 1, got {self.detour}")
        if self.stop_overhead < 0:
            raise ValueError(f"stop_overhead must be >= 0, got {self.stop_overhead}")

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        road = haversine_matrix(points) * self.detour
        seconds = road / (self.speed_kmh / 3.6)
        distinct = road > 0.5  # closer than half a metre counts as the same place
        durations = np.ceil(seconds) + np.where(distinct, self.stop_overhead, 0)
        return durations.astype(np.int64), np.rint(road).astype(np.int64)


@dataclass(frozen=True)
class GivenMatrix:
    """Matrices supplied by the caller; ``distances`` defaults to zeros."""

    durations: np.ndarray
    distances: np.ndarray | None = None

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        dur = _square_int(self.durations, "durations")
        dist = (
            np.zeros_like(dur)
            if self.distances is None
            else _square_int(self.distances, "distances")
        )
        if dist.shape != dur.shape:
            raise ValueError(f"distances has shape {dist.shape}, durations {dur.shape}")
        if points and len(points) != dur.shape[0]:
            raise ValueError(f"durations has {dur.shape[0]} rows for {len(points)} points")
        return dur, dist


class OsrmError(RuntimeError):
    """The OSRM server answered with an error or an unusable table."""


@dataclass(frozen=True)
class OsrmTable:
    """Client of OSRM's ``table`` service: ``GET {url}/table/v1/{profile}/{lon,lat;...}``.

    Requests ``annotations=duration,distance``. Unreachable pairs (null) become
    ``unreachable`` seconds so the solver never uses them. ``stop_overhead`` is added
    like in :class:`Geodesic`. ``transport`` lets tests plug in ``httpx.MockTransport``.
    """

    url: str
    profile: str = "driving"
    timeout: float = 30.0
    stop_overhead: int = 0
    unreachable: int = 10 * 86_400  # seconds standing in for "no road"
    transport: httpx.BaseTransport | None = None

    def matrices(self, points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
        n = len(points)
        if n == 0:
            return np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64)
        coords = ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)
        url = f"{self.url.rstrip('/')}/table/v1/{self.profile}/{coords}"
        try:
            with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                resp = client.get(url, params={"annotations": "duration,distance"})
        except httpx.HTTPError as exc:
            raise OsrmError(f"OSRM request to {self.url} failed: {exc}") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise OsrmError(f"OSRM answered HTTP {resp.status_code} without JSON") from exc
        if resp.status_code != 200 or body.get("code") != "Ok":
            raise OsrmError(f"OSRM error {body.get('code')}: {body.get('message', '')}".strip())
        dur = self._parse(body.get("durations"), n, "durations")
        dist = self._parse(body.get("distances"), n, "distances", required=False)
        if self.stop_overhead:
            dur = dur + np.where(np.eye(n, dtype=bool), 0, self.stop_overhead)
        return dur, dist

    def _parse(self, rows: object, n: int, name: str, required: bool = True) -> np.ndarray:
        if rows is None:
            if required:
                raise OsrmError(f"OSRM table has no '{name}'")
            return np.zeros((n, n), np.int64)
        if not isinstance(rows, list) or len(rows) != n or any(len(r) != n for r in rows):
            raise OsrmError(f"OSRM '{name}' is not a {n}x{n} table")
        out = np.empty((n, n), np.int64)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                out[i, j] = self.unreachable if v is None else math.ceil(float(v))
        return out


def _square_int(arr: object, name: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {a.shape}")
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
        raise ValueError(f"{name} must hold finite non-negative numbers")
    return np.ceil(a).astype(np.int64)


def build_matrix(
    points: Sequence[Point], model: TravelModel | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(durations in s, distances in m) for ``points`` with ``model`` (default: Geodesic)."""
    return (model or Geodesic()).matrices(points)
