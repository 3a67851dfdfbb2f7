"""ORB's ``StorageStrategy`` (sync, dict in / dict out) on an ohf_persistence store.

One strategy serves one entity type. ORB's records are converted with the interop mapping
(``ohf_persistence.interop.orb``), so what ORB saves is what it reads back, and an ORB file
imported with ``ohf-persistence import`` reads the same through ORB. The strategies of one ORB
unit of work share a ``Session`` (session.py: versions read, held writes, our unit of work).
An ORB call costs at most one call of the sync API (on SQLite run in this thread, elsewhere one
round trip to its background loop); a save inside a unit costs none until commit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any, Literal, TypeVar

from orb.infrastructure.storage.base.strategy import StorageStrategy
from orb.infrastructure.storage.exceptions import StorageError

from ..domain import (
    Machine,
    MachineStatus,
    PersistenceError,
    Request,
    RequestStatus,
    Template,
    ValidationError,
)
from ..domain.entities import Entity
from ..interop.orb import from_orb, to_orb
from ..interop.writer import repo_for
from ..ports import Store, UnitOfWork
from ..query import check_key
from .criteria import indexed_query, matches
from .errors import orb_error, readable
from .session import Key, Session, Write, known_versions, remember, stage, stored_versions

T = TypeVar("T")
Record = dict[str, Any]

ENTITY_TYPES: dict[str, type[Entity]] = {
    "templates": Template,
    "requests": Request,
    "machines": Machine,
}


class OhfStorageStrategy(StorageStrategy):  # type: ignore[misc]  # ORB's class is untyped
    """ORB's storage port for one entity type on ohf_persistence (see the module docstring)."""

    def __init__(self, session: Session, entity_type: str | None = None) -> None:
        self.session = session
        self._cls: type[Entity] | None = None
        self._entity_type = "generic"
        if entity_type is not None:
            self.entity_type = entity_type

    # ORB's repositories set ``entity_type`` on strategies that have one (MachineRepositoryImpl)
    @property
    def entity_type(self) -> str:
        return self._entity_type

    @entity_type.setter
    def entity_type(self, value: str) -> None:
        self._entity_type = value
        self._cls = ENTITY_TYPES.get(value)

    @property
    def cls(self) -> type[Entity]:
        if self._cls is None:
            self._bind_from_caller()
        assert self._cls is not None
        return self._cls

    def _bind_from_caller(self) -> None:
        """ORB's factory builds strategies without saying which entity type they store, and
        only MachineRepositoryImpl sets ``entity_type``: the first call tells, from the ORB
        repository calling us. A strategy serves one repository for its whole life."""
        from orb.infrastructure.storage.repositories.machine_repository import (
            MachineRepositoryImpl,
        )
        from orb.infrastructure.storage.repositories.request_repository import (
            RequestRepositoryImpl,
        )
        from orb.infrastructure.storage.repositories.template_repository import (
            TemplateRepositoryImpl,
        )

        owners = {
            MachineRepositoryImpl: "machines",
            RequestRepositoryImpl: "requests",
            TemplateRepositoryImpl: "templates",
        }
        frame: FrameType | None = sys._getframe(2)
        for _ in range(12):
            if frame is None:
                break
            caller = frame.f_locals.get("self")
            for owner, name in owners.items():
                if isinstance(caller, owner):
                    self.entity_type = name
                    return
            frame = frame.f_back
        text = (
            "ORB storage 'ohf': this strategy does not know its entity type; set "
            "strategy.entity_type to 'templates', 'requests' or 'machines'"
        )
        raise readable(StorageError(text), text)

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, what: str, work: Callable[[Store | UnitOfWork], Coroutine[Any, Any, T]]) -> T:
        """Run ``work`` on the unit of work if ORB's is open, else on the store."""
        session = self.session

        async def call() -> T:
            return await work(await session.source())

        return session.run(call, f"{what} {self.entity_type}")

    def _seen(self, entities: Sequence[Entity]) -> None:
        if self.session.active:
            # The unit's first read of a row guards its save: ORB does not say which read the
            # saved data came from, and a later read must not hide a change made in between
            # (a re-read that really was the source costs ORB only a retry).
            versions = self.session.versions
            for entity in entities:
                versions.setdefault((type(entity), entity.key), entity.version)
        else:
            remember(self.session.store, entities)

    def _record(self, entity: Entity) -> Record:
        return to_orb(entity, share=True)  # read just now: nobody else holds it

    # -- reads ---------------------------------------------------------------------------

    # A read asked for a value no stored row can hold (an empty or over-long id, a newline …)
    # finds nothing, as on ORB's own storages: every stored value passed the same checks.

    def find_by_id(self, entity_id: str) -> Record | None:
        cls = self.cls

        async def work(source: Store | UnitOfWork) -> Entity | None:
            try:
                return await repo_for(source, cls).get_by_id(str(entity_id))
            except ValidationError:
                return None

        entity = self._call("find", work)
        if entity is None:
            return None
        self._seen((entity,))
        return self._record(entity)

    def find_all(self) -> dict[str, Record]:
        cls = self.cls

        async def work(source: Store | UnitOfWork) -> list[Entity]:
            return list(await repo_for(source, cls).get_all())

        entities = self._call("find all", work)
        self._seen(entities)
        return {e.key: self._record(e) for e in entities}

    def exists(self, entity_id: str) -> bool:
        cls = self.cls

        async def work(source: Store | UnitOfWork) -> bool:
            try:
                return await repo_for(source, cls).exists(str(entity_id))
            except ValidationError:
                return False

        return self._call("exists", work)

    def count(self) -> int:
        cls = self.cls

        async def work(source: Store | UnitOfWork) -> int:
            return await repo_for(source, cls).count()

        return self._call("count", work)

    def find_by_criteria(self, criteria: dict[str, Any]) -> list[Record]:
        """ORB's criteria (equality; a list field matches by membership; ``a.b`` looks into
        dicts) answered by our indexed queries where the key allows, then checked against the
        ORB records exactly as ORB's own strategies do."""
        cls = self.cls
        query = indexed_query(cls, criteria)

        async def work(source: Store | UnitOfWork) -> list[Entity]:
            try:
                return await query(repo_for(source, cls))
            except ValidationError:
                return []

        entities = self._call("find by criteria", work)
        self._seen(entities)
        records = [self._record(e) for e in entities]
        return [r for r in records if matches(r, criteria)]

    def count_by_column(self, column: str) -> dict[str, int]:
        """``{value: count}`` of one column (ORB's dashboard: status, provider_api)."""
        cls = self.cls
        statuses: tuple[str, ...] = ()
        if column == "status" and cls is Request:
            statuses = tuple(s.value for s in RequestStatus)
        elif column == "status" and cls is Machine:
            statuses = tuple(s.value for s in MachineStatus)

        async def work(source: Store | UnitOfWork) -> dict[str, int]:
            repo = repo_for(source, cls)
            if statuses:  # one indexed count per status rather than reading every row
                counts = {s: await repo.count({"status": s}) for s in statuses}
                return {s: n for s, n in counts.items() if n}
            out: dict[str, int] = {}
            for entity in await repo.get_all():
                value = to_orb(entity, share=True).get(column)
                if isinstance(value, str | int | bool) or value is None:
                    out[str(value)] = out.get(str(value), 0) + 1
            return out

        return self._call("count by column", work)

    # -- writes --------------------------------------------------------------------------

    def _entity(self, entity_id: str, data: Mapping[str, Any]) -> Entity:
        cls = self.cls
        if cls.KEY not in data:  # from_orb only reads the record: copy just to add the key
            data = {**data, cls.KEY: entity_id}
        try:
            return from_orb(cls, str(entity_id), data)
        except PersistenceError as exc:
            raise orb_error(f"convert {self.entity_type} {entity_id!r}", exc) from exc

    def save(self, entity_id: str, data: dict[str, Any]) -> None:
        entity = self._entity(entity_id, data)
        self._save_many([entity], "save")

    def save_batch(self, entities: dict[str, dict[str, Any]]) -> None:
        """All of ``entities`` in one unit of work (ORB's unit if open, else one of ours)."""
        converted = [self._entity(k, v) for k, v in entities.items()]
        if converted:
            self._save_many(converted, "save batch")

    def _save_many(self, entities: list[Entity], what: str) -> None:
        cls, session = self.cls, self.session
        if session.active:
            session.write(Write(cls, entities, []), f"{what} {self.entity_type}")
            return
        store = session.store
        guesses: Mapping[Key, int] = known_versions(store)

        async def autocommit() -> None:
            # One entity: one autocommitted write, on the version last seen. Several:
            # save_many, all or nothing (on DynamoDB atomic per 100, as DESIGN.md says for
            # save_many outside a unit), on the stored versions of the rows this process has
            # not seen, read in batches first (a wrong guess costs the whole batch again).
            known = guesses
            if len(entities) > 1:
                known = {**guesses, **await stored_versions(store.store, cls, entities, guesses)}
            await stage(store.store, cls, entities, {}, known)

        session.run(autocommit, f"{what} {self.entity_type}")
        remember(store, entities)

    def delete(self, entity_id: str) -> None:
        self.delete_batch([entity_id])

    def delete_batch(self, entity_ids: list[str]) -> None:
        cls, session = self.cls, self.session
        keys = [str(k) for k in entity_ids if _storable_key(cls, str(k))]  # others: absent
        if not keys:
            return

        write, what = Write(cls, None, keys), f"delete {self.entity_type}"
        if session.active:
            session.write(write, what)
            return
        # Outside ORB's unit: a unit of its own, committed as ORB's are (one row: one
        # statement; on DynamoDB more than 100 rows: atomic chunks with undo).
        own = Session(session.store)
        own.begin()
        own.write(write, what)
        own.commit()

    # -- transactions and lifecycle --------------------------------------------------------

    def begin_transaction(self) -> None:
        self.session.begin()

    def commit_transaction(self) -> None:
        self.session.commit()

    def rollback_transaction(self) -> None:
        self.session.rollback()

    def is_healthy(self) -> tuple[bool, dict[str, Any]]:
        details: dict[str, Any] = {
            "type": "ohf",
            "backend": self.session.store.backend,
            "entity_type": self.entity_type,
        }
        try:
            self._call("health check", lambda source: repo_for(source, Template).exists("-"))
        except Exception as exc:  # the probe reports, it never raises
            details["reason"] = str(exc)
            return False, details
        details["state"] = "ok"
        return True, details

    def cleanup(self) -> None:
        """Nothing to release: the store is shared by the process and closed at exit."""

    def __enter__(self) -> OhfStorageStrategy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> Literal[False]:
        if exc_type is not None and self.session.in_transaction:
            self.session.rollback()
        return False


def _storable_key(cls: type[Entity], key: str) -> bool:
    try:
        check_key(cls, key)
    except ValidationError:
        return False
    return True
