"""Statuses, request types and the transition rules (values are ORB's own strings)."""

from __future__ import annotations

from enum import StrEnum


class MachineStatus(StrEnum):
    PENDING = "pending"
    LAUNCHING = "launching"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    SHUTTING_DOWN = "shutting-down"
    TERMINATED = "terminated"
    RETURNED = "returned"
    FAILED = "failed"
    UNKNOWN = "unknown"


class RequestStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ACQUIRING = "acquiring"
    PARTIAL_PENDING = "partial_pending"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class RequestType(StrEnum):
    ACQUIRE = "acquire"
    RETURN = "return"


_R = RequestStatus
REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    _R.PENDING: frozenset(
        {
            _R.IN_PROGRESS,
            _R.ACQUIRING,
            _R.PARTIAL_PENDING,
            _R.COMPLETE,
            _R.PARTIAL,
            _R.FAILED,
            _R.CANCELLED,
        }
    ),
    _R.IN_PROGRESS: frozenset(
        {
            _R.ACQUIRING,
            _R.PARTIAL_PENDING,
            _R.COMPLETE,
            _R.PARTIAL,
            _R.FAILED,
            _R.CANCELLED,
            _R.TIMEOUT,
        }
    ),
    _R.ACQUIRING: frozenset(
        {_R.PARTIAL_PENDING, _R.COMPLETE, _R.PARTIAL, _R.FAILED, _R.CANCELLED, _R.TIMEOUT}
    ),
    _R.PARTIAL_PENDING: frozenset({_R.COMPLETE, _R.PARTIAL, _R.FAILED, _R.CANCELLED, _R.TIMEOUT}),
    _R.PARTIAL: frozenset({_R.COMPLETE}),
    _R.COMPLETE: frozenset(),
    _R.FAILED: frozenset(),
    _R.CANCELLED: frozenset(),
    _R.TIMEOUT: frozenset(),
}

ACTIVE_REQUEST_STATUSES: frozenset[RequestStatus] = frozenset(
    {_R.PENDING, _R.IN_PROGRESS, _R.ACQUIRING, _R.PARTIAL_PENDING}
)

_M = MachineStatus
MACHINE_FINAL_STATUSES: frozenset[MachineStatus] = frozenset({_M.FAILED, _M.RETURNED})


def request_transition_allowed(current: RequestStatus, target: RequestStatus) -> bool:
    return current == target or target in REQUEST_TRANSITIONS[current]


def machine_transition_allowed(current: MachineStatus, target: MachineStatus) -> bool:
    if current == target:
        return True
    if current in MACHINE_FINAL_STATUSES:
        return False
    if current == _M.TERMINATED:
        return target == _M.RETURNED
    return True


# Source sets per target: adapters turn a transition check into one conditional write
# (``... WHERE status IN (sources)``), so no read-then-write race exists.
REQUEST_SOURCES: dict[RequestStatus, frozenset[RequestStatus]] = {
    t: frozenset(s for s in RequestStatus if request_transition_allowed(s, t))
    for t in RequestStatus
}
MACHINE_SOURCES: dict[MachineStatus, frozenset[MachineStatus]] = {
    t: frozenset(s for s in MachineStatus if machine_transition_allowed(s, t))
    for t in MachineStatus
}


def status_sources(target: RequestStatus | MachineStatus) -> frozenset[StrEnum]:
    """The stored statuses from which ``target`` may be reached (for conditional writes)."""
    if isinstance(target, RequestStatus):
        return frozenset(REQUEST_SOURCES[target])
    return frozenset(MACHINE_SOURCES[target])
