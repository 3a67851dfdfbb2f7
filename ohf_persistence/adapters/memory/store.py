"""The memory backend's storage and store.

``MemoryStorage.write`` checks every guard first and then applies every write in one
synchronous step: with no ``await`` between the checks and the writes, concurrent tasks on one
event loop cannot interleave inside a commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...domain import AlreadyExists, ConcurrencyConflict, Machine, Request, Template
from ...domain.entities import Entity
from ...ports import E
from ...repository import BackendStore
from ...storage import ANY_VERSION, Storage, Write
from .table import MemoryTable


class MemoryStorage(Storage):
    backend = "memory"
    keeps_rows = True

    def __init__(self) -> None:
        self.tables: dict[type[Entity], MemoryTable[Any]] = {
            Template: MemoryTable(Template, ["provider_type"]),
            Request: MemoryTable(Request, ["status"]),
            Machine: MemoryTable(Machine, ["status", "request_id", "return_request_id"]),
        }

    def table(self, entity: type[E]) -> MemoryTable[E]:
        table: MemoryTable[E] = self.tables[entity]
        return table

    async def write(self, writes: Sequence[Write], *, single: bool = False) -> None:
        # Check every guard first, then apply: all or nothing.
        for write in writes:
            if write.expected == ANY_VERSION:
                continue
            stored = self.tables[write.entity].rows.get(write.key)
            actual = None if stored is None else stored["version"]
            if actual != write.expected:
                etype = write.entity.ENTITY_TYPE
                if write.expected is None:
                    raise AlreadyExists(etype, write.key, actual)
                raise ConcurrencyConflict(etype, write.key, write.expected, actual)
        for write in writes:
            table = self.tables[write.entity]
            if write.row is None:
                table.remove(write.key)
            else:
                table.put(write.key, write.row)

    async def close(self) -> None:
        """The data lives as long as the storage object; the store refuses calls after this."""
        self.closed = True


class MemoryStore(BackendStore):
    storage: MemoryStorage

    def __init__(self) -> None:
        super().__init__(MemoryStorage())
