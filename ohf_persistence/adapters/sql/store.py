"""The SQL storage (``storage.Storage``) and store.

``write`` sends a batch of guarded rows: one write is one guarded statement, autocommitted (a
single statement is atomic; BEGIN/COMMIT would only add round trips); several go in one
transaction (``BEGIN IMMEDIATE`` on SQLite), see writes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...domain.entities import ENTITY_TYPES, Entity
from ...ports import E
from ...repository import BackendStore, Staged
from ...storage import Storage, Write
from . import writes
from .driver import Connection
from .engine import Database
from .repository import SqlTable


class SqlStorage(Storage):
    def __init__(self, db: Database) -> None:
        self.db = db
        self.backend = db.backend
        self.tables: dict[type[Entity], SqlTable[Any]] = {
            cls: SqlTable(cls, db) for cls in ENTITY_TYPES
        }

    @property
    def closed(self) -> bool:  # type: ignore[override]  # the pool's state, not a copy
        return self.db.pool.closed

    def table(self, entity: type[E]) -> SqlTable[E]:
        table: SqlTable[E] = self.tables[entity]
        return table

    async def write(self, batch: Sequence[Write], *, single: bool = False) -> None:
        if len(batch) == 1:
            w = batch[0]
            table = self.tables[w.entity]
            q, codec = table.queries, table.codec
            await self.db.run(
                lambda conn: writes.write_one(conn, q, codec, w.key, w.expected, w.row),
                w.entity.ENTITY_TYPE,
            )
            return
        first = batch[0]
        table = self.tables[first.entity]
        if len(batch) <= table.queries.rows_per_insert and all(
            w.entity is first.entity and w.expected is None and w.row is not None for w in batch
        ):
            # New rows of one type that fit one INSERT: one statement, atomic on its own.
            q, codec = table.queries, table.codec
            rows = [w.row for w in batch if w.row is not None]
            await self.db.run(
                lambda conn: writes.insert_rows(conn, q, codec, rows), first.entity.ENTITY_TYPE
            )
            return
        # Writes come grouped by type (templates, requests, machines), in staging order.
        groups: dict[type[Entity], Staged] = {}
        for w in batch:
            groups.setdefault(w.entity, {})[w.key] = (w.expected, w.row)

        async def write_all(conn: Connection) -> None:
            for cls, staged in groups.items():
                table = self.tables[cls]
                await writes.write_batch(conn, table.queries, table.codec, staged)

        await self.db.in_transaction(write_all)

    async def close(self) -> None:
        await self.db.close()


class SqlStore(BackendStore):
    storage: SqlStorage

    def __init__(self, db: Database, logger: Any = None) -> None:
        # ``logger``: accepted for openers that pass one; the adapter logs nothing per call.
        del logger
        super().__init__(SqlStorage(db))
        self.db = db
        # Per entity type: the statements (tests EXPLAIN them).
        self.queries = {cls: table.queries for cls, table in self.storage.tables.items()}
