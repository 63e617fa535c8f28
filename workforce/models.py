"""ORM classes of the workforce module (tables only; API shapes live in schemas.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

JOB_STATUSES = ("open", "dispatched", "en_route", "on_site", "completed", "incomplete", "cancelled")
ACTIVE_JOB_STATUSES = ("en_route", "on_site")  # in progress: the optimiser keeps them pinned
CLOSED_JOB_STATUSES = ("completed", "incomplete", "cancelled")
JOB_SOURCES = ("order", "ticket", "maintenance", "construction", "manual")
RUN_STATUSES = ("queued", "running", "succeeded", "failed")
PLAN_STATUSES = ("draft", "published", "discarded")


class User(Base):
    """A login. Technicians have a linked :class:`Technician` row."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    technician: Mapped[Technician | None] = relationship(back_populates="user", uselist=False)


class Territory(Base):
    """A named service area; ``polygon`` is a ring of ``[lon, lat]`` pairs (optional)."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    polygon: Mapped[list[list[float]] | None] = mapped_column(JSON, nullable=True)


class Technician(Base):
    """A field technician with a weekly working pattern, skills and a van."""

    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(200))
    home_lat: Mapped[float] = mapped_column(Float)
    home_lon: Mapped[float] = mapped_column(Float)
    home_address: Mapped[str] = mapped_column(String(300), default="")
    depot: Mapped[str | None] = mapped_column(String(120), nullable=True)
    territory: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    # Weekly pattern in the operator's time zone (FWS_TIMEZONE).
    shift_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    shift_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(17, 0))
    break_duration_min: Mapped[int] = mapped_column(Integer, default=30)
    break_earliest: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    break_latest: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    max_work_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    working_days: Mapped[list[int]] = mapped_column(JSON, default=lambda: [0, 1, 2, 3, 4])
    cost_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User | None] = relationship(back_populates="technician")
    skills: Mapped[list[TechnicianSkill]] = relationship(
        cascade="all, delete-orphan", order_by="TechnicianSkill.skill"
    )
    absences: Mapped[list[Absence]] = relationship(
        cascade="all, delete-orphan", order_by="Absence.start"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def skill_map(self) -> dict[str, int]:
        return {s.skill: s.level for s in self.skills}


class TechnicianSkill(Base):
    __tablename__ = "technician_skills"
    __table_args__ = (UniqueConstraint("technician_id", "skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    skill: Mapped[str] = mapped_column(String(60), index=True)
    level: Mapped[int] = mapped_column(Integer, default=1)


class Absence(Base):
    """Whole days off, ``start`` to ``end`` inclusive."""

    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")


job_predecessors = Table(
    "job_predecessors",
    Base.metadata,
    Column("job_id", ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("predecessor_id", ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
)


class Job(Base):
    """A unit of field work from one of the sources (order, ticket, maintenance, ...)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_date_status", "date", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(80), unique=True)
    source: Mapped[str] = mapped_column(String(20), default="manual", index=True)
    source_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(40), default="repair")
    title: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    customer_name: Mapped[str] = mapped_column(String(200), default="")
    customer_phone: Mapped[str] = mapped_column(String(60), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    territory: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    duration_min: Mapped[int] = mapped_column(Integer)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    sla_due: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    date: Mapped[dt.date] = mapped_column(Date)  # the day it is planned for (ix_jobs_date_status)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    incomplete_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    skills: Mapped[list[JobSkill]] = relationship(
        cascade="all, delete-orphan", order_by="JobSkill.skill"
    )
    time_windows: Mapped[list[JobTimeWindow]] = relationship(
        cascade="all, delete-orphan", order_by="JobTimeWindow.start"
    )
    items: Mapped[list[JobItem]] = relationship(
        cascade="all, delete-orphan", order_by="JobItem.sku"
    )
    predecessors: Mapped[list[Job]] = relationship(
        secondary=job_predecessors,
        primaryjoin=lambda: Job.id == job_predecessors.c.job_id,
        secondaryjoin=lambda: Job.id == job_predecessors.c.predecessor_id,
    )
    assignment: Mapped[Assignment | None] = relationship(
        back_populates="job", uselist=False, cascade="all, delete-orphan"
    )

    # Every UPDATE of the row bumps ``version`` and checks the old value: a concurrent
    # writer gets StaleDataError (-> 412) instead of silently overwriting.
    __mapper_args__ = {"version_id_col": version}

    @property
    def skill_map(self) -> dict[str, int]:
        return {s.skill: s.level for s in self.skills}

    @property
    def item_map(self) -> dict[str, int]:
        return {i.sku: i.quantity for i in self.items}


class JobSkill(Base):
    __tablename__ = "job_skills"
    __table_args__ = (UniqueConstraint("job_id", "skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(60))
    level: Mapped[int] = mapped_column(Integer, default=1)


class JobTimeWindow(Base):
    """Service must start within [start, end]."""

    __tablename__ = "job_time_windows"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class JobItem(Base):
    """Stock a job is expected to consume (SKU and quantity)."""

    __tablename__ = "job_items"
    __table_args__ = (UniqueConstraint("job_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(60))
    quantity: Mapped[int] = mapped_column(Integer, default=1)


class Assignment(Base):
    """The current assignment of a job (at most one); history lives in plan versions."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    technician_id: Mapped[int] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE"), index=True
    )
    planned_start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    planned_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    travel_min: Mapped[int] = mapped_column(Integer, default=0)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    plan_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="SET NULL"), nullable=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    job: Mapped[Job] = relationship(back_populates="assignment")
    technician: Mapped[Technician] = relationship()


class OptimizationRun(Base):
    """One optimiser run over a scope (dates, optional territory and technicians)."""

    __tablename__ = "optimization_runs"
    __table_args__ = (Index("ix_optimization_runs_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    territory: Mapped[str | None] = mapped_column(String(80), nullable=True)
    technician_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    time_limit_s: Mapped[float] = mapped_column(Float, default=30.0)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    progress_percent: Mapped[float] = mapped_column(Float, default=0.0)
    best_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    kpis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    plan_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PlanVersion(Base):
    """A complete plan for a scope, written in one transaction when a run succeeds."""

    __tablename__ = "plan_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("optimization_runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="draft")
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    kpis: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Job versions when the run read them: publish refuses jobs changed since.
    job_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    published_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    routes: Mapped[list[PlanRoute]] = relationship(cascade="all, delete-orphan")
    visits: Mapped[list[PlanVisit]] = relationship(
        cascade="all, delete-orphan", order_by="(PlanVisit.technician_id, PlanVisit.sequence)"
    )
    unassigned: Mapped[list[PlanUnassigned]] = relationship(cascade="all, delete-orphan")


class PlanRoute(Base):
    """One technician-day of a plan: when they leave, return, drive and take breaks."""

    __tablename__ = "plan_routes"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="CASCADE"), index=True
    )
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    travel_min: Mapped[int] = mapped_column(Integer, default=0)
    breaks: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class PlanVisit(Base):
    __tablename__ = "plan_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"))
    date: Mapped[dt.date] = mapped_column(Date)
    sequence: Mapped[int] = mapped_column(Integer)
    arrival: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    start: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    travel_min: Mapped[int] = mapped_column(Integer, default=0)
    wait_min: Mapped[int] = mapped_column(Integer, default=0)
    late_min: Mapped[int] = mapped_column(Integer, default=0)


class PlanUnassigned(Base):
    __tablename__ = "plan_unassigned"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_version_id: Mapped[int] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """Who did what: overrides, publications, deletions."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
