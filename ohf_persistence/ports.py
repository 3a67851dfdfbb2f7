"""The ports: repository interfaces, the unit of work and the store.

Method names and signatures follow ORB's seed repositories (all async) plus ``save_many``,
``count`` and keyset ``page``. Every list result is ordered by the entity key, ascending, except
``get_by_instance_ids`` which keeps the caller's order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from .domain import Machine, MachineStatus, Request, RequestStatus, Template
from .domain.entities import Entity

E = TypeVar("E", bound=Entity)
Filters = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Page(Generic[E]):
    """One page of a keyset-paged query; ``next_cursor`` is None on the last page."""

    items: list[E]
    next_cursor: str | None


class Repository(ABC, Generic[E]):
    """Operations every repository offers."""

    @abstractmethod
    async def get_by_id(self, entity_id: str) -> E | None:
        """The entity with this key, or None."""

    @abstractmethod
    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        """Entities matching ``filters`` (see the README's filter rules), by key ascending,
        after skipping ``offset``, at most ``limit``."""

    @abstractmethod
    async def save(self, entity: E) -> None:
        """Insert (``version == 0``) or update (stored version must equal ``entity.version``).

        On success ``entity.version`` is incremented and ``updated_at`` set.
        """

    @abstractmethod
    async def save_many(self, entities: Iterable[E]) -> None:
        """``save`` of each, all or nothing (DynamoDB outside a unit of work: per chunk of
        100)."""

    @abstractmethod
    async def delete(self, entity_id: str) -> bool:
        """Remove the entity; False when it did not exist."""

    @abstractmethod
    async def exists(self, entity_id: str) -> bool:
        """Whether an entity has this key."""

    @abstractmethod
    async def count(self, filters: Filters | None = None) -> int:
        """How many entities match ``filters``."""

    @abstractmethod
    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        """Keyset paging by key: ``limit`` items (1 … 10,000) after ``cursor``, the previous
        page's ``next_cursor``; a cursor of another query is an ``InvalidCursor`` error."""


class TemplateRepository(Repository[Template]):
    @abstractmethod
    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        """Templates whose ``attributes[k] == v`` for every given item."""

    @abstractmethod
    async def get_by_provider_type(self, provider_type: str) -> list[Template]:
        """Templates of this provider type."""


class RequestRepository(Repository[Request]):
    @abstractmethod
    async def get_by_status(self, status: RequestStatus | str) -> list[Request]:
        """Requests in this status."""

    @abstractmethod
    async def get_active_requests(self) -> list[Request]:
        """Requests in pending, in_progress, acquiring or partial_pending."""

    @abstractmethod
    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        """Atomic conditional status change; False when the id does not exist."""


class MachineRepository(Repository[Machine]):
    @abstractmethod
    async def get_by_request_id(self, request_id: str) -> list[Machine]:
        """Machines whose ``request_id`` is this one."""

    @abstractmethod
    async def get_by_return_request_id(self, return_request_id: str) -> list[Machine]:
        """Machines whose ``return_request_id`` is this one."""

    @abstractmethod
    async def get_by_status(self, status: MachineStatus | str) -> list[Machine]:
        """Machines in this status."""

    @abstractmethod
    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        """Atomic conditional status change; False when the id does not exist."""

    @abstractmethod
    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        """Machines in the order given; unknown ids skipped, duplicates returned once."""


class UnitOfWork(ABC):
    """A group of writes that commits all or nothing.

    Leaving the ``async with`` block without ``commit()`` (or by an exception) discards every
    write. Reads inside the unit see its own pending writes. The unit may be used again after
    ``commit()``; later writes need another ``commit()``.
    """

    templates: TemplateRepository
    requests: RequestRepository
    machines: MachineRepository

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()
        await self.close()

    @abstractmethod
    async def commit(self) -> None:
        """Store every write of the unit, all or nothing."""

    @abstractmethod
    async def rollback(self) -> None:
        """Discard writes not yet committed (a no-op when there are none)."""

    @abstractmethod
    async def restore(self, entity: Entity, *, replaces: int = 0) -> None:
        """Write ``entity`` as it was stored elsewhere: its ``version``, ``created_at`` and
        ``updated_at`` are written as given (>= 1), not stamped, and the object is left as it
        is. The write is guarded like a save: ``replaces`` is the version the target must hold
        (0: the key must be absent). For import, copy and undo, which carry a stored history;
        application code uses ``save``."""

    @abstractmethod
    async def restore_many(self, items: Iterable[tuple[Entity, int]]) -> None:
        """``restore(entity, replaces=n)`` of each ``(entity, n)``, staged all or nothing."""

    async def close(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release backend resources (called on exit, after rollback)."""


class Store(ABC):
    """An open backend: autocommitting repositories plus units of work."""

    templates: TemplateRepository
    requests: RequestRepository
    machines: MachineRepository

    #: Short name of the backend ("memory", "sqlite", "postgresql", "dynamodb").
    backend: str
    #: The most writes one unit of work can commit (DynamoDB: 100 per TransactWriteItems);
    #: None: no limit. Callers writing in bulk (import, copy) size their units by it.
    write_limit: int | None = None

    @abstractmethod
    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work (use it as ``async with``)."""

    @abstractmethod
    async def close(self) -> None:
        """Release the backend; later calls raise ``StoreClosed``. Closing twice is fine."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
