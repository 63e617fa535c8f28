"""Request and response shapes of the stock endpoints (dispatchers and admins)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def no_nul(value: str) -> str:
    """Text columns cannot store NUL characters; refuse them with the field's name."""
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(no_nul),
]
Text = Annotated[str, AfterValidator(no_nul)]
LocationKind = Literal["warehouse", "depot", "van"]
# Database ids are 32-bit.
MAX_ID = 2_147_483_647


class Strict(BaseModel):
    """Unknown fields are refused so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


class ItemCreate(Strict):
    sku: Sku
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(no_nul),
    ]
    serialized: bool = False
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] = (
        "pcs"
    )


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    sku: str
    name: str
    serialized: bool
    unit: str


class LocationCreate(Strict):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(no_nul),
    ]
    kind: LocationKind
    technician_id: int | None = Field(default=None, gt=0, le=MAX_ID)


class LocationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    kind: str
    technician_id: int | None


class LevelRead(BaseModel):
    location_id: int
    item_id: int
    sku: str
    name: str
    serialized: bool
    quantity: int


class MovementCreate(Strict):
    """A receipt (into ``to_location_id``), a transfer (both) or an adjustment (exactly one
    side, with a ``reason``). Consumption is recorded as used items on a job."""

    kind: Literal["receipt", "transfer", "adjustment"]
    sku: Sku
    quantity: int = Field(gt=0, le=1_000_000)
    from_location_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    to_location_id: int | None = Field(default=None, gt=0, le=MAX_ID)
    reason: Text | None = Field(default=None, max_length=2000)
    serial_numbers: list[
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
            AfterValidator(no_nul),
        ]
    ] = Field(default=[], max_length=10_000)


class MovementRead(BaseModel):
    id: int
    kind: str
    sku: str
    item_id: int
    quantity: int
    from_location_id: int | None
    to_location_id: int | None
    job_id: int | None
    serial_numbers: list[str]
    reason: str | None
    created_by: int | None
    created_at: dt.datetime
