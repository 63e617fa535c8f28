"""Streaming photo uploads: size limit while reading, real image check, durable storage.

The multipart body is parsed chunk by chunk as it arrives, so a 200 MB upload is refused
after a little more than the limit has been read, never buffered whole. The file part is
written to a temporary file next to its final place and hashed on the way (the hash is the
upload's fingerprint for idempotent retries, whose multipart boundaries differ).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# Caption and other small text fields: a caption is a sentence, not a document.
MAX_TEXT_FIELD_BYTES = 16 * 1024
# Multipart framing (boundaries, part headers) on top of the parts themselves.
FRAMING_ALLOWANCE = 64 * 1024
# Pillow refuses images above this many pixels (decompression bombs); 50 MP covers phones.
MAX_PIXELS = 50_000_000

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png"}


class UploadError(Exception):
    """A refused upload; ``status`` and ``code`` follow the API's error conventions."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field


@dataclass
class ReceivedFile:
    """A file part stored in a temporary file, with what we learned while reading it."""

    temp_path: Path
    filename: str
    declared_type: str
    size: int
    sha256: str


@dataclass
class ReceivedForm:
    """The parsed form: at most one file and the small text fields."""

    file: ReceivedFile | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the temporary file (a refused or replayed upload)."""
        if self.file is not None:
            self.file.temp_path.unlink(missing_ok=True)


@dataclass
class StoredImage:
    """A verified image at its final place under the data directory."""

    relative_path: str
    content_type: str
    width: int
    height: int
    image_format: str


class _FormCollector:
    """python-multipart callbacks that keep one file part on disk and text parts in memory."""

    def __init__(self, spool_dir: Path, file_field: str, max_file_bytes: int) -> None:
        self.spool_dir = spool_dir
        self.file_field = file_field
        self.max_file_bytes = max_file_bytes
        self.form = ReceivedForm()
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._text = bytearray()
        self._fh: object | None = None
        self._hash = hashlib.sha256()
        self._size = 0
        self._filename = ""
        self._temp_path: Path | None = None

    # -- python-multipart callbacks ------------------------------------------------------
    def on_part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._is_file = False
        self._text = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        raw_name = options.get(b"name")
        if raw_name is None:
            raise UploadError(422, "validation_error", "body: a multipart part has no name")
        self._name = raw_name.decode("utf-8", "replace")
        if b"filename" in options and self._name == self.file_field:
            if self.form.file is not None or self._temp_path is not None:
                raise UploadError(
                    422, "validation_error", f"body.{self.file_field}: send one file", "file"
                )
            self._is_file = True
            self._filename = options[b"filename"].decode("utf-8", "replace")
            fd, name = tempfile.mkstemp(prefix=".upload-", dir=self.spool_dir)
            self._temp_path = Path(name)
            self._fh = os.fdopen(fd, "wb")
            self._hash = hashlib.sha256()
            self._size = 0

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self._size += len(chunk)
            if self._size > self.max_file_bytes:
                raise UploadError(
                    413,
                    "payload_too_large",
                    f"body.{self.file_field}: the file is larger than "
                    f"{self.max_file_bytes // (1024 * 1024)} MB",
                    self.file_field,
                )
            self._hash.update(chunk)
            self._fh.write(chunk)  # type: ignore[attr-defined]
        else:
            if len(self._text) + len(chunk) > MAX_TEXT_FIELD_BYTES:
                raise UploadError(
                    413, "payload_too_large", f"body.{self._name}: the field is too long"
                )
            self._text.extend(chunk)

    def on_part_end(self) -> None:
        if self._is_file:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None
            declared = self._headers.get(b"content-type", b"application/octet-stream")
            assert self._temp_path is not None
            self.form.file = ReceivedFile(
                temp_path=self._temp_path,
                filename=self._filename,
                declared_type=declared.decode("latin-1"),
                size=self._size,
                sha256=self._hash.hexdigest(),
            )
        elif self._name is not None:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")
        self._is_file = False

    def abort(self) -> None:
        """Close and remove a half-written file after an error."""
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None
        if self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)


async def receive_form(
    *,
    content_type: str | None,
    content_length: str | None,
    stream: AsyncIterator[bytes],
    spool_dir: Path,
    file_field: str = "file",
    max_file_bytes: int = MAX_PHOTO_BYTES,
) -> ReceivedForm:
    """Parse a ``multipart/form-data`` body from ``stream`` without buffering it whole.

    Refuses with 413 as soon as the declared length or the bytes actually read exceed the
    limit, and with 422 when the body is not multipart form data.
    """
    ctype, params = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(
            422,
            "validation_error",
            f"body.{file_field}: send the photo as multipart/form-data",
            file_field,
        )
    max_body = max_file_bytes + MAX_TEXT_FIELD_BYTES + FRAMING_ALLOWANCE
    too_large = UploadError(
        413,
        "payload_too_large",
        f"body.{file_field}: the upload is larger than {max_file_bytes // (1024 * 1024)} MB",
        file_field,
    )
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            declared = None
        if declared is not None and declared > max_body:
            raise too_large
    spool_dir.mkdir(parents=True, exist_ok=True)
    collector = _FormCollector(spool_dir, file_field, max_file_bytes)
    parser = MultipartParser(
        params[b"boundary"],
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
        },
    )
    read = 0
    try:
        async for chunk in stream:
            read += len(chunk)
            if read > max_body:
                raise too_large
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except UploadError:
        collector.abort()
        collector.form.discard()
        raise
    except Exception as exc:  # python-multipart raises its own errors on malformed bodies
        collector.abort()
        collector.form.discard()
        raise UploadError(
            422, "validation_error", f"body: malformed multipart body ({exc})", None
        ) from exc
    if collector._fh is not None:  # the body ended inside the file part
        collector.abort()
        raise UploadError(422, "validation_error", "body: truncated multipart body")
    return collector.form


def verify_and_store(received: ReceivedFile, *, data_dir: Path, subdir: str) -> StoredImage:
    """Check that the upload really is a JPEG or PNG image and move it to its final place.

    The extension and the declared content type are ignored: only the bytes count. The
    temporary file is removed on refusal.
    """
    try:
        with Image.open(received.temp_path) as img:
            image_format = img.format or ""
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UploadError(
                    413,
                    "payload_too_large",
                    f"body.file: the image has more than {MAX_PIXELS // 1_000_000} megapixels",
                    "file",
                )
            img.verify()
    except UploadError:
        received.temp_path.unlink(missing_ok=True)
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        received.temp_path.unlink(missing_ok=True)
        raise UploadError(
            415, "unsupported_media_type", "body.file: the file is not a JPEG or PNG image", "file"
        ) from None
    if image_format not in CONTENT_TYPES:
        received.temp_path.unlink(missing_ok=True)
        raise UploadError(
            415,
            "unsupported_media_type",
            f"body.file: only JPEG and PNG images are accepted, not {image_format or 'this'}",
            "file",
        )
    relative = Path(subdir) / f"{uuid.uuid4().hex}{EXTENSIONS[image_format]}"
    target = data_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(received.temp_path, target)
    return StoredImage(
        relative_path=relative.as_posix(),
        content_type=CONTENT_TYPES[image_format],
        width=width,
        height=height,
        image_format=image_format,
    )
