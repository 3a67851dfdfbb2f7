"""Repositories of the memory backend, always bound to a unit of work's pending writes."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
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
from .table import Table

if TYPE_CHECKING:
    from .store import MemoryUnitOfWork


class _MemoryRepository(Generic[E]):
    entity: type[E]

    def __init__(self, uow: MemoryUnitOfWork, table: Table) -> None:
        self._uow = uow
        self._table = table
        self._pending: dict[str, tuple[int | None, Row | None]] = uow.pending_for(self.entity)

    # -- the unit of work's view: pending writes overlaid on committed rows
    def _row(self, key: str) -> Row | None:
        staged = self._pending.get(key)
        if staged is not None:
            return staged[1]
        return self._table.rows.get(key)

    def _to_entity(self, row: Row) -> E:
        return self.entity.restore(staged_copy(self.entity, row))

    def _select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None = None,
        stop: int | None = None,
    ) -> list[Row]:
        """Matching rows in key order, after ``after``, at most ``stop`` of them. Key range
        conditions and the cursor become bisects, so a page costs its own size, not the
        table's."""
        keys: list[str] = self._candidate_keys(conditions)
        if self._pending:
            keys = sorted(set(keys) | self._pending.keys())
        first, end = 0, len(keys)
        if after is not None:
            first = bisect.bisect_right(keys, after)
        for cond in conditions:
            if cond.field != self.entity.KEY or cond.op == "in":
                continue
            if cond.op in ("eq", "gte"):
                first = max(first, bisect.bisect_left(keys, cond.value))
            elif cond.op == "gt":
                first = max(first, bisect.bisect_right(keys, cond.value))
            if cond.op in ("eq", "lte"):
                end = min(end, bisect.bisect_right(keys, cond.value))
            elif cond.op == "lt":
                end = min(end, bisect.bisect_left(keys, cond.value))
        rows: list[Row] = []
        for index in range(first, end):
            row = self._row(keys[index])
            if row is not None and matches(row, conditions):
                rows.append(row)
                if stop is not None and len(rows) >= stop:
                    break
        return rows

    def _candidate_keys(self, conditions: tuple[Condition, ...]) -> list[str]:
        for cond in conditions:
            if cond.field in self._table.indexes and cond.value is not None:
                if cond.op == "eq":
                    return sorted(self._table.keys_where(cond.field, cond.value))
                if cond.op == "in":
                    found: set[str] = set()
                    for value in cond.value:
                        found |= self._table.keys_where(cond.field, value)
                    return sorted(found)
        return self._table.sorted_keys()

    def _stage(self, key: str, row: Row | None, expected: int | None) -> None:
        if key not in self._pending:
            committed = self._table.rows.get(key)
            base = None if committed is None else committed["version"]
            self._pending[key] = (ANY_VERSION if expected == ANY_VERSION else base, row)
        else:
            self._pending[key] = (self._pending[key][0], row)

    # -- the port
    async def get_by_id(self, entity_id: str) -> E | None:
        row = self._row(check_key(self.entity, entity_id))
        return None if row is None else self._to_entity(row)

    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        conditions = parse_filters(self.entity, filters)
        limit, offset = check_limit_offset(limit, offset)
        end = None if limit is None else offset + limit
        rows = self._select(conditions, stop=end)
        return [self._to_entity(row) for row in rows[offset:end]]

    async def save(self, entity: E) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        self._save(entity)

    async def save_many(self, entities: Iterable[E]) -> None:
        batch = list(entities)
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
        with all_or_nothing(self._uow, self._pending):
            for entity in batch:
                self._save(entity)

    def _save(self, entity: E) -> None:
        key = entity.key
        current = self._row(key)
        if entity.version == 0:
            if current is not None:
                raise AlreadyExists(self.entity.ENTITY_TYPE, key, current["version"])
        elif current is None or current["version"] != entity.version:
            actual = None if current is None else current["version"]
            raise ConcurrencyConflict(self.entity.ENTITY_TYPE, key, entity.version, actual)
        self._uow.tracker.stamp(entity)
        self._stage(key, entity.to_dict(), entity.version - 1)

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        if self._row(key) is None:
            return False
        self._stage(key, None, ANY_VERSION)
        return True

    async def exists(self, entity_id: str) -> bool:
        return self._row(check_key(self.entity, entity_id)) is not None

    async def count(self, filters: Filters | None = None) -> int:
        return len(self._select(parse_filters(self.entity, filters)))

    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        conditions = parse_filters(self.entity, filters)
        limit = check_page_size(limit)
        after = None if cursor is None else decode_cursor(self.entity, conditions, cursor)
        rows = self._select(conditions, after, stop=limit + 1)
        return page_of(self.entity, conditions, [self._to_entity(row) for row in rows], limit)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        row = self._row(key)
        if row is None:
            return False
        new = status_changed(self.entity, row, status, note_field, note)
        self._stage(key, new, row["version"])
        return True


class MemoryTemplateRepository(_MemoryRepository[Template], DerivedTemplateQueries):
    entity = Template

    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        wanted = check_attributes(attributes)
        return [
            self._to_entity(row)
            for row in self._select(())
            if attributes_match(row["attributes"], wanted)
        ]


class MemoryRequestRepository(_MemoryRepository[Request], DerivedRequestQueries):
    entity = Request


class MemoryMachineRepository(_MemoryRepository[Machine], DerivedMachineQueries):
    entity = Machine

    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        found, seen = [], set()
        for key in check_instance_ids(instance_ids):
            if key in seen:
                continue
            seen.add(key)
            row = self._row(key)
            if row is not None:
                found.append(self._to_entity(row))
        return found
