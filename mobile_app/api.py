"""The technician app's only door to the dispatch API.

Every call here is blocking and must run off the UI thread (the outbox sender thread or the
app's worker pool). Errors are sorted into three kinds because the outbox treats them
differently: a :class:`TransientError` is retried later, a :class:`RejectedError` is shown to
the technician and never retried blindly, and an :class:`AuthError` pauses sending until the
technician logs in again.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx

API = "/api/v1"

#: HTTP statuses worth retrying with the same idempotency key: the server did not refuse the
#: action, it just could not take it now.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

ProgressFn = Callable[[int, int], None]


class ApiError(Exception):
    """A failed call; ``detail`` (also its ``str()``) says why in a human sentence."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str = "error",
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.body = body or {}


class TransientError(ApiError):
    """No answer, a 5xx or a 429: the action may be sent again with the same key."""


class RejectedError(ApiError):
    """The server refused the action (404, 409, 422, ...): retrying unchanged cannot help."""


class AuthError(RejectedError):
    """The token is missing, expired or revoked: the technician must log in again."""


def normalise_server(url: str) -> str:
    """Accept what a person types ("10.0.0.2:8000", trailing slashes) and return a base URL."""
    url = url.strip()
    if not url:
        raise ValueError("server: enter the server address, e.g. http://10.0.2.2:8000")
    if "://" not in url:
        url = "http://" + url
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"server: {url!r} is not an http(s) address")
    return url.rstrip("/")


def _error_from_response(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    if not isinstance(detail, str) or not detail:
        # FastAPI's own validation shape is a list; keep it readable anyway.
        if isinstance(detail, list) and detail:
            first = detail[0]
            loc = ".".join(str(p) for p in first.get("loc", []))
            detail = f"{loc}: {first.get('msg', 'invalid value')}"
        else:
            detail = f"The server answered {response.status_code} {response.reason_phrase}."
    code = str(body.get("code") or "error")
    status = response.status_code
    if status == 401:
        return AuthError(detail, status=status, code=code, body=body)
    if status in TRANSIENT_STATUSES:
        return TransientError(detail, status=status, code=code, body=body)
    return RejectedError(detail, status=status, code=code, body=body)


class _MultipartUpload:
    """A multipart body streamed in chunks so the UI can show upload progress.

    It is re-iterable: a retry after a dropped connection streams the file again.
    """

    CHUNK = 64 * 1024

    def __init__(
        self, path: str, fields: dict[str, str], progress: ProgressFn | None = None
    ) -> None:
        self.path = path
        self.progress = progress
        self.boundary = uuid.uuid4().hex
        ctype = mimetypes.guess_type(path)[0] or "application/octet-stream"
        name = os.path.basename(path).replace('"', "")
        head = b""
        for key, value in fields.items():
            head += (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                f"{value}\r\n"
            ).encode()
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()
        self.head = head
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.length = len(head) + os.path.getsize(path) + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        yield self.head
        sent += len(self.head)
        with open(self.path, "rb") as fh:
            while chunk := fh.read(self.CHUNK):
                sent += len(chunk)
                if self.progress:
                    self.progress(sent, self.length)
                yield chunk
        yield self.tail
        if self.progress:
            self.progress(self.length, self.length)


class ApiClient:
    """Blocking client for the dispatch API contract (docs/api.md).

    ``transport`` lets tests put a fake or a response-dropping proxy in front of the server.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.base_url = normalise_server(base_url)
        self.token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=5.0),
            headers={"Accept": "application/json", "User-Agent": "fieldplan-technician/1"},
        )

    def close(self) -> None:
        self._http.close()

    # -- plumbing -----------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if auth:
            if not self.token:
                raise AuthError("Log in first.", status=401, code="unauthorized")
            headers["Authorization"] = f"Bearer {self.token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError("The server did not answer in time.", code="timeout") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"No connection to the server ({type(exc).__name__}).", code="offline"
            ) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise TransientError(
                f"The server sent an unreadable answer to {method} {path}.", code="bad_response"
            ) from exc

    # -- session ------------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict[str, Any]:
        """Exchange credentials for a bearer token and keep it for later calls."""
        if not username.strip():
            raise ValueError("username: enter your user name")
        if not password:
            raise ValueError("password: enter your password")
        data = self._json(
            "POST",
            f"{API}/auth/token",
            auth=False,
            data={"username": username.strip(), "password": password},
        )
        token = data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise RejectedError("The server sent no token.", code="bad_response")
        self.token = token
        return data

    def me(self) -> dict[str, Any]:
        return self._json("GET", f"{API}/me")

    # -- reads --------------------------------------------------------------------------
    def my_jobs(self, day: date | str | None = None) -> list[dict[str, Any]]:
        params = {"date": str(day)} if day else {}
        return self._json("GET", f"{API}/me/jobs", params=params)

    def job(self, job_id: int) -> dict[str, Any]:
        return self._json("GET", f"{API}/jobs/{job_id}")

    def notes(self, job_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"{API}/jobs/{job_id}/notes")

    def photos(self, job_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"{API}/jobs/{job_id}/photos")

    def used_items(self, job_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"{API}/jobs/{job_id}/used-items")

    def my_stock(self) -> list[dict[str, Any]]:
        return self._json("GET", f"{API}/me/stock")

    def photo_bytes(self, photo: dict[str, Any]) -> bytes:
        """The image of an uploaded photo (by its ``url``, else ``/photos/{id}``)."""
        url = photo.get("url") or f"{API}/photos/{photo['id']}"
        if url.startswith(self.base_url):
            url = url[len(self.base_url) :]
        return self._request("GET", url).content

    # -- technician writes (all idempotent) ---------------------------------------------
    def post_event(self, job_id: int, payload: dict[str, Any], key: str) -> dict[str, Any]:
        return self._json("POST", f"{API}/jobs/{job_id}/events", json=payload, idempotency_key=key)

    def post_note(self, job_id: int, text: str, key: str) -> dict[str, Any]:
        return self._json(
            "POST", f"{API}/jobs/{job_id}/notes", json={"text": text}, idempotency_key=key
        )

    def post_used_item(self, job_id: int, payload: dict[str, Any], key: str) -> dict[str, Any]:
        return self._json(
            "POST", f"{API}/jobs/{job_id}/used-items", json=payload, idempotency_key=key
        )

    def post_locations(self, positions: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return self._json(
            "POST", f"{API}/me/location", json={"positions": positions}, idempotency_key=key
        )

    def post_photo(
        self,
        job_id: int,
        path: str,
        key: str,
        caption: str = "",
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        if not os.path.isfile(path):
            raise RejectedError(
                f"The photo file {os.path.basename(path)} is no longer on this device.",
                code="file_missing",
            )
        body = _MultipartUpload(path, {"caption": caption} if caption else {}, progress)
        return self._json(
            "POST",
            f"{API}/jobs/{job_id}/photos",
            content=body,
            headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
            idempotency_key=key,
        )

    def perform(
        self,
        kind: str,
        job_id: int | None,
        payload: dict[str, Any],
        key: str,
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        """Send one outbox action of ``kind`` with its stored idempotency key."""
        if kind == "event":
            return self.post_event(int(job_id or 0), payload, key)
        if kind == "note":
            return self.post_note(int(job_id or 0), payload["text"], key)
        if kind == "photo":
            return self.post_photo(
                int(job_id or 0), payload["path"], key, payload.get("caption", ""), progress
            )
        if kind == "used_item":
            return self.post_used_item(int(job_id or 0), payload, key)
        if kind == "location":
            return self.post_locations(payload["positions"], key)
        raise ValueError(f"kind: unknown action {kind!r}")
