"""The staged writes of a unit of work, kept the same way by every adapter.

Per entity type a unit of work holds ``key -> (expected, row)``: the stored version the write
was based on (None: the key was absent; ``ANY_VERSION``: not checked, as for a delete) and the
new field values (None: delete). Reads inside the unit overlay them on what is stored; the
adapter's ``commit`` sends them with ``expected`` as the guard of each write.
"""

from __future__ import annotations

from typing import Any

from .domain import Machine, Request, Template
from .domain.entities import Entity
from .ports import UnitOfWork
from .tracking import SaveTracker

ANY_VERSION = -1
Row = dict[str, Any]
Staged = dict[str, tuple[int | None, Row | None]]
# Commit order: templates, then requests, then the machines that point at them.
ENTITY_ORDER: tuple[type[Entity], ...] = (Template, Request, Machine)


class StagingUnitOfWork(UnitOfWork):
    def __init__(self) -> None:
        self._pending: dict[type[Entity], Staged] = {cls: {} for cls in ENTITY_ORDER}
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
