"""Request and response shapes of the technician (field) endpoints (see docs/api.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from workforce.schemas import JobRead


def no_nul(value: str) -> str:
    """Text columns cannot store NUL characters; refuse them with the field's name."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


EventType = Literal["en_route", "on_site", "completed", "incomplete", "cancelled"]
Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(no_nul),
]
Serial = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(no_nul),
]


class Strict(BaseModel):
    """Unknown fields are refused so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class Position(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class EventCreate(Strict):
    type: EventType
    at: AwareDatetime
    position: Position | None = None
    # validate_default: the check below must run even when the field is left out.
    reason: Annotated[str | None, AfterValidator(lambda v: v if v is None else no_nul(v))] = Field(
        default=None, max_length=2000, validate_default=True
    )

    @field_validator("reason")
    @classmethod
    def _reason_for_incomplete(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = value.strip() if value is not None else None
        if info.data.get("type") == "incomplete" and not value:
            raise ValueError("an 'incomplete' event needs a reason")
        return value or None


class EventSummary(BaseModel):
    """One line of a job's status history."""

    id: int
    job_id: int
    type: str
    from_status: str
    at: dt.datetime
    received_at: dt.datetime
    position: Position | None
    reason: str | None


class EventRead(EventSummary):
    job: JobRead


class NoteCreate(Strict):
    text: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
        AfterValidator(no_nul),
    ]


class NoteRead(BaseModel):
    id: int
    job_id: int
    author: str
    author_id: int | None
    text: str
    created_at: dt.datetime


class PhotoRead(BaseModel):
    id: int
    job_id: int
    filename: str
    content_type: str
    size: int
    width: int
    height: int
    caption: str | None
    url: str
    sha256: str
    created_at: dt.datetime


class UsedItemCreate(Strict):
    sku: Sku
    quantity: int = Field(gt=0, le=10_000)
    serial_numbers: list[Serial] = Field(default=[], max_length=10_000)


class UsedItemRead(BaseModel):
    id: int
    job_id: int
    sku: str
    quantity: int
    serial_numbers: list[str]
    remaining: int
    movement_id: int
    created_at: dt.datetime


class StockLine(BaseModel):
    sku: str
    name: str
    quantity: int
    serialized: bool


class PositionFix(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    at: AwareDatetime


class LocationBatch(Strict):
    positions: list[PositionFix] = Field(min_length=1, max_length=1000)


class LocationAccepted(BaseModel):
    accepted: int
