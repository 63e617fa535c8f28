"""Request and response shapes of the workforce API (see docs/api.md)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.schemas import Instant

HHMM = Annotated[dt.time, PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)]
SkillName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
SkillLevel = Annotated[int, Field(ge=1, le=5)]
Role = Literal["admin", "dispatcher", "technician"]
# Database ids are 32-bit integers: larger numbers are a client error, not a crash.
DbId = Annotated[int, Field(ge=1, le=2_147_483_647)]
# Days the product plans for; keeps date arithmetic (day + 1) and SQL dates in range.
Day = Annotated[dt.date, Field(ge=dt.date(2000, 1, 1), le=dt.date(2999, 12, 31))]


class Strict(BaseModel):
    """Unknown fields are refused so a typo names itself instead of being ignored."""

    model_config = ConfigDict(extra="forbid")


# -- auth -------------------------------------------------------------------------------
class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: Role
    user_id: int
    technician_id: int | None
    expires_in: int


class MeOut(BaseModel):
    id: int
    username: str
    role: Role
    technician_id: int | None
    name: str


class UserCreate(Strict):
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]
    password: Annotated[str, StringConstraints(min_length=4, max_length=200)]
    role: Role
    name: str = ""


# -- technicians ------------------------------------------------------------------------
class Place(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = ""


class LatLon(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class BreakSpec(Strict):
    duration_min: int = Field(ge=0, le=240)
    earliest: HHMM | None = None
    latest: HHMM | None = None

    @model_validator(mode="after")
    def _order(self) -> BreakSpec:
        if self.earliest and self.latest and self.latest < self.earliest:
            raise ValueError("latest must not be before earliest")
        return self


class AbsenceSpec(Strict):
    start: Day
    end: Day
    reason: str = ""

    @model_validator(mode="after")
    def _order(self) -> AbsenceSpec:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


WorkingDay = Annotated[int, Field(ge=0, le=6)]


class TechnicianBase(Strict):
    skills: dict[SkillName, SkillLevel] = {}
    depot: str | None = None
    territory: str | None = None
    shift_start: HHMM = dt.time(8, 0)
    shift_end: HHMM = dt.time(17, 0)
    break_: BreakSpec | None = Field(default=None, alias="break")
    max_work_min: int | None = Field(default=None, gt=0, le=24 * 60)
    working_days: list[WorkingDay] = [0, 1, 2, 3, 4]
    absences: list[AbsenceSpec] = []
    cost_per_hour: float = Field(default=0.0, ge=0)
    active: bool = True

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TechnicianCreate(TechnicianBase):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    home_base: Place
    username: str | None = Field(default=None, min_length=2, max_length=80)
    password: str | None = Field(default=None, min_length=4, max_length=200)

    @model_validator(mode="after")
    def _shift(self) -> TechnicianCreate:
        if self.shift_end <= self.shift_start:
            raise ValueError("shift_end must be after shift_start")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


class TechnicianUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    home_base: Place | None = None
    skills: dict[SkillName, SkillLevel] | None = None
    depot: str | None = None
    territory: str | None = None
    shift_start: HHMM | None = None
    shift_end: HHMM | None = None
    break_: BreakSpec | None = Field(default=None, alias="break")
    max_work_min: int | None = Field(default=None, gt=0, le=24 * 60)
    working_days: list[WorkingDay] | None = None
    absences: list[AbsenceSpec] | None = None
    cost_per_hour: float | None = Field(default=None, ge=0)
    active: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TechnicianRead(BaseModel):
    id: int
    name: str
    username: str | None
    user_id: int | None
    skills: dict[str, int]
    home_base: Place
    depot: str | None
    territory: str | None
    shift_start: HHMM
    shift_end: HHMM
    break_: BreakSpec | None = Field(serialization_alias="break")
    max_work_min: int | None
    working_days: list[int]
    absences: list[AbsenceSpec]
    cost_per_hour: float
    active: bool
    version: int


# -- jobs -------------------------------------------------------------------------------
class Customer(Strict):
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=60)


class TimeWindowIn(Strict):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _order(self) -> TimeWindowIn:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class ItemIn(Strict):
    sku: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    quantity: int = Field(gt=0, le=10_000)


JobSource = Literal["order", "ticket", "maintenance", "construction", "manual"]


class JobCreate(Strict):
    reference: str | None = Field(default=None, min_length=1, max_length=80)
    source: JobSource = "manual"
    source_id: DbId | None = None
    kind: str = Field(default="repair", min_length=1, max_length=40)
    title: str = Field(default="", max_length=300)
    description: str = ""
    customer: Customer = Customer()
    address: str = Field(default="", max_length=300)
    location: LatLon
    territory: str | None = None
    duration_min: int = Field(gt=0, le=24 * 60)
    skills: dict[SkillName, SkillLevel] = {}
    time_windows: list[TimeWindowIn] = []
    sla_due: AwareDatetime | None = None
    priority: int = Field(default=50, ge=0, le=100)
    items: list[ItemIn] = []
    predecessor_ids: list[DbId] = []
    date: Day | None = None

    @field_validator("items")
    @classmethod
    def _unique_skus(cls, items: list[ItemIn]) -> list[ItemIn]:
        skus = [i.sku for i in items]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku may appear only once")
        return items


class JobUpdate(Strict):
    kind: str | None = Field(default=None, min_length=1, max_length=40)
    title: str | None = Field(default=None, max_length=300)
    description: str | None = None
    customer: Customer | None = None
    address: str | None = Field(default=None, max_length=300)
    location: LatLon | None = None
    territory: str | None = None
    duration_min: int | None = Field(default=None, gt=0, le=24 * 60)
    skills: dict[SkillName, SkillLevel] | None = None
    time_windows: list[TimeWindowIn] | None = None
    sla_due: AwareDatetime | None = None
    priority: int | None = Field(default=None, ge=0, le=100)
    items: list[ItemIn] | None = None
    predecessor_ids: list[DbId] | None = None
    date: Day | None = None


class TimeWindowOut(BaseModel):
    start: Instant
    end: Instant


class ItemOut(BaseModel):
    sku: str
    quantity: int


class AssignmentOut(BaseModel):
    technician_id: int
    technician_name: str
    planned_start: Instant
    planned_end: Instant
    travel_min: int
    sequence: int
    pinned: bool
    override: bool


class JobRead(BaseModel):
    id: int
    reference: str
    source: str
    source_id: int | None
    kind: str
    title: str
    description: str
    customer: Customer
    address: str
    location: LatLon
    territory: str | None
    duration_min: int
    skills: dict[str, int]
    time_windows: list[TimeWindowOut]
    sla_due: Instant | None
    priority: int
    items: list[ItemOut]
    predecessor_ids: list[int]
    status: str
    date: dt.date
    assignment: AssignmentOut | None
    incomplete_reason: str | None
    version: int
    created_at: Instant
    updated_at: Instant


class AssignmentPatch(Strict):
    """``technician_id: null`` unassigns; leaving it out keeps the current technician."""

    technician_id: DbId | None = None
    start: AwareDatetime | None = None
    pinned: bool | None = None
    force: bool = False


# -- optimisation runs and plans ----------------------------------------------------------
class RunCreate(Strict):
    date_from: Day
    date_to: Day | None = None
    territory: str | None = None
    technician_ids: list[DbId] | None = None
    time_limit_s: float = Field(default=30.0, gt=0, le=3600)
    seed: int = Field(default=0, ge=0, le=2_147_483_647)

    @model_validator(mode="after")
    def _range(self) -> RunCreate:
        if self.date_to is None:
            self.date_to = self.date_from
        if self.date_to < self.date_from:
            raise ValueError("date_to must not be before date_from")
        if (self.date_to - self.date_from).days > 13:
            raise ValueError("a run covers at most 14 days")
        return self


class RunProgress(BaseModel):
    percent: float
    best_cost: float | None


class RunRead(BaseModel):
    id: int
    status: str
    progress: RunProgress
    scope: dict[str, Any]
    kpis: dict[str, Any] | None
    plan_version_id: int | None
    error: str | None
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None


class PlanVersionRead(BaseModel):
    id: int
    status: str
    run_id: int | None
    date_from: dt.date
    date_to: dt.date
    kpis: dict[str, Any] | None
    created_at: Instant
    published_at: Instant | None
