"""The DynamoDB store and its autocommitting repositories.

Reads go through a short-lived unit of work (nothing staged, so they are plain GetItem /
BatchGetItem / Query calls). Single writes outside a unit of work skip the transaction:
``save`` is one conditional PutItem, ``delete`` one DeleteItem, ``update_status`` one
conditional UpdateItem. ``save_many`` commits transactions of up to 100 entities, each atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...autocommit import AutocommitMachines, AutocommitRequests, AutocommitTemplates
from ...domain import Machine, Request, Template
from ...domain.entities import Entity
from ...domain.statuses import status_sources
from ...ports import Store
from ...query import check_key
from ...staging import check_entity_type
from ...tracking import SaveTracker
from .backend import Backend
from .codec import TRANSACTION_ACTIONS_LIMIT, checked_item
from .settings import DynamoSettings
from .unit_of_work import DynamoUnitOfWork
from .writes import Action, delete, put, update_status


class _DirectWrites:
    entity: type[Entity]
    _backend: Backend
    _store: DynamoStore

    async def save(self, entity: Any) -> None:
        check_entity_type(self.entity, entity)
        entity.validate()
        em = self._backend.models[self.entity]
        expected = None if entity.version == 0 else entity.version
        tracker = SaveTracker()
        tracker.stamp(entity)
        try:
            action = Action(em, entity.key, expected, entity.to_dict())
            await self._backend.call("PutItem", put, self._backend.connection(self.entity), action)
        except BaseException:
            tracker.undo()
            raise

    async def save_many(self, entities: Iterable[Any]) -> None:
        batch = list(entities)
        em = self._backend.models[self.entity]
        for entity in batch:  # refuse bad input before the first chunk is sent
            check_entity_type(self.entity, entity)
            entity.validate()
            checked_item(em, entity.to_dict())
        for start in range(0, len(batch), TRANSACTION_ACTIONS_LIMIT):
            async with self._store.unit_of_work() as uow:
                repo: Any = getattr(uow, _REPO[self.entity])
                await repo.save_many(batch[start : start + TRANSACTION_ACTIONS_LIMIT])
                await uow.commit()

    async def delete(self, entity_id: str) -> bool:
        key = check_key(self.entity, entity_id)
        return await self._backend.call(
            "DeleteItem", delete, self._backend.models[self.entity], key
        )

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        em = self._backend.models[self.entity]
        sources = status_sources(status)
        return await self._backend.call(
            "UpdateItem", update_status, em, key, status, sources, note_field, note
        )


_REPO: dict[type[Entity], str] = {Template: "templates", Request: "requests", Machine: "machines"}


class DynamoTemplates(_DirectWrites, AutocommitTemplates):
    entity = Template

    def __init__(self, store: DynamoStore) -> None:
        super().__init__(store.unit_of_work)
        self._store, self._backend = store, store.dynamo


class DynamoRequests(_DirectWrites, AutocommitRequests):
    entity = Request

    def __init__(self, store: DynamoStore) -> None:
        super().__init__(store.unit_of_work)
        self._store, self._backend = store, store.dynamo


class DynamoMachines(_DirectWrites, AutocommitMachines):
    entity = Machine

    def __init__(self, store: DynamoStore) -> None:
        super().__init__(store.unit_of_work)
        self._store, self._backend = store, store.dynamo


class DynamoStore(Store):
    backend = "dynamodb"

    def __init__(self, dynamo: Backend) -> None:
        self.dynamo = dynamo
        self.templates = DynamoTemplates(self)
        self.requests = DynamoRequests(self)
        self.machines = DynamoMachines(self)

    @property
    def settings(self) -> DynamoSettings:
        return self.dynamo.settings

    def unit_of_work(self) -> DynamoUnitOfWork:
        return DynamoUnitOfWork(self.dynamo)

    @property
    def client(self) -> Any:
        """The store's botocore client, e.g. to count API calls with event hooks."""
        return self.dynamo.client

    async def close(self) -> None:
        await self.dynamo.close()
