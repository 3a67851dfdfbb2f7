"""The generic SQL repository of a unit of work.

Writes are staged per key exactly like the memory reference (``(expected version, row)``, the
row None for a delete) and reach the database only at ``commit`` (see ``flush.py``). Reads run
on autocommit connections and overlay the unit's staged rows, so they see its own writes
without holding locks or a WAL snapshot between statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic

from ...domain import AlreadyExists, ConcurrencyConflict
from ...ports import E, Filters, Page
from ...query import (
    Condition,
    check_key,
    check_limit_offset,
    check_page_size,
    decode_cursor,
    matches,
    parse_filters,
)
from .errors import translated
from .statements import KEY_CHUNK, Codec, chunks

if TYPE_CHECKING:
    from .store import SqlUnitOfWork

from ...staging import (
    ANY_VERSION,
    Row,
    Staged,
    all_or_nothing,
    check_entity_type,
    page_of,
    staged_copy,
)


class SqlRepository(Generic[E]):
    entity: type[E]

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self._db = uow.db
        self.errors = uow.db.errors
        self._codec: Codec[E] = uow.codecs[self.entity]
        self._pending: Staged = uow.pending_for(self.entity)

    # -- reading: staged rows overlaid on committed rows
    def _from_staged(self, row: Row) -> E:
        return self.entity.restore(staged_copy(self.entity, row))

    async def _stored(self, key: str) -> E | None:
        fast = self._codec.fast
        rows = await self._db.run_fetch(fast.by_key, {"k": key})
        return fast.entity(rows[0]) if rows else None

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
        codec = self._codec
        if not self._pending:
            compiled, values = codec.fast.listing(conditions, after, limit, offset)
            entity = codec.fast.entity
            return [entity(row) for row in await self._db.run_fetch(compiled, values)]
        # Fetch enough committed rows that the staged keys (dropped below) cannot starve the page.
        extra = None if limit is None else offset + limit + len(self._pending)
        rows = await self._db.fetch(codec.listing(conditions, after, extra))
        merged: dict[str, E] = {}
        for row in rows:
            item = codec.entity_from_row(row)
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
    @translated
    async def get_by_id(self, entity_id: str) -> E | None:
        return await self._view(check_key(self.entity, entity_id))

    @translated
    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        conditions = parse_filters(self.entity, filters)
        checked_limit, checked_offset = check_limit_offset(limit, offset)
        return await self._select(conditions, None, checked_limit, checked_offset)

    @translated
    async def exists(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        staged = self._pending.get(key)
        if staged is not None:
            return staged[1] is not None
        return bool(await self._db.run_fetch(self._codec.fast.exists, {"k": key}))

    @translated
    async def count(self, filters: Filters | None = None) -> int:
        conditions = parse_filters(self.entity, filters)
        compiled, values = self._codec.fast.counting(conditions)
        total = int((await self._db.run_fetch(compiled, values))[0][0])
        if self._pending:
            keys = list(self._pending)
            for chunk in chunks(keys, KEY_CHUNK):
                total -= len(await self._db.fetch(self._codec.keys_matching(conditions, chunk)))
            total += sum(
                1
                for _e, row in self._pending.values()
                if row is not None and matches(row, conditions)
            )
        return total

    @translated
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
        self._uow.tracker.stamp(entity)
        self._stage(key, entity.to_dict(), base)

    async def _stored_versions(self, keys: Iterable[str]) -> dict[str, int]:
        wanted = [key for key in dict.fromkeys(keys) if key not in self._pending]
        found: dict[str, int] = {}
        for chunk in chunks(wanted, KEY_CHUNK):
            for row in await self._db.fetch(self._codec.versions_of(chunk, lock=False)):
                found[row[0]] = row[1]
        return found

    @translated
    async def save(self, entity: E) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        stored: dict[str, int] = {}
        if self._uow.checks and entity.key not in self._pending:
            stored = await self._stored_versions([entity.key])
        self._check_and_stage(entity, stored.get(entity.key), self._uow.checks)

    @translated
    async def save_many(self, entities: Iterable[E]) -> None:
        batch = list(entities)
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
        stored = await self._stored_versions(e.key for e in batch) if self._uow.checks else {}
        with all_or_nothing(self._uow, self._pending):
            for entity in batch:
                self._check_and_stage(entity, stored.get(entity.key), self._uow.checks)

    @translated
    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        if not await self.exists(key):
            return False
        self._stage(key, None, ANY_VERSION)
        return True
