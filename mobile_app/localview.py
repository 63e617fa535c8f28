"""What the technician sees: the server's last word plus what they did since (optimistic view).

Pure functions over plain dicts and outbox actions, so the rules (allowed transitions, van
stock checks, what a rejection means for the technician) are tested without a window.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mobile_app.outbox import FAILED, PENDING, Action

#: The job life cycle as the contract (docs/api.md) defines it for a technician.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "dispatched": ("en_route", "cancelled"),
    "en_route": ("on_site", "cancelled"),
    "on_site": ("completed", "incomplete", "cancelled"),
}
FINAL = frozenset({"completed", "incomplete", "cancelled"})
#: Equipment can be recorded once the technician is at the customer's (and after the visit).
USED_ITEM_STATUSES = frozenset({"on_site", "completed", "incomplete"})
#: Steps that cannot be undone by the technician: the app asks before queueing them.
IRREVERSIBLE = FINAL

STATUS_LABELS = {
    "open": "Open",
    "dispatched": "Dispatched",
    "en_route": "En route",
    "on_site": "On site",
    "completed": "Completed",
    "incomplete": "Incomplete",
    "cancelled": "Cancelled",
}
ACTION_LABELS = {
    "en_route": "Start driving",
    "on_site": "Arrived on site",
    "completed": "Complete job",
    "incomplete": "Cannot finish",
    "cancelled": "Cancel visit",
}
#: High-contrast chip colours (RGBA), readable in sunlight with white text.
STATUS_COLOURS = {
    "open": (0.35, 0.35, 0.35, 1),
    "dispatched": (0.05, 0.28, 0.63, 1),
    "en_route": (0.45, 0.18, 0.60, 1),
    "on_site": (0.70, 0.35, 0.0, 1),
    "completed": (0.0, 0.45, 0.18, 1),
    "incomplete": (0.72, 0.11, 0.11, 1),
    "cancelled": (0.25, 0.25, 0.25, 1),
}


def allowed_actions(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


@dataclass
class Rejection:
    """A refused action, said so the technician knows what happened and what to do."""

    action_id: int
    kind: str
    title: str
    detail: str
    advice: str
    can_retry: bool


@dataclass
class LocalJob:
    """A job as shown on the phone."""

    job: dict[str, Any]
    status: str
    server_status: str
    pending: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)
    photos: list[dict[str, Any]] = field(default_factory=list)
    used_items: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    incomplete_reason: str | None = None
    #: The server no longer lists this job for the technician (reassigned or removed).
    gone: bool = False

    @property
    def actions(self) -> tuple[str, ...]:
        return () if self.gone else allowed_actions(self.status)


KIND_LABELS = {
    "event": "Status change",
    "note": "Note",
    "photo": "Photo",
    "used_item": "Used equipment",
    "location": "Position",
}


def describe_action(action: Action) -> str:
    p = action.payload
    if action.kind == "event":
        return f"{KIND_LABELS['event']} to {STATUS_LABELS.get(p.get('type', ''), p.get('type'))}"
    if action.kind == "note":
        text = str(p.get("text", ""))
        return f'Note "{text[:40]}{"..." if len(text) > 40 else ""}"'
    if action.kind == "used_item":
        return f"Used {p.get('quantity')} x {p.get('sku')}"
    if action.kind == "photo":
        return "Photo " + str(p.get("name") or "")
    return KIND_LABELS.get(action.kind, action.kind)


def advice_for(action: Action) -> tuple[str, bool]:
    """What the technician can do about a rejection, and whether resending can help."""
    body = action.error_body or {}
    status, code = action.error_status, action.error_code
    if status == 404 or code == "not_found":
        return (
            "This job is no longer assigned to you (it was reassigned or removed). "
            "Call dispatch before doing more work on it, then refresh your day.",
            False,
        )
    if code == "invalid_transition":
        current = STATUS_LABELS.get(body.get("current_status", ""), body.get("current_status"))
        allowed = ", ".join(STATUS_LABELS.get(a, a) for a in body.get("allowed") or []) or "none"
        return (
            f"The server has this job as {current or 'another status'}; allowed next: "
            f"{allowed}. Refresh the job and choose again, or call dispatch.",
            False,
        )
    if code == "insufficient_stock":
        sku, available = body.get("sku", action.payload.get("sku")), body.get("available")
        return (
            f"The van's stock shows only {available if available is not None else 'fewer'} "
            f"of {sku}. Recount the van or ask dispatch for a transfer, then resend, "
            "or dismiss and record what you really used.",
            True,
        )
    if code == "conflict" and body.get("current_status"):
        current = STATUS_LABELS.get(body["current_status"], body["current_status"])
        return (
            f"The job is {current} on the server. Mark it on site first, then resend.",
            True,
        )
    if status == 403:
        return ("Your account may not do this. Call dispatch.", False)
    if status == 413:
        return ("The photo is too large (10 MB at most). Take a smaller one.", False)
    if status == 415:
        return ("Only JPEG or PNG photos are accepted. Choose another file.", False)
    if code == "file_missing":
        return ("The file was deleted from the phone. Take the photo again.", False)
    if status == 422:
        return ("Correct the entry and record it again.", False)
    return ("Check the entry, then resend or dismiss it.", True)


def to_rejection(action: Action) -> Rejection:
    advice, can_retry = advice_for(action)
    return Rejection(
        action_id=action.id,
        kind=action.kind,
        title=f"{describe_action(action)}: refused",
        detail=action.error_detail or "The server refused this action.",
        advice=advice,
        can_retry=can_retry,
    )


def local_job(
    job: dict[str, Any],
    actions: Iterable[Action],
    notes: list[dict[str, Any]] | None = None,
    photos: list[dict[str, Any]] | None = None,
    used_items: list[dict[str, Any]] | None = None,
) -> LocalJob:
    """Lay the job's pending and refused actions over the server's copy."""
    view = LocalJob(
        job=job,
        status=job.get("status", "open"),
        server_status=job.get("status", "open"),
        notes=[dict(n, pending=False) for n in notes or []],
        photos=[dict(p, pending=False) for p in photos or []],
        used_items=[dict(u, pending=False) for u in used_items or []],
        incomplete_reason=job.get("incomplete_reason"),
        gone=bool(job.get("_gone")),
    )
    for action in actions:
        if action.state == FAILED:
            view.rejections.append(to_rejection(action))
            continue
        if action.state != PENDING:
            continue
        view.pending += 1
        p = action.payload
        if action.kind == "event":
            view.status = p["type"]
            if p.get("reason"):
                view.incomplete_reason = p["reason"]
        elif action.kind == "note":
            view.notes.append(
                {
                    "id": None,
                    "text": p["text"],
                    "author": "me",
                    "created_at": p.get("at"),
                    "pending": True,
                    "action_id": action.id,
                }
            )
        elif action.kind == "photo":
            view.photos.append(
                {
                    "id": None,
                    "local_path": p["path"],
                    "caption": p.get("caption", ""),
                    "pending": True,
                    "action_id": action.id,
                }
            )
        elif action.kind == "used_item":
            view.used_items.append(dict(p, pending=True, action_id=action.id))
    return view


def available_stock(stock: list[dict[str, Any]], actions: Iterable[Action]) -> dict[str, int]:
    """What the van holds minus what is used but not yet acknowledged by the server."""
    left = {line["sku"]: int(line.get("quantity", 0)) for line in stock}
    for action in actions:
        if action.kind == "used_item" and action.state == PENDING:
            sku = action.payload["sku"]
            left[sku] = left.get(sku, 0) - int(action.payload["quantity"])
    return left


def parse_serials(text: str) -> list[str]:
    """Serial numbers typed or scanned one per line, or separated by commas/spaces."""
    return text.replace(",", " ").replace(";", " ").split()


def check_used_item(
    stock: list[dict[str, Any]],
    actions: Iterable[Action],
    sku: str,
    quantity_text: str,
    serials_text: str,
    status: str | None = None,
) -> dict[str, Any]:
    """Validate a used-item entry on the device; return the payload or raise ValueError."""
    if status is not None and status not in USED_ITEM_STATUSES:
        raise ValueError(
            f"status: equipment is recorded on site; the job is {STATUS_LABELS.get(status, status)}"
        )
    line = next((s for s in stock if s.get("sku") == sku), None)
    if not sku or line is None:
        raise ValueError("item: pick an item from the van's stock")
    try:
        quantity = int(str(quantity_text).strip())
    except ValueError:
        raise ValueError("quantity: enter a whole number") from None
    if quantity <= 0:
        raise ValueError("quantity: must be at least 1")
    available = available_stock(stock, actions).get(sku, 0)
    if quantity > available:
        raise ValueError(
            f"quantity: the van holds only {max(available, 0)} of {sku} "
            "(after what is waiting to be sent)"
        )
    serials = parse_serials(serials_text)
    if len(set(serials)) != len(serials):
        raise ValueError("serial numbers: a serial number is entered twice")
    if line.get("serialized") and len(serials) != quantity:
        raise ValueError(
            f"serial numbers: {sku} is tracked by serial; enter {quantity}, got {len(serials)}"
        )
    if not line.get("serialized") and serials and len(serials) != quantity:
        raise ValueError(f"serial numbers: enter none or exactly {quantity}")
    return {"sku": sku, "quantity": quantity, "serial_numbers": serials}


def used_lines(items: list[dict[str, Any]]) -> str:
    """Used equipment as text lines, marking what is still waiting to be sent."""
    lines = []
    for u in items:
        serials = u.get("serial_numbers") or []
        line = f"- {u.get('quantity')} x {u.get('sku')}"
        if serials:
            line += "  SN " + ", ".join(serials)
        if u.get("pending"):
            line += "  [to send]"
        lines.append(line)
    return "\n".join(lines)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def sla_left(job: dict[str, Any], now: datetime | None = None) -> str:
    """Time left to the SLA due time, e.g. "SLA 2h15m", "SLA late 40m", or ""."""
    due = parse_time(job.get("sla_due"))
    if due is None:
        return ""
    now = now or datetime.now(UTC)
    minutes = int((due - now).total_seconds() // 60)
    span = abs(minutes)
    text = f"{span // 60}h{span % 60:02d}m" if span >= 60 else f"{span}m"
    return f"SLA late {text}" if minutes < 0 else f"SLA {text}"


def hhmm(value: str | None) -> str:
    parsed = parse_time(value)
    return parsed.astimezone().strftime("%H:%M") if parsed else "--:--"
