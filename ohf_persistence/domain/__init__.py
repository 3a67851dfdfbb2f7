"""Entities, statuses, transition rules and errors: no I/O here."""

from .entities import Entity, Machine, Request, Template, new_request_id, utcnow
from .errors import *  # noqa: F403
from .errors import __all__ as _error_names
from .statuses import (
    ACTIVE_REQUEST_STATUSES,
    MachineStatus,
    RequestStatus,
    RequestType,
    machine_transition_allowed,
    request_transition_allowed,
)

__all__ = [
    "ACTIVE_REQUEST_STATUSES",
    "Entity",
    "Machine",
    "MachineStatus",
    "Request",
    "RequestStatus",
    "RequestType",
    "Template",
    "machine_transition_allowed",
    "new_request_id",
    "request_transition_allowed",
    "utcnow",
    *_error_names,
]
