"""ORB's ``StorageStrategy`` (sync, dict in / dict out) on an ohf_persistence store.

One strategy serves one entity type. ORB's records are converted with the interop mapping
(``ohf_persistence.interop.orb``), so what ORB saves is what it reads back, and an ORB file
imported with ``ohf-persistence import`` reads the same through ORB.

A ``Session`` is what the strategies of one ORB unit of work share: while ORB's unit is open
it holds one of our units of work, and the versions of the rows read in it. Saving a row read
in the unit back is a write conditional on the version read (a concurrent change raises ORB's
ConcurrencyError at the save or at commit); a row not read first is an upsert on the version
current in the unit. Outside a unit every call commits on its own. Each ORB call is one round
trip to the sync bridge's loop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import FrameType, TracebackType
from typing import Any, Literal, TypeVar

from orb.infrastructure.storage.base.strategy import StorageStrategy
from orb.infrastructure.storage.exceptions import StorageError, TransactionError

from .. import sync
from ..domain import (
    ConcurrencyConflict,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    Template,
    TransactionTooLarge,
)
from ..domain.entities import Entity
from ..interop.orb import from_orb, set_stored_version, to_orb
from ..interop.writer import fetch_existing, repo_for
from ..ports import Repository, Store, UnitOfWork
from .errors import readable, translate

T = TypeVar("T")
Record = dict[str, Any]

ENTITY_TYPES: dict[str, type[Entity]] = {
    "templates": Template,
    "requests": Request,
    "machines": Machine,
}
_UPSERT_RETRIES = 5  # an upsert outside a unit re-reads the version when someone moved it


class Session:
    """Our unit of work while ORB's is open, shared by the strategies of that ORB unit."""

    def __init__(self, store: sync.SyncStore) -> None:
        self.store = store
        self.uow: UnitOfWork | None = None
        # (entity class, key) -> the stored version the unit's next save is conditional on
        self.versions: dict[tuple[type[Entity], str], int] = {}

    @property
    def in_transaction(self) -> bool:
        return self.uow is not None

    def run(self, work: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        with translate(what):
            self.store.check()
            return sync.run(work())

    def begin(self) -> None:
        if self.uow is not None:
            raise readable(TransactionError("busy"), "Transaction already in progress")

        async def begin() -> UnitOfWork:
            return await self.store.store.unit_of_work().__aenter__()

        self.uow = self.run(begin, "begin transaction")
        self.versions = {}

    def commit(self) -> None:
        uow = self._take()

        async def commit() -> None:
            try:
                try:
                    await uow.commit()
                except TransactionTooLarge:
                    # DynamoDB: more than one TransactWriteItems holds. Nothing was sent;
                    # commit in atomic chunks, undoing the committed ones if one fails.
                    from .chunked import commit_in_chunks

                    await commit_in_chunks(self.store.store, uow)
            finally:
                await uow.__aexit__(None, None, None)

        self.run(commit, "commit transaction")

    def rollback(self) -> None:
        uow = self._take()

        async def rollback() -> None:
            await uow.__aexit__(None, None, None)  # rollback, then release the connection

        self.run(rollback, "rollback transaction")

    def _take(self) -> UnitOfWork:
        uow, self.uow = self.uow, None
        self.versions = {}
        if uow is None:
            raise readable(TransactionError("none"), "No transaction in progress")
        return uow


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
        source: Store | UnitOfWork = session.uow or session.store.store
        return session.run(lambda: work(source), f"{what} {self.entity_type}")

    def _seen(self, entities: Iterable[Entity]) -> None:
        if self.session.uow is not None:
            versions = self.session.versions
            for entity in entities:
                versions[(type(entity), entity.key)] = entity.version

    def _record(self, entity: Entity) -> Record:
        return to_orb(entity)

    # -- reads ---------------------------------------------------------------------------

    def find_by_id(self, entity_id: str) -> Record | None:
        cls = self.cls

        async def work(source: Store | UnitOfWork) -> Entity | None:
            return await repo_for(source, cls).get_by_id(str(entity_id))

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
            return await repo_for(source, cls).exists(str(entity_id))

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
        query = _indexed_query(cls, criteria)

        async def work(source: Store | UnitOfWork) -> list[Entity]:
            return await query(repo_for(source, cls))

        entities = self._call("find by criteria", work)
        self._seen(entities)
        records = [self._record(e) for e in entities]
        return [r for r in records if _matches(r, criteria)]

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
                value = to_orb(entity).get(column)
                if isinstance(value, str | int | bool) or value is None:
                    out[str(value)] = out.get(str(value), 0) + 1
            return out

        return self._call("count by column", work)

    # -- writes --------------------------------------------------------------------------

    def _entity(self, entity_id: str, data: Mapping[str, Any]) -> Entity:
        with translate(f"convert {self.entity_type} {entity_id!r}"):
            record = dict(data)
            record.setdefault(self.cls.KEY, entity_id)
            return from_orb(self.cls, str(entity_id), record)

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
        uow = session.uow
        if uow is not None:
            versions = session.versions

            async def in_unit() -> None:
                await _stage(uow, cls, entities, versions)

            session.run(in_unit, f"{what} {self.entity_type}")
            return

        async def own_unit() -> None:
            for attempt in range(_UPSERT_RETRIES):
                async with session.store.store.unit_of_work() as own:
                    try:
                        await _stage(own, cls, entities, {})
                        await own.commit()
                        return
                    except ConcurrencyConflict:
                        # Not read by the caller first: an upsert. Someone moved the row
                        # between our read and our write; read again (a few times).
                        if attempt == _UPSERT_RETRIES - 1:
                            raise
                        for entity in entities:
                            object.__setattr__(entity, "version", 0)

        session.run(own_unit, f"{what} {self.entity_type}")

    def delete(self, entity_id: str) -> None:
        self.delete_batch([entity_id])

    def delete_batch(self, entity_ids: list[str]) -> None:
        cls, session = self.cls, self.session
        keys = [str(k) for k in entity_ids]
        if not keys:
            return

        async def delete_all(source: UnitOfWork) -> None:
            repo = repo_for(source, cls)
            for key in keys:
                await repo.delete(key)

        uow = session.uow
        if uow is not None:

            async def in_unit() -> None:
                await delete_all(uow)
                for key in keys:
                    session.versions.pop((cls, key), None)

            session.run(in_unit, f"delete {self.entity_type}")
            return

        async def own_unit() -> None:
            async with session.store.store.unit_of_work() as own:
                await delete_all(own)
                await own.commit()

        session.run(own_unit, f"delete {self.entity_type}")

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


async def _stage(
    uow: UnitOfWork,
    cls: type[Entity],
    entities: list[Entity],
    versions: dict[tuple[type[Entity], str], int],
) -> None:
    """Save ``entities`` in ``uow``, each conditional on the version read in the unit, or on
    the version stored now when the unit did not read it (one batched read for those)."""
    unknown = [e.key for e in entities if (cls, e.key) not in versions]
    current: dict[str, Entity] = {}
    if unknown:
        current = await fetch_existing(uow, cls, unknown)
    for entity in entities:
        known = versions.get((cls, entity.key))
        if known is not None:
            version = known
        else:
            found = current.get(entity.key)
            version = found.version if found is not None else 0
        object.__setattr__(entity, "version", version)
        # to_orb gives ORB's own record back while our version is the one this save stores
        set_stored_version(entity, version + 1)
    await repo_for(uow, cls).save_many(entities)
    for entity in entities:
        versions[(cls, entity.key)] = entity.version


Query = Callable[[Repository[Any]], Coroutine[Any, Any, list[Entity]]]


def _indexed_query(cls: type[Entity], criteria: Mapping[str, Any]) -> Query:
    """The narrowest of our queries that holds every record matching ``criteria``."""
    by_key = criteria.get(cls.KEY)
    if isinstance(by_key, str):

        async def one(repo: Repository[Any]) -> list[Entity]:
            found = await repo.get_by_id(by_key)
            return [] if found is None else [found]

        return one
    for name in ("request_id", "return_request_id", "status"):
        value = criteria.get(name)
        if not isinstance(value, str) or (name != "status" and cls is not Machine):
            continue
        if name == "status" and cls is Template:
            continue

        async def indexed(repo: Repository[Any], name: str = name, value: str = value) -> list[Any]:
            if name == "request_id":
                return list(await repo.get_by_request_id(value))  # type: ignore[attr-defined]
            if name == "return_request_id":
                return list(await repo.get_by_return_request_id(value))  # type: ignore[attr-defined]
            try:
                return list(await repo.get_by_status(value))  # type: ignore[attr-defined]
            except ValueError:  # not one of our statuses: nothing can match
                return []

        return indexed
    filters = _scalar_filters(cls, criteria)

    async def scan(repo: Repository[Any]) -> list[Entity]:
        return list(await repo.get_all(filters or None))

    return scan


def _scalar_filters(cls: type[Entity], criteria: Mapping[str, Any]) -> dict[str, Any]:
    """The criteria our filters can take as they are (str / bool / int on scalar fields)."""
    renames = {"max_instances": "max_number"} if cls is Template else {}
    out: dict[str, Any] = {}
    for name, value in criteria.items():
        ours = renames.get(name, name)
        kind = cls.SCALARS.get(ours)
        if kind is None or value is None or isinstance(value, list | dict):
            continue
        # bool is an int in Python: an int field must not take True, nor a bool field 1
        if isinstance(value, kind) and (kind is bool) == isinstance(value, bool):
            out[ours] = value
    return out


def _matches(record: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    """ORB's ``BaseStorageStrategy._matches_criteria`` (plus the JSON strategy's ``$in``)."""
    for name, value in criteria.items():
        if "." in name:
            current: Any = record
            *path, last = name.split(".")
            for part in path:
                if not isinstance(current, Mapping) or part not in current:
                    return False
                current = current[part]
            if not isinstance(current, Mapping) or last not in current or current[last] != value:
                return False
        elif isinstance(value, Mapping) and "$in" in value:
            if name not in record or record[name] not in value["$in"]:
                return False
        elif isinstance(record.get(name), list) and not isinstance(value, list):
            if value not in record[name]:
                return False
        elif name not in record or record[name] != value:
            return False
    return True
