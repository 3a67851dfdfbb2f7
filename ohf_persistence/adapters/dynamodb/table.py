"""The DynamoDB ``storage.Table`` of one entity type: each primitive is one kind of API call.

load → GetItem (consistent), load_many → BatchGetItem (100 keys per call), select and count →
Query on an index chosen by ``reads.plan`` (never a Scan), delete → DeleteItem, update_status →
one conditional UpdateItem. Every call runs in the store's worker threads (``Backend.call``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ...domain.statuses import status_sources
from ...ports import E
from ...query import Condition
from ...storage import Row, Table
from .backend import Backend
from .items import checked_item
from .reads import BATCH_GET_LIMIT, batch_get_rows, count_rows, get_row, plan, query_rows
from .writes import delete, update_status

# Notes longer than this are sized with the item before an autocommitted update_status is sent.
NOTE_PRECHECK_BYTES = 1024


class DynamoTable(Table[E]):
    def __init__(self, backend: Backend, entity: type[E]) -> None:
        self.entity = entity
        self._backend = backend
        self._em = backend.models[entity]

    async def load(self, key: str) -> E | None:
        row = await self._backend.call("GetItem", get_row, self._em, key)
        return None if row is None else self.entity.restore(row)

    async def load_many(self, keys: Sequence[str]) -> dict[str, E]:
        # One worker call per BatchGetItem, so the per-call deadline applies to each API call
        # and the chunks of a long list overlap in the thread pool.
        chunks = [keys[i : i + BATCH_GET_LIMIT] for i in range(0, len(keys), BATCH_GET_LIMIT)]
        found: dict[str, E] = {}
        for rows in await asyncio.gather(
            *(self._backend.call("BatchGetItem", batch_get_rows, self._em, c) for c in chunks)
        ):
            found.update((key, self.entity.restore(row)) for key, row in rows.items())
        return found

    async def select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[E]:
        query = plan(self._em, conditions, after)
        want = None if limit is None else offset + limit
        rows = await self._backend.call("Query", query_rows, self._em, query, after, want)
        return [self.entity.restore(row) for row in rows[offset:]]

    async def count(self, conditions: tuple[Condition, ...]) -> int:
        query = plan(self._em, conditions, None)
        if query.exact:
            return await self._backend.call("Query(COUNT)", count_rows, self._em, query)
        return len(await self._backend.call("Query", query_rows, self._em, query, None, None))

    async def delete(self, key: str) -> bool:
        return await self._backend.call("DeleteItem", delete, self._em, key)

    async def update_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        if note is not None and len(note.encode("utf-8", "surrogatepass")) > NOTE_PRECHECK_BYTES:
            # A long note can take the item over 400 KB: size the changed item before sending
            # (one GetItem). A short one can only tip an item already at the limit over it;
            # DynamoDB refuses that UpdateItem atomically and writes.py reports ItemTooLarge.
            row = await self._backend.call("GetItem", get_row, self._em, key)
            if row is None:
                return False
            checked_item(self._em, {**row, "status": status, note_field: note})
        sources = status_sources(status)
        return await self._backend.call(
            "UpdateItem", update_status, self._em, key, status, sources, note_field, note
        )

    def check_row(self, row: Row) -> None:
        checked_item(self._em, row)
