"""The job status state machine.

One table of legal moves, shared by the technician endpoints (field events), the
dispatcher's assignment changes and the plan publisher, so that no code path can put a
job into a state the others do not expect.

    open -> dispatched -> en_route -> on_site -> completed | incomplete (reason required)
    dispatched | en_route | on_site -> cancelled
    dispatched -> open (unassigned by a dispatcher)
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN = "open"
DISPATCHED = "dispatched"
EN_ROUTE = "en_route"
ON_SITE = "on_site"
COMPLETED = "completed"
INCOMPLETE = "incomplete"
CANCELLED = "cancelled"

STATUSES: tuple[str, ...] = (
    OPEN,
    DISPATCHED,
    EN_ROUTE,
    ON_SITE,
    COMPLETED,
    INCOMPLETE,
    CANCELLED,
)

# Every legal move, in the order clients should offer them.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    OPEN: (DISPATCHED,),
    DISPATCHED: (EN_ROUTE, CANCELLED, OPEN),
    EN_ROUTE: (ON_SITE, CANCELLED),
    ON_SITE: (COMPLETED, INCOMPLETE, CANCELLED),
    COMPLETED: (),
    INCOMPLETE: (),
    CANCELLED: (),
}

# The moves a field event may make; assigning and unassigning belong to dispatchers.
FIELD_EVENTS: tuple[str, ...] = (EN_ROUTE, ON_SITE, COMPLETED, INCOMPLETE, CANCELLED)

TERMINAL: frozenset[str] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

# Statuses in which the work is underway: the plan publisher leaves such jobs alone.
IN_PROGRESS: frozenset[str] = frozenset({EN_ROUTE, ON_SITE})


class InvalidTransition(Exception):
    """A requested status change is not allowed from the current status."""

    def __init__(self, current: str, requested: str, allowed: tuple[str, ...]) -> None:
        self.current_status = current
        self.requested = requested
        self.allowed = list(allowed)
        hint = f"allowed next states: {', '.join(allowed)}" if allowed else "it is final"
        super().__init__(f"A job cannot go from {current!r} to {requested!r}; {hint}.")


class ReasonRequired(ValueError):
    """An 'incomplete' outcome was reported without saying why."""


@dataclass(frozen=True)
class Transition:
    """A checked status change."""

    from_status: str
    to_status: str


def allowed_next(status: str) -> tuple[str, ...]:
    """All states reachable from ``status`` in one step (empty for final states)."""
    if status not in TRANSITIONS:
        raise ValueError(f"unknown job status {status!r}")
    return TRANSITIONS[status]


def allowed_field_events(status: str) -> tuple[str, ...]:
    """The event types a technician may send for a job in ``status``."""
    return tuple(s for s in allowed_next(status) if s in FIELD_EVENTS)


def check_transition(current: str, requested: str, *, field: bool = False) -> Transition:
    """Return the transition or raise :class:`InvalidTransition`.

    ``field=True`` restricts the choice to what a technician's event may do, and the
    ``allowed`` list in the error then lists only those.
    """
    allowed = allowed_field_events(current) if field else allowed_next(current)
    if requested not in allowed:
        raise InvalidTransition(current, requested, allowed)
    return Transition(current, requested)


def check_field_event(current: str, event_type: str, reason: str | None) -> Transition:
    """Validate a technician's event, including the reason an incomplete visit needs."""
    transition = check_transition(current, event_type, field=True)
    if event_type == INCOMPLETE and not (reason and reason.strip()):
        raise ReasonRequired("an 'incomplete' event needs a reason")
    return transition
