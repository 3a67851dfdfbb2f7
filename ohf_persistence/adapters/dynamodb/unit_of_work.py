"""The DynamoDB unit of work: staged writes committed as one TransactWriteItems."""

from __future__ import annotations

from typing import Any

from ...domain.entities import ENTITY_TYPES as ENTITIES
from ...staging import StagingUnitOfWork
from .backend import Backend
from .repositories import (
    DynamoMachineRepository,
    DynamoRequestRepository,
    DynamoTemplateRepository,
)
from .writes import Action, build_transaction, transact


def _commit(backend: Backend, actions: list[Action]) -> None:
    items = build_transaction(actions)  # TransactionTooLarge before anything is sent
    transact(backend.connection(actions[0].em.entity), actions, items)


class DynamoUnitOfWork(StagingUnitOfWork):
    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.templates = DynamoTemplateRepository(self)
        self.requests = DynamoRequestRepository(self)
        self.machines = DynamoMachineRepository(self)

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
        self._committed()

    async def close(self) -> None:
        """Nothing to release: the store owns the connections."""

    def __repr__(self) -> str:
        count: Any = sum(len(s) for s in self._pending.values())
        return f"DynamoUnitOfWork(pending={count})"
