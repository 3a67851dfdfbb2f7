"""Repositories bound to a DynamoDB unit of work.

Writes are staged per key exactly like the memory backend (the version the write is based on,
and the new row or None for a delete) and sent at ``commit`` as one TransactWriteItems. Reads
overlay the staged rows on what DynamoDB returns, so a unit of work sees its own writes.
Version conflicts with the stored data surface at commit (the memory backend finds them at
save); conflicts with the unit's own staged rows are raised at save, as in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Generic

from ...derived import (
    DerivedMachineQueries,
    DerivedRequestQueries,
    DerivedTemplateQueries,
    status_changed,
)
from ...domain import (
    AlreadyExists,
    ConcurrencyConflict,
    Machine,
    Request,
    Template,
)
from ...ports import E, Filters, Page
from ...query import (
    Condition,
    attributes_match,
    check_attributes,
    check_instance_ids,
    check_key,
    check_limit_offset,
    check_page_size,
    decode_cursor,
    matches,
    parse_filters,
)
from ...staging import (
    ANY_VERSION,
    Row,
    all_or_nothing,
    check_entity_type,
    page_of,
    staged_copy,
)
from .codec import checked_item
from .reads import batch_get_rows, count_rows, get_row, plan, query_rows

if TYPE_CHECKING:
    from .unit_of_work import DynamoUnitOfWork


class _DynamoRepository(Generic[E]):
    entity: type[E]

    def __init__(self, uow: DynamoUnitOfWork) -> None:
        self._uow = uow
        self._backend = uow.backend
        self._em = uow.backend.models[self.entity]
        self._pending: dict[str, tuple[int | None, Row | None]] = uow.pending_for(self.entity)

    def _to_entity(self, row: Row) -> E:
        return self.entity.restore(row)

    def _staged_copy(self, row: Row) -> Row:
        return staged_copy(self.entity, row)

    async def _row(self, key: str) -> Row | None:
        staged = self._pending.get(key)
        if staged is not None:
            return None if staged[1] is None else self._staged_copy(staged[1])
        return await self._backend.call("GetItem", get_row, self._em, key)

    async def _select(
        self, conditions: tuple[Condition, ...], after: str | None = None, want: int | None = None
    ) -> list[Row]:
        # Each staged key can hide at most one stored row: read that many more.
        extra = len(self._pending)
        query = plan(self._em, conditions, after)
        rows = await self._backend.call(
            "Query", query_rows, self._em, query, after, None if want is None else want + extra
        )
        if not self._pending:
            return rows
        rows = [row for row in rows if row[self.entity.KEY] not in self._pending]
        for key, (_expected, staged) in self._pending.items():
            if (
                staged is not None
                and (after is None or key > after)
                and matches(staged, conditions)
            ):
                rows.append(self._staged_copy(staged))
        rows.sort(key=itemgetter(self.entity.KEY))
        return rows if want is None else rows[:want]

    # -- the port
    async def get_by_id(self, entity_id: str) -> E | None:
        row = await self._row(check_key(self.entity, entity_id))
        return None if row is None else self._to_entity(row)

    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        conditions = parse_filters(self.entity, filters)
        limit, offset = check_limit_offset(limit, offset)
        rows = await self._select(conditions, want=None if limit is None else offset + limit)
        return [self._to_entity(row) for row in rows[offset:]]

    async def save(self, entity: E) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        self._stage_save(entity)

    async def save_many(self, entities: Iterable[E]) -> None:
        batch = list(entities)
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
        with all_or_nothing(self._uow, self._pending):
            for entity in batch:
                self._stage_save(entity)

    def _stage_save(self, entity: E) -> None:
        key, name = entity.key, self.entity.ENTITY_TYPE
        staged = self._pending.get(key)
        expected: int | None
        if staged is None:
            expected = None if entity.version == 0 else entity.version
        else:
            expected, current = staged
            if entity.version == 0:
                if current is not None:
                    raise AlreadyExists(name, key, current["version"])
            elif current is None or current["version"] != entity.version:
                actual = None if current is None else current["version"]
                raise ConcurrencyConflict(name, key, entity.version, actual)
        mark = self._uow.tracker.mark()
        self._uow.tracker.stamp(entity)
        row = entity.to_dict()
        try:
            checked_item(self._em, row)
        except BaseException:
            self._uow.tracker.undo(mark)
            raise
        self._pending[key] = (expected, row)

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        if await self._row(key) is None:
            return False
        staged = self._pending.get(key)
        self._pending[key] = (ANY_VERSION if staged is None else staged[0], None)
        return True

    async def exists(self, entity_id: str) -> bool:
        return await self._row(check_key(self.entity, entity_id)) is not None

    async def count(self, filters: Filters | None = None) -> int:
        conditions = parse_filters(self.entity, filters)
        query = plan(self._em, conditions, None)
        if query.exact and not self._pending:
            return await self._backend.call("Query(COUNT)", count_rows, self._em, query)
        return len(await self._select(conditions))

    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        conditions = parse_filters(self.entity, filters)
        limit = check_page_size(limit)
        after = None if cursor is None else decode_cursor(self.entity, conditions, cursor)
        rows = await self._select(conditions, after, want=limit + 1)
        return page_of(self.entity, conditions, [self._to_entity(row) for row in rows], limit)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        row = await self._row(key)
        if row is None:
            return False
        new = status_changed(self.entity, row, status, note_field, note)
        staged = self._pending.get(key)
        # Staged as a full put guarded by the version it was read at, like the memory backend.
        self._pending[key] = (row["version"] if staged is None else staged[0], new)
        return True


class DynamoTemplateRepository(_DynamoRepository[Template], DerivedTemplateQueries):
    entity = Template

    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        # Attributes are stored as JSON text, so matching is done here on every template.
        wanted = check_attributes(attributes)
        return [
            self._to_entity(row)
            for row in await self._select(())
            if attributes_match(row["attributes"], wanted)
        ]


class DynamoRequestRepository(_DynamoRepository[Request], DerivedRequestQueries):
    entity = Request


class DynamoMachineRepository(_DynamoRepository[Machine], DerivedMachineQueries):
    entity = Machine

    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        keys = list(dict.fromkeys(check_instance_ids(instance_ids)))
        missing = [key for key in keys if key not in self._pending]
        fetched = (
            await self._backend.call("BatchGetItem", batch_get_rows, self._em, missing)
            if missing
            else {}
        )
        found = []
        for key in keys:
            staged = self._pending.get(key)
            row = fetched.get(key) if staged is None else staged[1]
            if row is not None:
                found.append(self._to_entity(row if staged is None else self._staged_copy(row)))
        return found
