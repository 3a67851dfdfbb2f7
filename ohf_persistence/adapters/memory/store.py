"""The memory store and its unit of work.

A unit of work stages writes per key (with the committed version it was based on) and applies
them in one synchronous step at commit: with no ``await`` between the version checks and the
writes, concurrent tasks on one event loop cannot interleave inside a commit.
"""

from __future__ import annotations

from typing import Any

from ...autocommit import AutocommitMachines, AutocommitRequests, AutocommitTemplates
from ...domain import AlreadyExists, ConcurrencyConflict, Machine, Request, Template
from ...domain.entities import Entity
from ...ports import Store
from ...staging import ANY_VERSION, StagingUnitOfWork
from .repositories import (
    MemoryMachineRepository,
    MemoryRequestRepository,
    MemoryTemplateRepository,
)
from .table import Table


class MemoryStore(Store):
    backend = "memory"

    def __init__(self, logger: Any = None) -> None:
        self.tables: dict[type[Entity], Table] = {
            Template: Table("template_id", ["provider_type"]),
            Request: Table("request_id", ["status"]),
            Machine: Table("machine_id", ["status", "request_id", "return_request_id"]),
        }
        self.logger = logger
        self.templates = AutocommitTemplates(self.unit_of_work)
        self.requests = AutocommitRequests(self.unit_of_work)
        self.machines = AutocommitMachines(self.unit_of_work)

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    async def close(self) -> None:
        """Nothing to release; the data lives as long as the store object."""


class MemoryUnitOfWork(StagingUnitOfWork):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__()
        self._store = store
        self.templates = MemoryTemplateRepository(self, store.tables[Template])
        self.requests = MemoryRequestRepository(self, store.tables[Request])
        self.machines = MemoryMachineRepository(self, store.tables[Machine])

    async def commit(self) -> None:
        # Check every staged key first, then apply: all or nothing.
        for cls, staged in self._pending.items():
            table = self._store.tables[cls]
            for key, (expected, _row) in staged.items():
                if expected == ANY_VERSION:
                    continue
                committed = table.rows.get(key)
                actual = None if committed is None else committed["version"]
                if actual != expected:
                    if expected is None:
                        raise AlreadyExists(cls.ENTITY_TYPE, key, actual)
                    raise ConcurrencyConflict(cls.ENTITY_TYPE, key, expected, actual)
        for cls, staged in self._pending.items():
            table = self._store.tables[cls]
            for key, (_expected, row) in staged.items():
                if row is None:
                    table.remove(key)
                else:
                    table.put(key, row)
        self._committed()
