"""TRANSITIONAL: the SQL adapter's unit of work until it moves onto ``repository.py``.

The staged writes of a unit of work, kept the same way by every adapter.

Per entity type a unit of work holds ``key -> (expected, row)``: the stored version the write
was based on (None: the key was absent; ``ANY_VERSION``: not checked, as for a delete) and the
new field values (None: delete). Reads inside the unit overlay them on what is stored; the
adapter's ``commit`` sends them with ``expected`` as the guard of each write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .domain.entities import ENTITY_TYPES, Entity
from .domain.validation import json_copy
from .ports import UnitOfWork
from .repository import Staged, check_entity_type, page_of
from .storage import ANY_VERSION, Row
from .tracking import SaveTracker, preset_stamps

__all__ = ["ANY_VERSION", "Row", "Staged", "check_entity_type", "page_of"]


class StagingUnitOfWork(UnitOfWork):
    def __init__(self) -> None:
        self._pending: dict[type[Entity], Staged] = {cls: {} for cls in ENTITY_TYPES}
        self.tracker = SaveTracker()

    def pending_for(self, entity: type[Entity]) -> Staged:
        return self._pending[entity]

    def _committed(self) -> None:
        """The staged writes are stored: clear them and keep the stamped versions."""
        for staged in self._pending.values():
            staged.clear()
        self.tracker.forget()

    async def rollback(self) -> None:
        for staged in self._pending.values():
            staged.clear()
        self.tracker.undo()

    async def restore(self, entity: Entity, *, replaces: int = 0) -> None:
        await self.restore_many([(entity, replaces)])

    async def restore_many(self, items: Iterable[tuple[Entity, int]]) -> None:
        # Transitional (until this adapter moves onto repository.BackendUnitOfWork): a save
        # based on ``replaces`` whose stamp is the entity's own version and updated_at.
        pairs = list(items)
        presets = {id(e): (e, e.version, e.updated_at) for e, _r in pairs}
        repos: Any = {cls: getattr(self, attr) for cls, attr in _REPOS.items()}
        mark, before = self.tracker.mark(), {c: dict(s) for c, s in self._pending.items()}
        try:
            with preset_stamps(presets):
                for entity, replaces in pairs:
                    object.__setattr__(entity, "version", replaces)
                    await repos[type(entity)].save(entity)
        except BaseException:
            self.tracker.undo(mark)
            for entity, _replaces in pairs:
                object.__setattr__(entity, "version", presets[id(entity)][1])
                object.__setattr__(entity, "updated_at", presets[id(entity)][2])
            for cls, staged in self._pending.items():
                staged.clear()
                staged.update(before[cls])
            raise


_REPOS = {ENTITY_TYPES[0]: "templates", ENTITY_TYPES[1]: "requests", ENTITY_TYPES[2]: "machines"}


def staged_copy(cls: type[Entity], row: Row) -> Row:
    """A staged row as fresh field values: its containers copied, so the caller's mutations of
    what a read returned never reach the staged write."""
    values = dict(row)
    for name in cls.CONTAINERS:
        values[name] = json_copy(values[name])
    return values


@contextmanager
def all_or_nothing(uow: StagingUnitOfWork, staged: Staged) -> Iterator[None]:
    """Stage several writes inside a unit of work atomically: on an error the staged rows and
    the entities' stamps are put back as they were before the block."""
    mark, before = uow.tracker.mark(), dict(staged)
    try:
        yield
    except BaseException:
        uow.tracker.undo(mark)
        staged.clear()
        staged.update(before)
        raise
