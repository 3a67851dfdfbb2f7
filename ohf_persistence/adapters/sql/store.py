"""The SQL store: its autocommitting repositories and its unit of work.

The store's repositories read like a unit's (with nothing staged) and write at once: one
guarded statement for ``save``, ``delete`` and ``update_status`` (no transaction needed, see
writes.py), one transaction for ``save_many``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...domain import Machine, Request, Template
from ...domain.entities import ENTITY_TYPES, Entity
from ...domain.statuses import status_sources
from ...ports import E, Store
from ...query import check_key
from ...staging import StagingUnitOfWork, check_entity_type
from ...tracking import SaveTracker
from . import writes
from .codec import Codec
from .engine import Database
from .queries import Queries
from .repository import (
    SqlMachineRepository,
    SqlRepository,
    SqlRequestRepository,
    SqlTemplateRepository,
)


class SqlUnitOfWork(StagingUnitOfWork):
    def __init__(self, store: SqlStore, checks: bool = True) -> None:
        super().__init__()
        self.store = store
        self.db = store.db
        # False for the store's save_many: the guarded writes at commit are the only check.
        self.checks = checks
        self.templates = SqlTemplateRepository(store, self)
        self.requests = SqlRequestRepository(store, self)
        self.machines = SqlMachineRepository(store, self)

    def repository(self, entity: type[E]) -> SqlRepository[E]:
        repo: Any = {Template: self.templates, Request: self.requests, Machine: self.machines}
        return repo[entity]  # type: ignore[no-any-return]

    async def commit(self) -> None:
        store = self.store
        kinds = [cls for cls in ENTITY_TYPES if self._pending[cls]]
        if len(kinds) == 1 and len(self._pending[kinds[0]]) == 1:
            # One write is one guarded statement: it needs no transaction around it.
            cls = kinds[0]
            key, (expected, row) = next(iter(self._pending[cls].items()))
            q, codec = store.queries[cls], store.codecs[cls]
            await self.db.run(
                lambda conn: writes.write_one(conn, q, codec, key, expected, row),
                cls.ENTITY_TYPE,
            )
        elif kinds:

            async def write_all(conn: Any) -> None:
                for cls in kinds:
                    await writes.write_batch(
                        conn, store.queries[cls], store.codecs[cls], self._pending[cls]
                    )

            await self.db.in_transaction(write_all)
        self._committed()


class _Autocommit(SqlRepository[E]):
    """Writes of the store's repositories, each committed on its own."""

    async def save(self, entity: E) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        key = entity.key
        expected = None if entity.version == 0 else entity.version
        tracker = SaveTracker()
        tracker.stamp(entity)
        row = entity.to_dict()
        q, codec = self._q, self._codec
        try:
            await self._db.run(
                lambda conn: writes.write_one(conn, q, codec, key, expected, row),
                self.entity.ENTITY_TYPE,
            )
        except BaseException:
            tracker.undo()
            raise

    async def save_many(self, entities: Iterable[E]) -> None:
        async with SqlUnitOfWork(self._store, checks=False) as uow:
            await uow.repository(self.entity).save_many(entities)
            await uow.commit()

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        q = self._q
        return await self._db.run(lambda conn: writes.delete(conn, q, key), self.entity.ENTITY_TYPE)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        q, codec = self._q, self._codec
        sources = status_sources(status)
        return await self._db.run(
            lambda conn: writes.set_status(
                conn, q, codec, key, status, sources, (note_field, note)
            ),
            self.entity.ENTITY_TYPE,
        )


class SqlTemplates(_Autocommit[Template], SqlTemplateRepository):
    pass


class SqlRequests(_Autocommit[Request], SqlRequestRepository):
    pass


class SqlMachines(_Autocommit[Machine], SqlMachineRepository):
    pass


class SqlStore(Store):
    def __init__(self, db: Database, logger: Any = None) -> None:
        # ``logger``: accepted for openers that pass one; the adapter logs nothing per call.
        del logger
        self.db = db
        self.backend = db.backend
        self.queries: dict[type[Entity], Queries[Any]] = {
            cls: Queries(cls, db.compiler) for cls in ENTITY_TYPES
        }
        self.codecs: dict[type[Entity], Codec[Any]] = {
            cls: Codec(cls, db.compiler) for cls in ENTITY_TYPES
        }
        self.templates = SqlTemplates(self)
        self.requests = SqlRequests(self)
        self.machines = SqlMachines(self)

    def unit_of_work(self) -> SqlUnitOfWork:
        self.db.pool.check_open()
        return SqlUnitOfWork(self)

    async def close(self) -> None:
        await self.db.close()
