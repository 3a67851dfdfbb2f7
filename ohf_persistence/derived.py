"""Port methods every backend expresses the same way.

Keyed queries are filtered ``get_all`` calls (each adapter turns the filter into an index
lookup), and ``update_status`` is argument checks plus the adapter's one primitive,
``_set_status``: an atomic status change checked against the stored status.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from .domain import (
    ACTIVE_REQUEST_STATUSES,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    Template,
)
from .domain.validation import check_optional_text
from .ports import MachineRepository, RequestRepository, TemplateRepository
from .query import check_key
from .repository import machine_status, request_status, status_changed

__all__ = ["status_changed"]


class StatusChange:
    @abstractmethod
    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        """Move ``key`` to ``status`` if the transition rules allow it from the stored status,
        bumping the version, in one atomic step; False when ``key`` does not exist; a refused
        transition raises InvalidStatusTransition. ``note`` None keeps the stored note."""


class DerivedTemplateQueries(TemplateRepository):
    async def get_by_provider_type(self, provider_type: str) -> list[Template]:
        return await self.get_all({"provider_type": provider_type})


class DerivedRequestQueries(StatusChange, RequestRepository):
    async def get_by_status(self, status: RequestStatus | str) -> list[Request]:
        return await self.get_all({"status": request_status(status, "status", "Request")})

    async def get_active_requests(self) -> list[Request]:
        return await self.get_all({"status_in": sorted(ACTIVE_REQUEST_STATUSES)})

    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        key = check_key(Request, request_id)
        target = request_status(status, "status", "Request")
        note = check_optional_text(message, "status_message", "Request")
        return await self._set_status(key, target, "status_message", note)


class DerivedMachineQueries(StatusChange, MachineRepository):
    async def get_by_request_id(self, request_id: str) -> list[Machine]:
        return await self.get_all({"request_id": check_key(Request, request_id)})

    async def get_by_return_request_id(self, return_request_id: str) -> list[Machine]:
        return await self.get_all({"return_request_id": check_key(Request, return_request_id)})

    async def get_by_status(self, status: MachineStatus | str) -> list[Machine]:
        return await self.get_all({"status": machine_status(status, "status", "Machine")})

    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        key = check_key(Machine, machine_id)
        target = machine_status(status, "status", "Machine")
        note = check_optional_text(reason, "status_reason", "Machine")
        return await self._set_status(key, target, "status_reason", note)
