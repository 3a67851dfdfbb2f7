"""Autocommitting repositories built from any backend's unit of work.

``store.machines.save(m)`` is ``async with store.unit_of_work() as uow: await
uow.machines.save(m); await uow.commit()``; reads skip the commit. Adapters with a cheaper path
for a method override it in a subclass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from .derived import DerivedMachineQueries, DerivedRequestQueries, DerivedTemplateQueries
from .domain import Machine, Request, Template
from .ports import (
    E,
    Filters,
    MachineRepository,
    Page,
    Repository,
    RequestRepository,
    TemplateRepository,
    UnitOfWork,
)

R = TypeVar("R", bound=Repository[Any])


class _Autocommit(Generic[R, E]):
    def __init__(self, open_uow: Callable[[], UnitOfWork], pick: Callable[[UnitOfWork], R]):
        self._open_uow = open_uow
        self._pick = pick

    async def _read(self, method: str, *args: Any) -> Any:
        async with self._open_uow() as uow:
            return await getattr(self._pick(uow), method)(*args)

    async def _write(self, method: str, *args: Any) -> Any:
        async with self._open_uow() as uow:
            result = await getattr(self._pick(uow), method)(*args)
            await uow.commit()
            return result

    async def get_by_id(self, entity_id: str) -> E | None:
        result: E | None = await self._read("get_by_id", entity_id)
        return result

    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        result: list[E] = await self._read("get_all", filters, limit, offset)
        return result

    async def save(self, entity: E) -> None:
        await self._write("save", entity)

    async def save_many(self, entities: Iterable[E]) -> None:
        await self._write("save_many", entities)

    async def delete(self, entity_id: str) -> bool:
        return bool(await self._write("delete", entity_id))

    async def exists(self, entity_id: str) -> bool:
        return bool(await self._read("exists", entity_id))

    async def count(self, filters: Filters | None = None) -> int:
        result: int = await self._read("count", filters)
        return result

    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        result: Page[E] = await self._read("page", filters, limit, cursor)
        return result


class AutocommitTemplates(_Autocommit[TemplateRepository, Template], DerivedTemplateQueries):
    def __init__(self, open_uow: Callable[[], UnitOfWork]) -> None:
        super().__init__(open_uow, lambda uow: uow.templates)

    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        result: list[Template] = await self._read("find_by_attributes", attributes)
        return result


class AutocommitRequests(_Autocommit[RequestRepository, Request], DerivedRequestQueries):
    def __init__(self, open_uow: Callable[[], UnitOfWork]) -> None:
        super().__init__(open_uow, lambda uow: uow.requests)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        return bool(await self._write("_set_status", key, status, note_field, note))


class AutocommitMachines(_Autocommit[MachineRepository, Machine], DerivedMachineQueries):
    def __init__(self, open_uow: Callable[[], UnitOfWork]) -> None:
        super().__init__(open_uow, lambda uow: uow.machines)

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        return bool(await self._write("_set_status", key, status, note_field, note))

    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        result: list[Machine] = await self._read("get_by_instance_ids", instance_ids)
        return result
