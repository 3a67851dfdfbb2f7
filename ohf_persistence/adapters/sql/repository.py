"""The SQL storage primitives of one table (``storage.Table``).

Every port method is written once in ``ohf_persistence/repository.py`` over these primitives;
here each is one statement from ``queries.py`` (or a chunked few), run through
``engine.Database`` (which translates driver errors), with rows turned into entities by
``codec.py``. Nothing here sees a unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...ports import E
from ...query import Condition
from ...storage import Table
from . import writes
from .codec import Codec
from .engine import Database
from .queries import KEY_CHUNK, Queries, chunks


class SqlTable(Table[E]):
    def __init__(self, entity: type[E], db: Database) -> None:
        self.entity = entity
        self._db = db
        self.queries: Queries[E] = Queries(entity, db.compiler)
        self.codec: Codec[E] = Codec(entity, db.compiler)
        self._etype = entity.ENTITY_TYPE

    async def load(self, key: str) -> E | None:
        rows = await self._db.fetch_rows(self.queries.by_key, {"k": key})
        return self.codec.entity_of(rows[0]) if rows else None

    async def load_many(self, keys: Sequence[str]) -> dict[str, E]:
        found: dict[str, E] = {}
        for chunk in chunks(keys, KEY_CHUNK):
            for item in self.codec.entities(
                await self._db.fetch_rows(*self.queries.by_keys(chunk))
            ):
                found[item.key] = item
        return found

    async def select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[E]:
        rows = await self._db.fetch_rows(*self.queries.listing(conditions, after, limit, offset))
        return self.codec.entities(rows)

    async def count(self, conditions: tuple[Condition, ...]) -> int:
        return int((await self._db.fetch_rows(*self.queries.counting(conditions)))[0][0])

    async def exists(self, key: str) -> bool:
        return bool(await self._db.fetch_rows(self.queries.exists, {"k": key}))

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        q = self.queries
        return await self._db.run(lambda conn: writes.stored_versions(conn, q, keys))

    async def attribute_candidates(self, wanted: dict[str, Any]) -> list[E]:
        # PostgreSQL answers exactly (GIN index); SQLite narrows by scalar values.
        return self.codec.entities(await self._db.fetch_rows(*self.queries.with_attributes(wanted)))

    async def delete(self, key: str) -> bool:
        q = self.queries
        return await self._db.run(lambda conn: writes.delete(conn, q, key), self._etype)

    async def update_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        q, codec = self.queries, self.codec
        return await self._db.run(
            lambda conn: writes.set_status(conn, q, codec, key, status, (note_field, note)),
            self._etype,
        )
