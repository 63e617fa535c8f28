"""Photo uploads: real images only, 10 MB at most, stored and downloadable byte for byte."""

from __future__ import annotations

import os

from fieldwork.uploads import MAX_PHOTO_BYTES


def _upload(field, name: str, payload: bytes, ctype: str, caption: str | None = None, job_id=None):
    data = {"caption": caption} if caption is not None else None
    return field.client.post(
        f"/api/v1/jobs/{job_id or field.job.id}/photos",
        files={"file": (name, payload, ctype)},
        data=data,
        headers=field.headers,
    )


def test_png_and_jpeg_are_stored_listed_and_downloadable(field, make_image) -> None:
    png = make_image("PNG", size=(40, 30))
    jpeg = make_image("JPEG", size=(120, 80))
    r1 = _upload(field, "meter.png", png, "image/png", caption="Meter reading")
    assert r1.status_code == 201, r1.text
    p1 = r1.json()
    assert (p1["content_type"], p1["width"], p1["height"], p1["size"]) == (
        "image/png",
        40,
        30,
        len(png),
    )
    assert p1["caption"] == "Meter reading" and p1["filename"] == "meter.png"
    # The declared type does not matter, the bytes do.
    r2 = _upload(field, "cabinet", jpeg, "application/octet-stream")
    assert r2.status_code == 201, r2.text
    assert r2.json()["content_type"] == "image/jpeg"

    listed = field.get(f"/jobs/{field.job.id}/photos").json()
    assert [p["id"] for p in listed] == [p1["id"], r2.json()["id"]]
    for photo, original, ctype in ((p1, png, "image/png"), (r2.json(), jpeg, "image/jpeg")):
        d = field.client.get(photo["url"], headers=field.headers)
        assert d.status_code == 200
        assert d.content == original
        assert d.headers["content-type"] == ctype
    # A colleague cannot download it; a dispatcher can.
    assert field.client.get(p1["url"], headers=field.other_headers).status_code == 404
    assert field.client.get(p1["url"], headers=field.auth_headers("dispatcher")).status_code == 200
    assert field.get("/photos/987654").status_code == 404
    # No temporary files are left behind.
    incoming = field.client.app.state.settings.data_dir / "photos" / ".incoming"
    assert list(incoming.iterdir()) == []


def test_a_text_file_named_jpg_is_refused(field) -> None:
    r = _upload(field, "photo.jpg", b"this is not an image\n" * 50, "image/jpeg")
    assert r.status_code == 415
    assert r.json()["code"] == "unsupported_media_type"
    assert r.json()["detail"].startswith("body.file")
    assert field.get(f"/jobs/{field.job.id}/photos").json() == []


def test_other_image_formats_are_refused(field, make_image) -> None:
    r = _upload(field, "x.gif", make_image("GIF"), "image/gif")
    assert r.status_code == 415 and "GIF" in r.json()["detail"]


def test_a_truncated_image_is_refused(field, make_image) -> None:
    jpeg = make_image("JPEG", size=(300, 300))
    r = _upload(field, "half.jpg", jpeg[:200], "image/jpeg")
    assert r.status_code == 415


def test_more_than_10_mb_is_refused_while_streaming(field) -> None:
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(MAX_PHOTO_BYTES)
    r = _upload(field, "big.png", big, "image/png")
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"

    # Without a Content-Length header the limit is enforced on the bytes read.
    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        yield b"Content-Type: image/png\r\n\r\n"
        for _ in range(12):
            yield b"\0" * (1024 * 1024)
        yield b"\r\n--b--\r\n"

    r = field.client.post(
        f"/api/v1/jobs/{field.job.id}/photos",
        content=chunks(),
        headers={**field.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    incoming = field.client.app.state.settings.data_dir / "photos" / ".incoming"
    assert list(incoming.iterdir()) == []


def test_malformed_uploads_name_the_field(field) -> None:
    for kwargs in (
        {"data": {"caption": "no file"}},
        {"json": {"file": "abc"}},
        {"files": {"other": ("a.png", b"x", "image/png")}},
        {
            "files": {"file": ("a.png", b"x", "image/png")},
            "data": {"caption": "c" * 2001},
        },
    ):
        r = field.client.post(
            f"/api/v1/jobs/{field.job.id}/photos", headers=field.headers, **kwargs
        )
        assert r.status_code == 422, (kwargs, r.text)
        assert r.json()["code"] == "validation_error"
        assert r.json()["detail"].startswith("body"), r.json()
