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
from ...domain import Machine, MachineStatus, Request, RequestStatus, Template
from ...domain.entities import Entity
from ...domain.statuses import MACHINE_SOURCES, REQUEST_SOURCES
from ...domain.validation import check_optional_text
from ...ports import Store
from ...query import check_key
from ...tracking import SaveTracker
from .backend import Backend
from .codec import TRANSACTION_ACTIONS_LIMIT, checked_item
from .repositories import check_entity, machine_status, request_status
from .settings import DynamoSettings
from .unit_of_work import DynamoUnitOfWork
from .writes import Action, delete, put, update_status


class _DirectWrites:
    entity: type[Entity]
    _backend: Backend
    _store: DynamoStore

    async def save(self, entity: Any) -> None:
        check_entity(self.entity, entity)
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
            check_entity(self.entity, entity)
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

    async def _update_status(
        self, key: str, status: Any, sources: Any, field: str, note: Any
    ) -> bool:
        em = self._backend.models[self.entity]
        return await self._backend.call(
            "UpdateItem", update_status, em, key, status, sources, field, note
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

    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        key = check_key(Request, request_id)
        target = request_status(status, "status", "Request")
        note = check_optional_text(message, "status_message", "Request")
        return await self._update_status(
            key, target, REQUEST_SOURCES[target], "status_message", note
        )


class DynamoMachines(_DirectWrites, AutocommitMachines):
    entity = Machine

    def __init__(self, store: DynamoStore) -> None:
        super().__init__(store.unit_of_work)
        self._store, self._backend = store, store.dynamo

    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        key = check_key(Machine, machine_id)
        target = machine_status(status, "status", "Machine")
        note = check_optional_text(reason, "status_reason", "Machine")
        return await self._update_status(
            key, target, MACHINE_SOURCES[target], "status_reason", note
        )


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
