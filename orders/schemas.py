"""Request and response shapes of the orders module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.schemas import Instant
from workforce.schemas import Day, DbId, LatLon, SkillLevel, SkillName, TimeWindowIn


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=120)
    sku: str | None = Field(default=None, min_length=1, max_length=60)
    quantity: int = Field(default=1, gt=0, le=1000)
    install: bool = True


class OrderCreate(BaseModel):
    """An order; its installation lines become one installation job at the customer's."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, min_length=1, max_length=80)
    customer_id: DbId
    lines: list[OrderLineIn] = Field(min_length=1)
    address: str | None = Field(default=None, max_length=300)
    location: LatLon | None = None
    territory: str | None = None
    duration_min: int = Field(default=60, gt=0, le=24 * 60)
    skills: dict[SkillName, SkillLevel] = {"ftth_install": 1}
    time_windows: list[TimeWindowIn] = []
    priority: int = Field(default=50, ge=0, le=100)
    date: Day | None = None


class OrderLineRead(BaseModel):
    id: int
    product: str
    sku: str | None
    quantity: int
    install: bool
    status: str
    job_id: int | None


class OrderRead(BaseModel):
    id: int
    reference: str
    customer_id: int
    status: str
    job_id: int | None
    lines: list[OrderLineRead]
    created_at: Instant
