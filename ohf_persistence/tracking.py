"""TRANSITIONAL (SQL's old path only): stamps preset by ``preset_stamps``; see
``UnitOfWork.restore`` for the explicit call every other path uses.

Version and timestamp stamping on save, undone when the write is discarded.

``save`` bumps ``entity.version`` and sets ``updated_at`` as soon as the write is staged, so
later reads and saves inside the same unit of work agree with it. If the unit of work rolls back
(or an autocommitted write fails) the caller's objects get their previous values back, so they
can be saved again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from .domain.entities import Entity
from .repository import SaveTracker as BaseTracker

# Import and copy write entities that already have a stored history: the stamp they get is the
# version and updated_at of the source, not "previous + 1" and "now". Keyed by id(entity); the
# entity itself is kept in the value so the id cannot be reused while the preset is active.
_PRESETS: ContextVar[dict[int, tuple[Entity, int, datetime | None]] | None] = ContextVar(
    "ohf_persistence_stamp_presets", default=None
)


@contextmanager
def preset_stamps(
    presets: dict[int, tuple[Entity, int, datetime | None]],
) -> Iterator[None]:
    """Within the block, saving ``entity`` (a key of ``presets`` by ``id``) stamps it with the
    given version and updated_at instead of ``version + 1`` and now. The version check of the
    save itself is unchanged (an insert still needs ``version == 0``)."""
    token = _PRESETS.set(presets)
    try:
        yield
    finally:
        _PRESETS.reset(token)


class SaveTracker(BaseTracker):
    """``repository.SaveTracker`` honouring ``preset_stamps`` (SQL's transitional path)."""

    def stamp(self, entity: Entity) -> None:
        presets = _PRESETS.get()
        preset = None if presets is None else presets.get(id(entity))
        if preset is not None and preset[0] is entity:
            self._stamps.append((entity, entity.version, entity.created_at, entity.updated_at))
            object.__setattr__(entity, "version", preset[1])
            object.__setattr__(entity, "updated_at", preset[2])
            return
        super().stamp(entity)
