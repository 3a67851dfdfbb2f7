"""The repositories of a SQL unit of work.

Writes are staged per key exactly like the memory reference (``(expected version, row)``, the
row None for a delete) and reach the database only at ``commit`` (``writes.write_batch``).
Reads run on autocommit connections and overlay the unit's staged rows, so they see its own
writes without holding locks or a WAL snapshot between statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic

from ...derived import (
    DerivedMachineQueries,
    DerivedRequestQueries,
    DerivedTemplateQueries,
    status_changed,
)
from ...domain import AlreadyExists, ConcurrencyConflict, Machine, Request, Template
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
    Staged,
    all_or_nothing,
    check_entity_type,
    page_of,
    staged_copy,
)
from .codec import Codec
from .queries import KEY_CHUNK, Queries, chunks
from .writes import stored_versions

if TYPE_CHECKING:
    from .store import SqlStore, SqlUnitOfWork


class SqlRepository(Generic[E]):
    """Reads of one entity type, with ``uow``'s staged writes overlaid; writes staged in
    ``uow``. The store's autocommitting repositories (store.py) have no unit: nothing staged."""

    entity: type[E]

    def __init__(self, store: SqlStore, uow: SqlUnitOfWork | None = None) -> None:
        self._store = store
        self._uow = uow
        self._db = store.db
        self._q: Queries[E] = store.queries[self.entity]
        self._codec: Codec[E] = store.codecs[self.entity]
        self._pending: Staged = {} if uow is None else uow.pending_for(self.entity)

    @property
    def _unit(self) -> SqlUnitOfWork:
        assert self._uow is not None, "writes of the store's repositories commit on their own"
        return self._uow

    # -- reading: staged rows overlaid on committed rows
    def _from_staged(self, row: Row) -> E:
        return self.entity.restore(staged_copy(self.entity, row))

    async def _stored(self, key: str) -> E | None:
        rows = await self._db.fetch_rows(self._q.by_key, {"k": key})
        return self._codec.entity_of(rows[0]) if rows else None

    async def _view(self, key: str) -> E | None:
        staged = self._pending.get(key)
        if staged is not None:
            return None if staged[1] is None else self._from_staged(staged[1])
        return await self._stored(key)

    async def _select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[E]:
        q, codec = self._q, self._codec
        if not self._pending:
            return codec.entities(
                await self._db.fetch_rows(*q.listing(conditions, after, limit, offset))
            )
        # Fetch enough committed rows that the staged keys (dropped below) cannot starve the page.
        extra = None if limit is None else offset + limit + len(self._pending)
        merged: dict[str, E] = {}
        for item in codec.entities(await self._db.fetch_rows(*q.listing(conditions, after, extra))):
            if item.key not in self._pending:
                merged[item.key] = item
        for key, (_expected, staged) in self._pending.items():
            if (
                staged is not None
                and (after is None or key > after)
                and matches(staged, conditions)
            ):
                merged[key] = self._from_staged(staged)
        ordered = [merged[key] for key in sorted(merged)]
        return ordered[offset : None if limit is None else offset + limit]

    # -- the port
    async def get_by_id(self, entity_id: str) -> E | None:
        return await self._view(check_key(self.entity, entity_id))

    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        conditions = parse_filters(self.entity, filters)
        checked_limit, checked_offset = check_limit_offset(limit, offset)
        return await self._select(conditions, None, checked_limit, checked_offset)

    async def exists(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        staged = self._pending.get(key)
        if staged is not None:
            return staged[1] is not None
        return bool(await self._db.fetch_rows(self._q.exists, {"k": key}))

    async def count(self, filters: Filters | None = None) -> int:
        conditions = parse_filters(self.entity, filters)
        total = int((await self._db.fetch_rows(*self._q.counting(conditions)))[0][0])
        if self._pending:
            for chunk in chunks(list(self._pending), KEY_CHUNK):
                total -= len(await self._db.fetch_rows(*self._q.keys_matching(conditions, chunk)))
            total += sum(
                1
                for _e, row in self._pending.values()
                if row is not None and matches(row, conditions)
            )
        return total

    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        conditions = parse_filters(self.entity, filters)
        size = check_page_size(limit)
        after = None if cursor is None else decode_cursor(self.entity, conditions, cursor)
        return page_of(
            self.entity, conditions, await self._select(conditions, after, size + 1), size
        )

    # -- writing: staged until commit
    def _stage(self, key: str, row: Row | None, expected: int | None) -> None:
        """Like memory: the first staging of a key records the version the write is based on."""
        if key in self._pending:
            self._pending[key] = (self._pending[key][0], row)
        else:
            self._pending[key] = (expected, row)

    def _check_and_stage(self, entity: E, stored: int | None, known: bool) -> None:
        """Refuse like memory does against this unit's view; ``known`` says whether ``stored``
        is the committed version (else only staged rows are checked here and the guarded write
        at commit checks the rest)."""
        key = entity.key
        staged = self._pending.get(key)
        if staged is not None:
            stored, known = (None if staged[1] is None else staged[1]["version"]), True
        if known:
            if entity.version == 0:
                if stored is not None:
                    raise AlreadyExists(self.entity.ENTITY_TYPE, key, stored)
            elif stored != entity.version:
                raise ConcurrencyConflict(self.entity.ENTITY_TYPE, key, entity.version, stored)
        base = None if entity.version == 0 else entity.version
        self._unit.tracker.stamp(entity)
        self._stage(key, entity.to_dict(), base)

    async def _stored_versions(self, keys: Iterable[str]) -> dict[str, int]:
        if not self._unit.checks:
            return {}
        wanted = [key for key in dict.fromkeys(keys) if key not in self._pending]
        if not wanted:
            return {}
        q = self._q
        return await self._db.run(lambda conn: stored_versions(conn, q, wanted))

    async def save(self, entity: E) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        stored = await self._stored_versions([entity.key])
        self._check_and_stage(entity, stored.get(entity.key), self._unit.checks)

    async def save_many(self, entities: Iterable[E]) -> None:
        batch = list(entities)
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
        stored = await self._stored_versions(e.key for e in batch)
        with all_or_nothing(self._unit, self._pending):
            for entity in batch:
                self._check_and_stage(entity, stored.get(entity.key), self._unit.checks)

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        if not await self.exists(key):
            return False
        self._stage(key, None, ANY_VERSION)
        return True


class _StatusChange(SqlRepository[Any]):
    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        current = await self._view(key)
        if current is None:
            return False
        row = status_changed(self.entity, current.to_dict(), status, note_field, note)
        self._stage(key, row, current.version)
        return True


class SqlTemplateRepository(SqlRepository[Template], DerivedTemplateQueries):
    entity = Template

    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        wanted = check_attributes(attributes)
        found: dict[str, Template] = {}
        rows = await self._db.fetch_rows(*self._q.with_attributes(wanted))
        for item in self._codec.entities(rows):
            if item.key not in self._pending:
                found[item.key] = item
        for key, (_expected, staged) in self._pending.items():
            if staged is not None:
                found[key] = self._from_staged(staged)
        # Exact JSON equality here: SQLite's SQL only narrows, and staged rows were not filtered.
        return [
            found[key] for key in sorted(found) if attributes_match(found[key].attributes, wanted)
        ]


class SqlRequestRepository(_StatusChange, SqlRepository[Request], DerivedRequestQueries):
    entity = Request


class SqlMachineRepository(_StatusChange, SqlRepository[Machine], DerivedMachineQueries):
    entity = Machine

    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        keys = list(dict.fromkeys(check_instance_ids(instance_ids)))
        found: dict[str, Machine | None] = {}
        for key in keys:
            staged = self._pending.get(key)
            if staged is not None:
                found[key] = None if staged[1] is None else self._from_staged(staged[1])
        wanted = [key for key in keys if key not in found]
        for chunk in chunks(wanted, KEY_CHUNK):
            for item in self._codec.entities(await self._db.fetch_rows(*self._q.by_keys(chunk))):
                found[item.key] = item
        return [item for key in keys if (item := found.get(key)) is not None]
