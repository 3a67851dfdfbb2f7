"""What the strategies of one ORB unit of work share, and how their saves are staged.

A ``Session`` holds the versions of the rows read in ORB's unit, the writes it holds and,
once needed, one of our units of work (see ``Session``). Saving a row read in the unit back is
a write conditional on the version read (a concurrent change raises ORB's ConcurrencyError, at
the latest at commit); a row not read first is an upsert (``stage``). Outside a unit every
call commits on its own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from orb.infrastructure.storage.exceptions import TransactionError

from .. import sync
from ..domain import AlreadyExists, ConcurrencyConflict, PersistenceError, TransactionTooLarge
from ..domain.entities import Entity
from ..interop.orb import set_stored_version
from ..interop.writer import fetch_existing, repo_for
from ..ports import Store, UnitOfWork
from .errors import orb_error, readable

T = TypeVar("T")
_UPSERT_RETRIES = 5  # extra tries of an upsert whose row other writers keep moving


Key = tuple[type[Entity], str]
_CACHE_LIMIT = 50_000
_known_versions: weakref.WeakKeyDictionary[sync.SyncStore, dict[Key, int]] = (
    weakref.WeakKeyDictionary()
)


def known_versions(store: sync.SyncStore) -> dict[Key, int]:
    """The last version this process read or wrote per row of ``store``: a blind save outside
    a unit of work (an upsert) tries it first and reads the row only when it was wrong, so a
    new row is one INSERT. Only a hint: every write is still conditional."""
    cache = _known_versions.get(store)
    if cache is None:
        cache = _known_versions[store] = {}
    return cache


def remember(store: sync.SyncStore, entities: Iterable[Entity]) -> None:
    cache = known_versions(store)
    if len(cache) > _CACHE_LIMIT:
        cache.clear()  # a hint, not a record: starting over is always correct
    for entity in entities:
        cache[(type(entity), entity.key)] = entity.version


@dataclass
class Write:
    """A write of ORB's unit not sent yet: saves of ``entities`` or deletes of ``keys``."""

    cls: type[Entity]
    entities: list[Entity] | None
    keys: list[str]


class Session:
    """What the strategies of one ORB unit of work share.

    ORB opens a unit of work for every operation, many of which only read, or read then write
    one row. So ORB's unit costs nothing until used: reads before any write go to the store
    (recording the versions read), writes are held in the session, and only when the unit
    needs more than one autocommitted write does one of our units of work open (replaying the
    held writes into it; reads after that go through it and see its pending writes). Commit
    sends a single held write as one conditional statement, or commits our unit: either way
    all or nothing. Every save of a row read in ORB's unit is conditional on the version read.
    """

    def __init__(self, store: sync.SyncStore) -> None:
        self.store = store
        self.active = False
        self.uow: UnitOfWork | None = None
        self.held: list[Write] = []
        # (entity class, key) -> the stored version the unit's next save is conditional on
        self.versions: dict[Key, int] = {}

    @property
    def in_transaction(self) -> bool:
        return self.active

    def run(self, work: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        try:
            return self.store.run(work())
        except PersistenceError as exc:
            raise orb_error(what, exc) from exc

    async def source(self) -> Store | UnitOfWork:
        """Where a read goes: the store, or our unit once ORB's holds writes."""
        if self.active and (self.uow is not None or self.held):
            return await self.unit()
        return self.store.store

    async def unit(self) -> UnitOfWork:
        """Our unit of work for ORB's, opened on first need with the held writes replayed."""
        if self.uow is None:
            self.uow = await self.store.store.unit_of_work().__aenter__()
            held, self.held = self.held, []
            for write in held:
                await self._apply(self.uow, write, self.versions)
        return self.uow

    async def _apply(
        self, target: Store | UnitOfWork, write: Write, versions: dict[Key, int]
    ) -> None:
        if write.entities is not None:
            guesses: Mapping[Key, int] = known_versions(self.store)
            if isinstance(target, UnitOfWork):
                # In our unit a wrong guess is a conflict that spoils it (DynamoDB's would
                # surface only at commit): upserts of rows not read in this unit use the
                # stored version, read through the unit.
                guesses = await stored_versions(target, write.cls, write.entities, versions)
            await stage(target, write.cls, write.entities, versions, guesses)
            return
        repo = repo_for(target, write.cls)
        cache = known_versions(self.store)
        for key in write.keys:
            await repo.delete(key)
            versions.pop((write.cls, key), None)
            cache.pop((write.cls, key), None)  # a hint only: gone even if the unit fails

    def write(self, write: Write, what: str) -> None:
        """A write inside ORB's unit: held, or staged in our unit if it is open."""
        if self.uow is None:
            self.held.append(write)
            return

        async def stage() -> None:
            await self._apply(await self.unit(), write, self.versions)

        self.run(stage, what)

    def begin(self) -> None:
        if self.active:
            raise readable(TransactionError("busy"), "Transaction already in progress")
        self.active = True
        self.versions = {}
        self.held = []

    def commit(self) -> None:
        uow, held, versions = self._take()
        single = len(held) == 1 and len(held[0].entities or held[0].keys) == 1
        if uow is None and not held:  # read only: what it read is the next save's guess
            known_versions(self.store).update(versions)
            return

        async def commit() -> None:
            if uow is None and single:  # one row: one autocommitted conditional write
                await self._apply(self.store.store, held[0], versions)
                return
            unit = uow
            if unit is None:
                unit = await self.store.store.unit_of_work().__aenter__()
                for write in held:
                    await self._apply(unit, write, versions)
            try:
                try:
                    await unit.commit()
                except TransactionTooLarge:
                    # DynamoDB: more than one TransactWriteItems holds. Nothing was sent;
                    # commit in atomic chunks, undoing the committed ones if one fails.
                    from .chunked import commit_in_chunks

                    await commit_in_chunks(self.store.store, unit)
            finally:
                await unit.__aexit__(None, None, None)

        try:
            self.run(commit, "commit transaction")
        except BaseException:
            cache = known_versions(self.store)
            for key in versions:
                cache.pop(key, None)
            raise
        known_versions(self.store).update(versions)

    def rollback(self) -> None:
        uow, _held, versions = self._take()
        cache = known_versions(self.store)
        for key in versions:
            cache.pop(key, None)
        if uow is None:
            return  # nothing was sent

        async def rollback() -> None:
            await uow.__aexit__(None, None, None)  # rollback, then release the connection

        self.run(rollback, "rollback transaction")

    def _take(self) -> tuple[UnitOfWork | None, list[Write], dict[Key, int]]:
        if not self.active:
            raise readable(TransactionError("none"), "No transaction in progress")
        taken = self.uow, self.held, self.versions
        self.active, self.uow, self.held, self.versions = False, None, [], {}
        return taken


async def stored_versions(
    source: Store | UnitOfWork,
    cls: type[Entity],
    entities: list[Entity],
    versions: Mapping[Key, int],
) -> dict[Key, int]:
    """The stored version (0: absent) of each row of ``entities`` not in ``versions``, read
    in batches through ``source`` (a unit's own pending writes count)."""
    keys = list(dict.fromkeys(e.key for e in entities if (cls, e.key) not in versions))
    found = await fetch_existing(source, cls, keys) if keys else {}
    return {(cls, key): found[key].version if key in found else 0 for key in keys}


async def stage(
    target: Store | UnitOfWork,
    cls: type[Entity],
    entities: list[Entity],
    versions: dict[Key, int],
    guesses: Mapping[Key, int],
) -> None:
    """Save ``entities`` on ``target`` (a unit of work, or the store: one autocommitted
    write). A row read in the unit (``versions``) is saved conditional on the version read; a
    conflict there is the caller's. Any other row is an upsert: tried on the version last seen
    (``guesses``, 0: an insert), and when the store says it holds another version, saved
    again on that one. No read first, so a new row or a known one is one write."""
    learned: dict[str, int] = {}
    repo = repo_for(target, cls)
    for _ in range(len(entities) + _UPSERT_RETRIES):
        for entity in entities:
            key = (cls, entity.key)
            if key in versions:
                version = versions[key]
            else:
                version = learned.get(entity.key, guesses.get(key, 0))
            object.__setattr__(entity, "version", version)
            # to_orb gives ORB's own record back while our version is the one this save stores
            set_stored_version(entity, version + 1)
        try:
            if len(entities) == 1:
                await repo.save(entities[0])
            else:
                await repo.save_many(entities)
        except ConcurrencyConflict as exc:
            # In a unit of ours the conflict already spoiled it (another writer committed
            # since the stored version was read): ORB gets ConcurrencyError and retries.
            if (
                isinstance(target, UnitOfWork)
                or exc.entity_type != cls.ENTITY_TYPE
                or (cls, exc.key) in versions
            ):
                raise
            actual = exc.actual_version
            if actual is None and isinstance(exc, AlreadyExists):
                current = await repo.get_by_id(exc.key)
                actual = None if current is None else current.version
            if learned.get(exc.key, -1) == (actual or 0):
                raise  # the same answer twice: not a moved row, give up
            learned[exc.key] = actual or 0
            continue
        for entity in entities:
            versions[(cls, entity.key)] = entity.version
        return
    raise ConcurrencyConflict(cls.ENTITY_TYPE, entities[0].key, None, None, "upsert kept failing")
