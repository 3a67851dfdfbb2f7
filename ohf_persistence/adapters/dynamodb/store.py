"""The DynamoDB storage and store.

``write`` of one row is one conditional PutItem / DeleteItem; of several, one
TransactWriteItems (at most 100 writes and 4 MB: ``TransactionTooLarge`` before anything is
sent). Versions are never read at ``save`` (``checks_at_save`` False): the condition
expressions at commit find conflicts, so a unit of work reports them from ``commit()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...domain import Machine, Request, Template
from ...domain.entities import Entity
from ...ports import E
from ...repository import BackendStore
from ...storage import Storage, Write
from .backend import Backend
from .items import TRANSACTION_ACTIONS_LIMIT
from .settings import DynamoSettings
from .table import DynamoTable
from .writes import Action, build_transaction, put, transact


def _transact(backend: Backend, actions: list[Action]) -> None:
    items = build_transaction(actions)  # TransactionTooLarge before anything is sent
    transact(backend.connection(actions[0].em.entity), actions, items)


class DynamoStorage(Storage):
    backend = "dynamodb"
    write_limit = TRANSACTION_ACTIONS_LIMIT
    checks_at_save = False

    def __init__(self, dynamo: Backend) -> None:
        self.dynamo = dynamo
        self.tables: dict[type[Entity], DynamoTable[Any]] = {
            cls: DynamoTable(dynamo, cls) for cls in (Template, Request, Machine)
        }

    def table(self, entity: type[E]) -> DynamoTable[E]:
        table: DynamoTable[E] = self.tables[entity]
        return table

    async def write(self, writes: Sequence[Write], *, single: bool = False) -> None:
        models = self.dynamo.models
        actions = [Action(models[w.entity], w.key, w.expected, w.row) for w in writes]
        if single:  # an autocommitted save: one conditional PutItem, atomic by itself
            action = actions[0]
            operation = "DeleteItem" if action.row is None else "PutItem"
            connection = self.dynamo.connection(writes[0].entity)
            await self.dynamo.call(operation, put, connection, action)
        elif actions:
            await self.dynamo.call("TransactWriteItems", _transact, self.dynamo, actions)

    async def close(self) -> None:
        self.closed = True
        await self.dynamo.close()


class DynamoStore(BackendStore):
    storage: DynamoStorage

    def __init__(self, dynamo: Backend) -> None:
        super().__init__(DynamoStorage(dynamo))
        self.dynamo = dynamo

    @property
    def settings(self) -> DynamoSettings:
        return self.dynamo.settings

    @property
    def client(self) -> Any:
        """The store's botocore client, e.g. to count API calls with event hooks."""
        return self.dynamo.client
