"""Pure domain rules: enums carry ORB's strings, entity status methods follow the rules."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ohf_persistence import (
    ACTIVE_REQUEST_STATUSES,
    InvalidStatusTransition,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    RequestType,
    ValidationError,
)
from ohf_persistence.domain import machine_transition_allowed, request_transition_allowed
from ohf_persistence.domain.statuses import MACHINE_SOURCES, REQUEST_SOURCES


def test_enum_values_are_orbs_strings() -> None:
    assert MachineStatus.SHUTTING_DOWN == "shutting-down"
    assert RequestStatus.IN_PROGRESS == "in_progress"
    assert RequestStatus.COMPLETE == "complete"
    assert [t.value for t in RequestType] == ["acquire", "return"]
    assert len(MachineStatus) == 10 and len(RequestStatus) == 9


def test_active_statuses() -> None:
    assert {s.value for s in ACTIVE_REQUEST_STATUSES} == {
        "pending",
        "in_progress",
        "acquiring",
        "partial_pending",
    }


@pytest.mark.parametrize("current", list(RequestStatus))
@pytest.mark.parametrize("target", list(RequestStatus))
def test_request_change_status_follows_the_rules(
    current: RequestStatus, target: RequestStatus
) -> None:
    request = Request("r-1", status=current, status_message="before")
    if request_transition_allowed(current, target):
        request.change_status(target, "after")
        assert (request.status, request.status_message) == (target, "after")
    else:
        with pytest.raises(InvalidStatusTransition):
            request.change_status(target, "after")
        assert (request.status, request.status_message) == (current, "before")
    assert (current in REQUEST_SOURCES[target]) == request_transition_allowed(current, target)


def test_request_rules_spot_checks() -> None:
    assert request_transition_allowed(RequestStatus.PARTIAL, RequestStatus.COMPLETE)
    assert not request_transition_allowed(RequestStatus.PARTIAL, RequestStatus.FAILED)
    assert not request_transition_allowed(RequestStatus.PENDING, RequestStatus.TIMEOUT)
    assert request_transition_allowed(RequestStatus.IN_PROGRESS, RequestStatus.TIMEOUT)
    for final in ("complete", "failed", "cancelled", "timeout"):
        assert REQUEST_SOURCES[RequestStatus.PENDING].isdisjoint({RequestStatus(final)})


def test_machine_rules() -> None:
    assert machine_transition_allowed(MachineStatus.RUNNING, MachineStatus.PENDING)
    assert machine_transition_allowed(MachineStatus.TERMINATED, MachineStatus.RETURNED)
    assert not machine_transition_allowed(MachineStatus.TERMINATED, MachineStatus.RUNNING)
    assert not machine_transition_allowed(MachineStatus.RETURNED, MachineStatus.TERMINATED)
    assert not machine_transition_allowed(MachineStatus.FAILED, MachineStatus.RUNNING)
    assert machine_transition_allowed(MachineStatus.FAILED, MachineStatus.FAILED)
    assert MACHINE_SOURCES[MachineStatus.RETURNED] == frozenset(MachineStatus) - {
        MachineStatus.FAILED
    }
    machine = Machine("i-1", status="terminated")
    with pytest.raises(InvalidStatusTransition):
        machine.change_status("running")
    machine.change_status("returned", "back")
    assert (machine.status, machine.status_reason) == (MachineStatus.RETURNED, "back")


def test_datetimes_become_utc() -> None:
    tz = timezone(timedelta(hours=-5))
    request = Request("r-1", started_at=datetime(2026, 1, 1, 7, tzinfo=tz))
    assert request.started_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert request.started_at is not None and request.started_at.tzinfo is UTC
    request.completed_at = datetime(2026, 1, 1)
    assert request.completed_at.tzinfo is UTC


def test_restore_skips_validation_but_copy_is_deep() -> None:
    machine = Machine("i-1", tags={"a": [1]})
    clone = machine.copy()
    clone.tags["a"].append(2)
    assert machine.tags == {"a": [1]}
    with pytest.raises(ValidationError):
        Machine("i-1", tags={"a": {1}})
