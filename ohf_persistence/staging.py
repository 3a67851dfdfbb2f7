"""The staged writes of a unit of work, kept the same way by every adapter.

Per entity type a unit of work holds ``key -> (expected, row)``: the stored version the write
was based on (None: the key was absent; ``ANY_VERSION``: not checked, as for a delete) and the
new field values (None: delete). Reads inside the unit overlay them on what is stored; the
adapter's ``commit`` sends them with ``expected`` as the guard of each write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .domain import ValidationError
from .domain.entities import ENTITY_TYPES, Entity
from .domain.validation import json_copy
from .ports import E, Page, UnitOfWork
from .query import Condition, encode_cursor
from .tracking import SaveTracker

ANY_VERSION = -1
Row = dict[str, Any]
Staged = dict[str, tuple[int | None, Row | None]]


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


def check_entity_type(cls: type[Entity], entity: Any) -> None:
    """``save`` of another entity type (or of anything else) is a ValidationError."""
    if not isinstance(entity, cls):
        raise ValidationError(
            f"expected a {cls.ENTITY_TYPE}, got {type(entity).__name__}",
            entity_type=cls.ENTITY_TYPE,
        )


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


def page_of(cls: type[E], conditions: tuple[Condition, ...], items: list[E], limit: int) -> Page[E]:
    """The page from up to ``limit + 1`` items in key order (the extra one only says more
    follow)."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(cls, conditions, items[-1].key) if more else None
    return Page(items, next_cursor)
