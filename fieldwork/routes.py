"""Technician (field) endpoints: thin handlers over fieldwork.service.

Every write accepts an ``Idempotency-Key`` header and goes through
:func:`core.idempotency.run_idempotent`, which stores the response in the same
transaction as the effect.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from pathlib import Path as FsPath
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response

from core.db import session_scope
from core.deps import SessionDep, SettingsDep
from core.errors import ApiError, NotFound, ValidationFailed
from core.idempotency import HEADER, REPLAY_HEADER, run_idempotent
from core.schemas import jsonable
from fieldwork import schemas, service
from fieldwork.models import JobEvent, JobNote, JobPhoto, UsedItem
from fieldwork.uploads import ReceivedForm, UploadError, receive_form, verify_and_store
from stock import service as stock_service
from workforce.deps import CurrentUser, oauth2_scheme, user_from_token
from workforce.models import Job
from workforce.schemas import JobRead
from workforce.service import job_to_dict

router = APIRouter(tags=["field"])
# The status-event write on a router of its own, which the app mounts before every other
# router: the busiest request of the API then matches after a handful of routes, not
# after the whole API's (FastAPI tries routes one by one).
events_router = APIRouter(tags=["field"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description="Send a fresh UUID per action and the same one on every retry of it.",
    ),
]
MAX_CAPTION = 2000
# Database ids are 32-bit: a larger number names the parameter instead of reaching SQL.
MAX_ID = 2_147_483_647
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]
PhotoId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _job_out(job: Job) -> JobRead:
    return JobRead.model_validate(job_to_dict(job))


def _note_out(note: JobNote) -> schemas.NoteRead:
    return schemas.NoteRead(
        id=note.id,
        job_id=note.job_id,
        author=note.author_name,
        author_id=note.author_id,
        text=note.text,
        created_at=note.created_at,
    )


def _photo_out(photo: JobPhoto) -> schemas.PhotoRead:
    return schemas.PhotoRead(
        id=photo.id,
        job_id=photo.job_id,
        filename=photo.filename,
        content_type=photo.content_type,
        size=photo.size,
        width=photo.width,
        height=photo.height,
        caption=photo.caption,
        url=f"/api/v1/photos/{photo.id}",
        sha256=photo.sha256,
        created_at=photo.created_at,
    )


def _used_out(used: UsedItem) -> schemas.UsedItemRead:
    return schemas.UsedItemRead(
        id=used.id,
        job_id=used.job_id,
        sku=used.sku,
        quantity=used.quantity,
        serial_numbers=list(used.serial_numbers or []),
        remaining=used.remaining,
        movement_id=used.movement_id,
        created_at=used.created_at,
    )


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


# -- my day -----------------------------------------------------------------------------
@router.get("/me/jobs", response_model=list[JobRead])
def my_jobs(
    db: SessionDep, settings: SettingsDep, user: CurrentUser, date: dt.date | None = None
) -> list[JobRead]:
    """The technician's jobs of ``date`` (default: today in the operator's time zone)."""
    tech = service.technician_of(db, user=user)
    day = date or dt.datetime.now(ZoneInfo(settings.timezone)).date()
    return [_job_out(j) for j in service.my_jobs(db, technician_id=tech.id, day=day)]


@router.get("/me/stock", response_model=list[schemas.StockLine])
def my_stock(db: SessionDep, user: CurrentUser) -> list[schemas.StockLine]:
    """What is in the technician's van now."""
    tech = service.technician_of(db, user=user)
    return [
        schemas.StockLine(sku=item.sku, name=item.name, quantity=qty, serialized=item.serialized)
        for item, qty in stock_service.van_stock_rows(db, technician_id=tech.id)
    ]


@router.post("/me/location", response_model=schemas.LocationAccepted, status_code=202)
def post_location(
    body: schemas.LocationBatch,
    request: Request,
    db: SessionDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A batch of GPS fixes from the phone (possibly queued while offline)."""
    tech = service.technician_of(db, user=user)
    return run_idempotent(
        db,
        user_id=user.id,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        payload=_dump(body),
        status_code=202,
        action=lambda: {
            "accepted": service.record_positions(db, technician_id=tech.id, fixes=body.positions)
        },
    )


# -- status events ----------------------------------------------------------------------
@events_router.post(
    "/jobs/{job_id}/events",
    response_model=schemas.EventRead,
    status_code=201,
    responses={409: {"description": "invalid_transition: `current_status` and `allowed`"}},
)
async def post_event(
    job_id: JobId,
    body: schemas.EventCreate,
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A technician's status change (the busiest write of the API).

    On PostgreSQL the common case never reaches this route: ``fieldwork.fastlane``
    answers it in front of the framework. What comes here (every request on SQLite, and
    on PostgreSQL the ones that need an exact 4xx, a replay or a handler) runs its whole
    unit of work in a single worker-thread hop, committed before the response.
    """
    payload = body.model_dump(mode="json")
    return await run_in_threadpool(
        _post_event_unit_of_work,
        request.app.state,
        token,
        job_id,
        body,
        payload,
        request.scope["path"],
        idempotency_key,
    )


def _post_event_unit_of_work(
    state: Any,
    token: str | None,
    job_id: int,
    body: schemas.EventCreate,
    payload: dict[str, Any],
    path: str,
    key: str | None,
) -> Response:
    with contextmanager(session_scope)(state.database) as db:
        user = user_from_token(db, state.settings, token)

        def action() -> Any:
            event, job = service.record_event(db, user=user, job_id=job_id, body=body)
            return service.event_body(
                event_id=event.id,
                job_id=event.job_id,
                payload=payload,
                from_status=event.from_status,
                received_at=event.received_at,
                job=jsonable(job_to_dict(job)),
            )

        return run_idempotent(
            db,
            user_id=user.id,
            key=key,
            method="POST",
            path=path,
            payload=payload,
            status_code=201,
            action=action,
        )


@router.get("/jobs/{job_id}/events", response_model=list[schemas.EventSummary])
def list_events(job_id: JobId, db: SessionDep, user: CurrentUser) -> list[schemas.EventSummary]:
    """The job's status history, oldest first."""
    return [
        schemas.EventSummary(
            id=e.id,
            job_id=e.job_id,
            type=e.type,
            from_status=e.from_status,
            at=e.at,
            received_at=e.received_at,
            position=None
            if e.lat is None or e.lon is None
            else schemas.Position(lat=e.lat, lon=e.lon, accuracy_m=e.accuracy_m),
            reason=e.reason,
        )
        for e in service.list_for_job(db, user=user, job_id=job_id, model=JobEvent)
    ]


# -- notes ------------------------------------------------------------------------------
@router.post("/jobs/{job_id}/notes", response_model=schemas.NoteRead, status_code=201)
def post_note(
    job_id: JobId,
    body: schemas.NoteCreate,
    request: Request,
    db: SessionDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return run_idempotent(
        db,
        user_id=user.id,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        payload=_dump(body),
        status_code=201,
        action=lambda: _dump(
            _note_out(service.add_note(db, user=user, job_id=job_id, text=body.text))
        ),
    )


@router.get("/jobs/{job_id}/notes", response_model=list[schemas.NoteRead])
def list_notes(job_id: JobId, db: SessionDep, user: CurrentUser) -> list[schemas.NoteRead]:
    return [_note_out(n) for n in service.list_for_job(db, user=user, job_id=job_id, model=JobNote)]


# -- photos -----------------------------------------------------------------------------
def _as_api_error(exc: UploadError) -> ApiError:
    extra = {"field": exc.field} if exc.field else {}
    return ApiError(exc.detail, code=exc.code, status_code=exc.status, **extra)


def _photo_job(job_id: JobId, db: SessionDep, user: CurrentUser) -> int:
    """Check access before reading the upload: no one streams 10 MB to learn of a 404."""
    service.job_for_user(db, user=user, job_id=job_id, full=False)
    return job_id


async def _received_form(
    request: Request, _job: Annotated[int, Depends(_photo_job)]
) -> ReceivedForm:
    settings = request.app.state.settings
    try:
        return await receive_form(
            content_type=request.headers.get("content-type"),
            content_length=request.headers.get("content-length"),
            stream=request.stream(),
            spool_dir=FsPath(settings.data_dir) / "photos" / ".incoming",
            max_file_bytes=settings.max_upload_bytes,
        )
    except UploadError as exc:
        raise _as_api_error(exc) from None


_PHOTO_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "JPEG or PNG, at most 10 MB",
                        },
                        "caption": {"type": "string", "maxLength": MAX_CAPTION},
                    },
                }
            }
        },
    }
}


@router.post(
    "/jobs/{job_id}/photos",
    response_model=schemas.PhotoRead,
    status_code=201,
    openapi_extra=_PHOTO_FORM,
    responses={413: {"description": "payload_too_large"}, 415: {"description": "not an image"}},
)
def post_photo(
    job_id: JobId,
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    form: Annotated[ReceivedForm, Depends(_received_form)],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Upload a photo (multipart field ``file``, optional ``caption``)."""
    try:
        received = form.file
        if received is None:
            raise ValidationFailed("body.file: Field required", field="file")
        caption = (form.fields.get("caption") or "").strip() or None
        if caption is not None and "\x00" in caption:
            raise ValidationFailed("body.caption: NUL characters are not allowed", field="caption")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise ValidationFailed(
                f"body.caption: at most {MAX_CAPTION} characters", field="caption"
            )

        stored_files: list[FsPath] = []

        def action() -> Any:
            try:
                stored = verify_and_store(
                    received, data_dir=FsPath(settings.data_dir), subdir=f"photos/{job_id}"
                )
            except UploadError as exc:
                raise _as_api_error(exc) from None
            stored_files.append(FsPath(settings.data_dir) / stored.relative_path)
            photo = service.add_photo(
                db, user=user, job_id=job_id, received=received, stored=stored, caption=caption
            )
            return _dump(_photo_out(photo))

        # The fingerprint is the content, not the raw body: a retry has a new boundary.
        payload = {
            "sha256": received.sha256,
            "size": received.size,
            "filename": received.filename,
            "caption": caption,
        }
        try:
            response = run_idempotent(
                db,
                user_id=user.id,
                key=idempotency_key,
                method=request.method,
                path=request.url.path,
                payload=payload,
                status_code=201,
                action=action,
            )
        except BaseException:
            for path in stored_files:  # the row was not written: neither is the file
                path.unlink(missing_ok=True)
            raise
        if response.headers.get(REPLAY_HEADER) == "true":
            for path in stored_files:  # a retry's copy; the first upload's file stays
                path.unlink(missing_ok=True)
        return response
    finally:
        form.discard()


@router.get("/jobs/{job_id}/photos", response_model=list[schemas.PhotoRead])
def list_photos(job_id: JobId, db: SessionDep, user: CurrentUser) -> list[schemas.PhotoRead]:
    photos = service.list_for_job(db, user=user, job_id=job_id, model=JobPhoto)
    return [_photo_out(p) for p in photos]


@router.get(
    "/photos/{photo_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
def download_photo(
    photo_id: PhotoId, db: SessionDep, settings: SettingsDep, user: CurrentUser
) -> FileResponse:
    photo = service.photo_for_user(db, user=user, photo_id=photo_id)
    path = FsPath(settings.data_dir) / photo.storage_path
    if not path.is_file():
        raise NotFound(f"The file of photo {photo_id} is missing from the data directory.")
    return FileResponse(
        path,
        media_type=photo.content_type,
        filename=photo.filename,
        content_disposition_type="inline",
    )


# -- used items -------------------------------------------------------------------------
@router.post(
    "/jobs/{job_id}/used-items",
    response_model=schemas.UsedItemRead,
    status_code=201,
    responses={409: {"description": "insufficient_stock: `sku` and `available`"}},
)
def post_used_item(
    job_id: JobId,
    body: schemas.UsedItemCreate,
    request: Request,
    db: SessionDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Book material fitted at the job out of the van (never below zero)."""
    return run_idempotent(
        db,
        user_id=user.id,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        payload=_dump(body),
        status_code=201,
        action=lambda: _dump(
            _used_out(service.record_used_item(db, user=user, job_id=job_id, body=body))
        ),
    )


@router.get("/jobs/{job_id}/used-items", response_model=list[schemas.UsedItemRead])
def list_used_items(job_id: JobId, db: SessionDep, user: CurrentUser) -> list[schemas.UsedItemRead]:
    used = service.list_for_job(db, user=user, job_id=job_id, model=UsedItem)
    return [_used_out(u) for u in used]
