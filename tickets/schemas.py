"""Request and response shapes of the tickets module."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.schemas import Instant
from workforce.schemas import Day, DbId, ItemIn, LatLon, SkillLevel, SkillName, TimeWindowIn


class TicketCreate(BaseModel):
    """A fault, a maintenance check or a construction task; it becomes one job."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["repair", "maintenance", "construction"] = "repair"
    reference: str | None = Field(default=None, min_length=1, max_length=80)
    customer_id: DbId | None = None
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    address: str = Field(default="", max_length=300)
    location: LatLon
    territory: str | None = None
    priority: int = Field(default=60, ge=0, le=100)
    sla_due: AwareDatetime | None = None
    duration_min: int = Field(default=60, gt=0, le=24 * 60)
    skills: dict[SkillName, SkillLevel] = {}
    time_windows: list[TimeWindowIn] = []
    items: list[ItemIn] = []
    predecessor_job_ids: list[DbId] = []
    date: Day | None = None


class TicketRead(BaseModel):
    id: int
    reference: str
    kind: str
    customer_id: int | None
    title: str
    description: str
    address: str
    location: LatLon
    priority: int
    sla_due: Instant | None
    status: str
    job_id: int | None
    created_at: Instant
    resolved_at: Instant | None


TicketStatus = Annotated[
    Literal["open", "scheduled", "resolved", "unresolved", "cancelled"], Field()
]
