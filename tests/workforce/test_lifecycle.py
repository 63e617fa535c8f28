"""The job status state machine."""

from __future__ import annotations

import itertools

import pytest

from workforce import lifecycle as lc


def test_the_happy_path_and_its_branches() -> None:
    path = ["open", "dispatched", "en_route", "on_site", "completed"]
    for current, nxt in itertools.pairwise(path):
        assert lc.check_transition(current, nxt).to_status == nxt
    for end in ("incomplete", "cancelled"):
        lc.check_transition("on_site", end)
    for start in ("dispatched", "en_route", "on_site"):
        lc.check_transition(start, "cancelled")
    lc.check_transition("dispatched", "open")  # unassigned by a dispatcher


@pytest.mark.parametrize(
    ("current", "requested", "allowed"),
    [
        ("dispatched", "on_site", ["en_route", "cancelled"]),
        ("en_route", "completed", ["on_site", "cancelled"]),
        ("on_site", "en_route", ["completed", "incomplete", "cancelled"]),
        ("completed", "cancelled", []),
        ("open", "en_route", []),  # a technician cannot start an unassigned job
        ("cancelled", "en_route", []),
    ],
)
def test_invalid_field_events_list_what_is_allowed(current, requested, allowed) -> None:
    with pytest.raises(lc.InvalidTransition) as exc:
        lc.check_field_event(current, requested, reason=None)
    assert exc.value.allowed == allowed
    assert exc.value.current_status == current
    assert current in str(exc.value)


def test_field_events_cannot_unassign() -> None:
    assert "open" not in lc.allowed_field_events("dispatched")
    with pytest.raises(lc.InvalidTransition):
        lc.check_transition("dispatched", "open", field=True)


def test_incomplete_needs_a_reason() -> None:
    with pytest.raises(lc.ReasonRequired):
        lc.check_field_event("on_site", "incomplete", reason="  ")
    lc.check_field_event("on_site", "incomplete", reason="No access to the building")


def test_final_states_and_unknown_states() -> None:
    assert {"completed", "incomplete", "cancelled"} == lc.TERMINAL
    assert set(lc.STATUSES) == set(lc.TRANSITIONS)
    with pytest.raises(ValueError):
        lc.allowed_next("lost")
