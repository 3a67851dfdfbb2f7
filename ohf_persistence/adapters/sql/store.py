"""The SQL store, its unit of work and the autocommitting repositories."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import select, update

from ...autocommit import AutocommitMachines, AutocommitRequests, AutocommitTemplates
from ...domain import (
    InvalidStatusTransition,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    Template,
    utcnow,
)
from ...domain.entities import Entity
from ...domain.statuses import MACHINE_SOURCES, REQUEST_SOURCES
from ...domain.validation import check_enum, check_optional_text
from ...ports import Store, UnitOfWork
from ...query import check_key
from ...tracking import SaveTracker
from .engine import Database
from .flush import flush
from .repositories import SqlMachineRepository, SqlRequestRepository, SqlTemplateRepository
from .repository import Staged
from .statements import Codec

T = TypeVar("T")
ORDER: tuple[type[Entity], ...] = (Template, Request, Machine)


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, store: SqlStore, checks: bool = True) -> None:
        self.db = store.db
        self.codecs = store.codecs
        # False for autocommitted calls: the guarded write at commit is the only check needed.
        self.checks = checks
        self._pending: dict[type[Entity], Staged] = {cls: {} for cls in ORDER}
        self.tracker = SaveTracker()
        self.templates = SqlTemplateRepository(self)
        self.requests = SqlRequestRepository(self)
        self.machines = SqlMachineRepository(self)

    def pending_for(self, entity: type[Entity]) -> Staged:
        return self._pending[entity]

    async def commit(self) -> None:
        if any(self._pending.values()):
            async with self.db.transaction() as conn:
                for cls in ORDER:
                    if self._pending[cls]:
                        await flush(conn, self.codecs[cls], self._pending[cls])
            for staged in self._pending.values():
                staged.clear()
        self.tracker.forget()

    async def rollback(self) -> None:
        for staged in self._pending.values():
            staged.clear()
        self.tracker.undo()


class _Direct:
    """Single-statement autocommit paths for delete and update_status."""

    entity: type[Entity]
    _store: SqlStore

    async def _delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        codec = self._store.codecs[self.entity]
        async with self._store.db.transaction(self.entity.ENTITY_TYPE) as conn:
            return bool((await conn.execute(codec.delete_one, {"k": key})).rowcount)

    async def _set_status(self, key: str, target: Any, sources: Any, note: tuple[str, Any]) -> bool:
        codec = self._store.codecs[self.entity]
        values: dict[str, Any] = {
            "status": target.value,
            "version": codec.version + 1,
            "updated_at": utcnow(),
        }
        if note[1] is not None:
            values[note[0]] = note[1]
        column = codec.table.c.status
        # One conditional UPDATE: the transition rule is part of the WHERE clause.
        statement = (
            update(codec.table)
            .where(codec.key == key, column.in_(sorted(s.value for s in sources)))
            .values(values)
        )
        async with self._store.db.transaction(self.entity.ENTITY_TYPE) as conn:
            if (await conn.execute(statement)).rowcount == 1:
                return True
            current = (await conn.execute(select(column).where(codec.key == key))).scalar()
        if current is None:
            return False
        enum = RequestStatus if self.entity is Request else MachineStatus
        raise InvalidStatusTransition(self.entity.ENTITY_TYPE, key, enum(current), target)


_request_status = check_enum(RequestStatus)
_machine_status = check_enum(MachineStatus)


class _Reads:
    _store: SqlStore
    _pick: Any

    async def _read(self, method: str, *args: Any) -> Any:
        # Reads never stage anything, so one shared unit of work serves them all.
        return await getattr(self._pick(self._store.reader), method)(*args)


class SqlTemplates(_Reads, AutocommitTemplates):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store


class SqlRequests(_Reads, _Direct, AutocommitRequests):
    entity = Request

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store

    async def delete(self, entity_id: str) -> bool:
        return await self._store.guarded(self._delete(entity_id))

    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        key = check_key(Request, request_id)
        target = _request_status(status, "status", "Request")
        note = check_optional_text(message, "status_message", "Request")
        work = self._set_status(key, target, REQUEST_SOURCES[target], ("status_message", note))
        return await self._store.guarded(work)


class SqlMachines(_Reads, _Direct, AutocommitMachines):
    entity = Machine

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store

    async def delete(self, entity_id: str) -> bool:
        return await self._store.guarded(self._delete(entity_id))

    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        key = check_key(Machine, machine_id)
        target = _machine_status(status, "status", "Machine")
        note = check_optional_text(reason, "status_reason", "Machine")
        work = self._set_status(key, target, MACHINE_SOURCES[target], ("status_reason", note))
        return await self._store.guarded(work)


class SqlStore(Store):
    def __init__(self, db: Database, logger: Any = None) -> None:
        self.db = db
        self.backend = db.backend
        self.logger = logger
        self.codecs: dict[type[Entity], Codec[Any]] = {cls: Codec(cls, db.dialect) for cls in ORDER}
        self.reader = SqlUnitOfWork(self, checks=False)
        self.templates = SqlTemplates(self)
        self.requests = SqlRequests(self)
        self.machines = SqlMachines(self)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self)

    def autocommit_unit(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, checks=False)

    async def guarded(self, work: Awaitable[T]) -> T:
        async with self.db.errors.guard():
            return await work

    async def close(self) -> None:
        await self.db.close()
