"""The SQL store, its unit of work and the autocommitting repositories."""

from __future__ import annotations

from typing import Any, TypeVar

from ...autocommit import AutocommitMachines, AutocommitRequests, AutocommitTemplates
from ...domain import (
    Machine,
    Request,
    Template,
)
from ...domain.entities import ENTITY_TYPES as ORDER
from ...domain.entities import Entity
from ...domain.statuses import status_sources
from ...ports import Store
from ...query import check_key
from ...staging import StagingUnitOfWork
from . import direct
from .engine import Database
from .fast import FastStatements
from .flush import flush
from .repositories import SqlMachineRepository, SqlRequestRepository, SqlTemplateRepository
from .statements import Codec

T = TypeVar("T")


class SqlUnitOfWork(StagingUnitOfWork):
    def __init__(self, store: SqlStore, checks: bool = True) -> None:
        super().__init__()
        self.db = store.db
        self.codecs = store.codecs
        # False for autocommitted calls: the guarded write at commit is the only check needed.
        self.checks = checks
        self.templates = SqlTemplateRepository(self)
        self.requests = SqlRequestRepository(self)
        self.machines = SqlMachineRepository(self)

    async def commit(self) -> None:
        kinds = [cls for cls in ORDER if self._pending[cls]]
        if len(kinds) == 1 and len(self._pending[kinds[0]]) == 1:
            # One write is one guarded statement: it needs no transaction around it.
            staged = self._pending[kinds[0]]
            key, (expected, row) = next(iter(staged.items()))
            await direct.write_one(self.db, self.codecs[kinds[0]], key, expected, row)
        elif kinds:
            async with self.db.transaction() as conn:
                for cls in ORDER:
                    if self._pending[cls]:
                        await flush(conn, self.codecs[cls], self._pending[cls])
        self._committed()


class _Direct:
    """Single-statement autocommit paths for delete and update_status (see direct.py)."""

    entity: type[Entity]
    _store: SqlStore

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        return await direct.delete(self._store.db, self._store.codecs[self.entity], key)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        codec = self._store.codecs[self.entity]
        sources = status_sources(status)
        return await direct.set_status(
            self._store.db, codec, key, status, sources, (note_field, note)
        )


class _Reads:
    _store: SqlStore
    _pick: Any

    async def _read(self, method: str, *args: Any) -> Any:
        # Reads never stage anything, so one shared unit of work serves them all.
        return await getattr(self._pick(self._store.reader), method)(*args)


class SqlTemplates(_Reads, _Direct, AutocommitTemplates):
    entity = Template

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store


class SqlRequests(_Reads, _Direct, AutocommitRequests):
    entity = Request

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store


class SqlMachines(_Reads, _Direct, AutocommitMachines):
    entity = Machine

    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.autocommit_unit)
        self._store = store


class SqlStore(Store):
    def __init__(self, db: Database, logger: Any = None) -> None:
        self.db = db
        self.backend = db.backend
        self.logger = logger
        self.codecs: dict[type[Entity], Codec[Any]] = {cls: Codec(cls, db.dialect) for cls in ORDER}
        for codec in self.codecs.values():
            codec.fast = FastStatements(codec, db.engine.dialect)
        self.reader = SqlUnitOfWork(self, checks=False)
        self.templates = SqlTemplates(self)
        self.requests = SqlRequests(self)
        self.machines = SqlMachines(self)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self)

    def autocommit_unit(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, checks=False)

    async def close(self) -> None:
        await self.db.close()
