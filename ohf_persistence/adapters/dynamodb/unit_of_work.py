"""The DynamoDB unit of work: staged writes committed as one TransactWriteItems."""

from __future__ import annotations

from typing import Any

from ...domain.entities import Entity
from ...ports import UnitOfWork
from ...tracking import SaveTracker
from .backend import Backend
from .codec import Row
from .models import ENTITIES
from .repositories import (
    DynamoMachineRepository,
    DynamoRequestRepository,
    DynamoTemplateRepository,
)
from .writes import Action, build_transaction, transact

Staged = dict[str, tuple[int | None, Row | None]]


def _commit(backend: Backend, actions: list[Action]) -> None:
    items = build_transaction(actions)  # TransactionTooLarge before anything is sent
    transact(backend.connection(actions[0].em.entity), actions, items)


class DynamoUnitOfWork(UnitOfWork):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._pending: dict[type[Entity], Staged] = {cls: {} for cls in ENTITIES}
        self.tracker = SaveTracker()
        self.templates = DynamoTemplateRepository(self)
        self.requests = DynamoRequestRepository(self)
        self.machines = DynamoMachineRepository(self)

    def pending_for(self, entity: type[Entity]) -> Staged:
        return self._pending[entity]

    def actions(self) -> list[Action]:
        """The staged writes in commit order: templates, requests, machines; staging order."""
        return [
            Action(self.backend.models[cls], key, expected, row)
            for cls in ENTITIES
            for key, (expected, row) in self._pending[cls].items()
        ]

    async def commit(self) -> None:
        actions = self.actions()
        if actions:
            await self.backend.call("TransactWriteItems", _commit, self.backend, actions)
        for staged in self._pending.values():
            staged.clear()
        self.tracker.forget()

    async def rollback(self) -> None:
        for staged in self._pending.values():
            staged.clear()
        self.tracker.undo()

    async def close(self) -> None:
        """Nothing to release: the store owns the connections."""

    def __repr__(self) -> str:
        count: Any = sum(len(s) for s in self._pending.values())
        return f"DynamoUnitOfWork(pending={count})"
