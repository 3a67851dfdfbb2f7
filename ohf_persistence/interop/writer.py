"""Writing incoming entities (from a file or another store) into a store.

Atomicity, per backend:
- memory, SQLite, PostgreSQL: the whole run is ONE unit of work (one database transaction on
  SQL), committed at the end. Any failure rolls everything back; a crash leaves nothing behind.
- DynamoDB: a transaction holds at most 100 writes, so each batch commits on its own and is
  recorded in a journal; on failure the journal is undone (inserted items deleted, updated
  items put back as they were, each undo conditional on nobody having changed the item since).

Versions: entities from our own format or another store keep their version and timestamps
(``UnitOfWork.restore_many``, guarded by the version the target held); entities from ORB are
stamped by the store like any save, ORB's own values are kept in ``_orb``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import PersistenceError, Request, Template, TransactionTooLarge
from ..domain.entities import Entity
from ..ports import Repository, Store, UnitOfWork
from ..query import MAX_IN_VALUES
from .orb import orb_info, set_stored_version, to_orb
from .records import TYPE_NAMES

BATCH = 500  # entities per save_many / restore_many (fewer when the store's write_limit is)


class ImportConflict(PersistenceError):
    """Records of the input already exist in the target (and --merge was not given)."""


def repo_for(uow: UnitOfWork | Store, cls: type[Entity]) -> Repository[Any]:
    if cls is Template:
        return uow.templates
    if cls is Request:
        return uow.requests
    return uow.machines


async def fetch_existing(
    source: UnitOfWork | Store, cls: type[Entity], keys: Sequence[str]
) -> dict[str, Entity]:
    """The stored entities among ``keys``: ``get_all`` with a key ``_in`` filter, which every
    backend answers with batched point lookups (an IN query, BatchGetItem), never a scan."""
    repo, found = repo_for(source, cls), {}
    for start in range(0, len(keys), MAX_IN_VALUES):
        chunk = list(keys[start : start + MAX_IN_VALUES])
        found.update({e.key: e for e in await repo.get_all({f"{cls.KEY}_in": chunk})})
    return found


@dataclass
class WriteStats:
    inserted: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    kept: list[tuple[str, str, str]] = field(default_factory=list)  # (type, id, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": dict(self.inserted),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
            "kept": [{"type": t, "id": k, "reason": r} for t, k, r in self.kept],
        }


@dataclass
class _Step:
    entity: Entity
    save_version: int  # the version the target must hold (0 = absent)
    restore: bool  # written as it is (UnitOfWork.restore) instead of stamped by a save
    old: Entity | None  # what the target held before (merge updates)


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        merge: bool,
        orb: bool,
        check_existing: bool,
        atomic: bool | None = None,
        undo: bool = True,
    ) -> None:
        self.store = store
        self.merge = merge
        self.orb = orb
        self.check_existing = check_existing or merge
        # One unit of work for the whole run, unless the store limits how much one holds
        # (DynamoDB: 100 writes); copy passes atomic=False, undo=False: a commit per page
        # keeps memory bounded, and a failed copy is resumed with --merge rather than undone.
        self.atomic = store.write_limit is None if atomic is None else atomic
        self.undo = undo
        self.chunk = min(BATCH, store.write_limit or BATCH)
        self.stats = WriteStats()
        self._uow: UnitOfWork | None = None
        self._journal: list[tuple[type[Entity], str, Entity | None, int]] = []

    async def __aenter__(self) -> Writer:
        if self.atomic:
            self._uow = await self.store.unit_of_work().__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._uow is not None:
            uow, self._uow = self._uow, None
            try:
                if exc is None:
                    await uow.commit()
            finally:
                await uow.__aexit__(exc_type, exc, tb)
        elif exc is not None and self.undo:
            await self._undo()

    async def write(self, cls: type[Entity], batch: Sequence[Entity]) -> None:
        if self._uow is not None:
            await self._save(self._uow, cls, await self._plan(self._uow, cls, batch))
            return
        for start in range(0, len(batch), self.chunk):
            await self._write_committed(cls, batch[start : start + self.chunk])

    async def _write_committed(self, cls: type[Entity], batch: Sequence[Entity]) -> None:
        async with self.store.unit_of_work() as uow:
            steps = await self._plan(uow, cls, batch)
            try:
                await self._save(uow, cls, steps)
                await uow.commit()
            except TransactionTooLarge:
                if len(batch) < 2:
                    raise
                # Nothing was sent: split and try each half (large items, 4 MB limit).
                await uow.rollback()
                half = len(batch) // 2
                for part in (batch[:half], batch[half:]):
                    await self._write_committed(cls, part)
                return
        for step in steps if self.undo else ():
            self._journal.append((cls, step.entity.key, step.old, step.entity.version))

    async def _plan(
        self, uow: UnitOfWork, cls: type[Entity], batch: Sequence[Entity]
    ) -> list[_Step]:
        existing: dict[str, Entity] = {}
        if self.check_existing:
            existing = await fetch_existing(uow, cls, [e.key for e in batch])
        name = TYPE_NAMES[cls]
        steps = []
        for entity in batch:
            old = existing.get(entity.key)
            if old is None:
                steps.append(self._insert(entity))
                continue
            if not self.merge:
                raise ImportConflict(f"{name} {entity.key!r} already exists in the target")
            step = self._merge(name, entity, old)
            if step is not None:
                steps.append(step)
        return steps

    def _insert(self, entity: Entity) -> _Step:
        return _Step(entity, 0, not self.orb and entity.version > 0, None)

    def _merge(self, name: str, entity: Entity, old: Entity) -> _Step | None:
        if self.orb:
            info = orb_info(old)
            new_view = entity.copy()
            set_stored_version(new_view, 1)
            object.__setattr__(new_view, "version", 1)
            if info is not None and old.version == info.get("stored") and _orb_same(old, new_view):
                self.stats.unchanged[name] += 1
                return None
            if info is None or old.version != info.get("stored"):
                self.stats.kept.append((name, entity.key, "changed in the target since imported"))
                return None
            return _Step(entity, old.version, False, old)
        if old == entity:
            self.stats.unchanged[name] += 1
            return None
        if entity.version > old.version:
            return _Step(entity, old.version, True, old)
        why = "target is newer" if old.version > entity.version else "same version, other content"
        self.stats.kept.append((name, entity.key, why))
        return None

    async def _save(self, uow: UnitOfWork, cls: type[Entity], steps: list[_Step]) -> None:
        saved: list[Entity] = []
        for step in steps:
            if step.restore:
                continue
            object.__setattr__(step.entity, "version", step.save_version)
            if self.orb:
                set_stored_version(step.entity, step.save_version + 1)
            saved.append(step.entity)
        restored = [(s.entity, s.save_version) for s in steps if s.restore]
        if restored:
            await uow.restore_many(restored)
        if saved:
            await repo_for(uow, cls).save_many(saved)
        name = TYPE_NAMES[cls]
        for step in steps:
            (self.stats.updated if step.old is not None else self.stats.inserted)[name] += 1

    async def _undo(self) -> None:
        """Compensate the committed batches of a failed run, newest first."""
        failed: list[str] = []
        while self._journal:
            cls, key, old, written = self._journal.pop()
            try:
                async with self.store.unit_of_work() as uow:
                    repo = repo_for(uow, cls)
                    if old is None:
                        # DynamoDB deletes are unconditional: check first (best effort).
                        current = await repo.get_by_id(key)
                        if current is not None and current.version != written:
                            raise PersistenceError("changed by someone else since written")
                        await repo.delete(key)
                    else:
                        # Conditional on our write still being there; the item gets its old
                        # version and timestamps back.
                        await uow.restore(old, replaces=written)
                    await uow.commit()
            except PersistenceError as exc:
                failed.append(f"{TYPE_NAMES[cls]} {key!r}: {exc}")
        if failed:
            raise PersistenceError(
                f"the import failed and {len(failed)} written records could not be undone "
                f"(first: {failed[0]})"
            )


def _orb_same(old: Entity, new: Entity) -> bool:
    return to_orb(old) == to_orb(new)
