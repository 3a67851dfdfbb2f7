"""Template, request and machine repositories of a SQL unit of work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...domain import (
    ACTIVE_REQUEST_STATUSES,
    InvalidStatusTransition,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    Template,
    machine_transition_allowed,
    request_transition_allowed,
    utcnow,
)
from ...domain.validation import check_enum, check_optional_text
from ...ports import MachineRepository, RequestRepository, TemplateRepository
from ...query import check_attributes, check_instance_ids, check_key, json_equal
from .errors import translated
from .repository import SqlRepository
from .statements import KEY_CHUNK, chunks

_request_status = check_enum(RequestStatus)
_machine_status = check_enum(MachineStatus)


class _StatusMixin(SqlRepository[Any]):
    async def _update_status(self, key: str, status: Any, note_field: str, note: Any) -> bool:
        current = await self._view(key)
        if current is None:
            return False
        allowed = (
            request_transition_allowed if self.entity is Request else machine_transition_allowed
        )
        if not allowed(current.status, status):
            raise InvalidStatusTransition(self.entity.ENTITY_TYPE, key, current.status, status)
        row = current.to_dict()
        row["status"] = status
        if note is not None:
            row[note_field] = note
        row["version"] = current.version + 1
        row["updated_at"] = utcnow()
        self._stage(key, row, current.version)
        return True


class SqlTemplateRepository(SqlRepository[Template], TemplateRepository):
    entity = Template

    @translated
    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        wanted = check_attributes(attributes)
        codec = self._codec
        statement = codec.select_all.where(codec.attributes_match(wanted)).order_by(codec.key)
        found: dict[str, Template] = {}
        for row in await self._db.fetch(statement):
            item = codec.entity_from_row(row)
            if item.key not in self._pending:
                found[item.key] = item
        for key, (_expected, staged) in self._pending.items():
            if staged is not None:
                found[key] = self._from_staged(staged)

        def ok(item: Template) -> bool:
            # Exact JSON equality (SQLite's SQL only narrows; staged rows were not filtered).
            return all(
                k in item.attributes and json_equal(item.attributes[k], v)
                for k, v in wanted.items()
            )

        return [found[key] for key in sorted(found) if ok(found[key])]

    async def get_by_provider_type(self, provider_type: str) -> list[Template]:
        return await self.get_all({"provider_type": provider_type})


class SqlRequestRepository(_StatusMixin, SqlRepository[Request], RequestRepository):
    entity = Request

    async def get_by_status(self, status: RequestStatus | str) -> list[Request]:
        return await self.get_all({"status": _request_status(status, "status", "Request")})

    async def get_active_requests(self) -> list[Request]:
        return await self.get_all({"status_in": sorted(ACTIVE_REQUEST_STATUSES)})

    @translated
    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        key = check_key(Request, request_id)
        target = _request_status(status, "status", "Request")
        note = check_optional_text(message, "status_message", "Request")
        return await self._update_status(key, target, "status_message", note)


class SqlMachineRepository(_StatusMixin, SqlRepository[Machine], MachineRepository):
    entity = Machine

    async def get_by_request_id(self, request_id: str) -> list[Machine]:
        return await self.get_all({"request_id": check_key(Request, request_id)})

    async def get_by_return_request_id(self, return_request_id: str) -> list[Machine]:
        return await self.get_all({"return_request_id": check_key(Request, return_request_id)})

    async def get_by_status(self, status: MachineStatus | str) -> list[Machine]:
        return await self.get_all({"status": _machine_status(status, "status", "Machine")})

    @translated
    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        key = check_key(Machine, machine_id)
        target = _machine_status(status, "status", "Machine")
        note = check_optional_text(reason, "status_reason", "Machine")
        return await self._update_status(key, target, "status_reason", note)

    @translated
    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        keys = list(dict.fromkeys(check_instance_ids(instance_ids)))
        codec = self._codec
        found: dict[str, Machine | None] = {}
        for key in keys:
            staged = self._pending.get(key)
            if staged is not None:
                found[key] = None if staged[1] is None else self._from_staged(staged[1])
        wanted = [key for key in keys if key not in found]
        for chunk in chunks(wanted, KEY_CHUNK):
            compiled, values = codec.fast.by_keys(chunk)
            for row in await self._db.run_fetch(compiled, values):
                item = codec.fast.entity(row)
                found[item.key] = item
        return [item for key in keys if (item := found.get(key)) is not None]
