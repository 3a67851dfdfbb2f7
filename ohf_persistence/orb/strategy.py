"""ORB's ``StorageStrategy`` (sync, dict in / dict out) on an ohf_persistence store.

One strategy serves one entity type. ORB's records are converted with the interop mapping
(``ohf_persistence.interop.orb``), so what ORB saves is what it reads back, and an ORB file
imported with ``ohf-persistence import`` reads the same through ORB.

A ``Session`` is what the strategies of one ORB unit of work share: the versions of the rows
read in it, the writes it holds and, once needed, one of our units of work (see ``Session``).
Saving a row read in the unit back is a write conditional on the version read (a concurrent
change raises ORB's ConcurrencyError, at the latest at commit); a row not read first is an
upsert. Outside a unit every call commits on its own. An ORB call costs at most one call of
the sync API (on SQLite run in this thread, elsewhere one round trip to its background loop);
a save inside a unit costs none until commit.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Literal, TypeVar

from orb.infrastructure.storage.base.strategy import StorageStrategy
from orb.infrastructure.storage.exceptions import StorageError, TransactionError

from .. import sync
from ..domain import (
    AlreadyExists,
    ConcurrencyConflict,
    Machine,
    MachineStatus,
    PersistenceError,
    Request,
    RequestStatus,
    Template,
    TransactionTooLarge,
)
from ..domain.entities import Entity
from ..interop.orb import from_orb, set_stored_version, to_orb
from ..interop.writer import repo_for
from ..ports import Repository, Store, UnitOfWork
from .errors import orb_error, readable

T = TypeVar("T")
Record = dict[str, Any]

ENTITY_TYPES: dict[str, type[Entity]] = {
    "templates": Template,
    "requests": Request,
    "machines": Machine,
}
_UPSERT_RETRIES = 5  # extra tries of an upsert whose row other writers keep moving


Key = tuple[type[Entity], str]
_CACHE_LIMIT = 50_000
_known_versions: weakref.WeakKeyDictionary[sync.SyncStore, dict[Key, int]] = (
    weakref.WeakKeyDictionary()
)


def known_versions(store: sync.SyncStore) -> dict[Key, int]:
    """The last version this process read or wrote per row of ``store``: a blind save outside
    a unit of work (an upsert) tries it first and reads the row only when it was wrong, so a
    new row is one INSERT. Only a hint: every write is still conditional."""
    cache = _known_versions.get(store)
    if cache is None:
        cache = _known_versions[store] = {}
    return cache


def remember(store: sync.SyncStore, entities: Iterable[Entity]) -> None:
    cache = known_versions(store)
    if len(cache) > _CACHE_LIMIT:
        cache.clear()  # a hint, not a record: starting over is always correct
    for entity in entities:
        cache[(type(entity), entity.key)] = entity.version


@dataclass
class _Write:
    """A write of ORB's unit not sent yet: saves of ``entities`` or deletes of ``keys``."""

    cls: type[Entity]
    entities: list[Entity] | None
    keys: list[str]


class Session:
    """What the strategies of one ORB unit of work share.

    ORB opens a unit of work for every operation, many of which only read, or read then write
    one row. So ORB's unit costs nothing until used: reads before any write go to the store
    (recording the versions read), writes are held in the session, and only when the unit
    needs more than one autocommitted write does one of our units of work open (replaying the
    held writes into it; reads after that go through it and see its pending writes). Commit
    sends a single held write as one conditional statement, or commits our unit: either way
    all or nothing. Every save of a row read in ORB's unit is conditional on the version read.
    """

    def __init__(self, store: sync.SyncStore) -> None:
        self.store = store
        self.active = False
        self.uow: UnitOfWork | None = None
        self.held: list[_Write] = []
        # (entity class, key) -> the stored version the unit's next save is conditional on
        self.versions: dict[Key, int] = {}

    @property
    def in_transaction(self) -> bool:
        return self.active

    def run(self, work: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        try:
            return self.store.run(work())
        except PersistenceError as exc:
            raise orb_error(what, exc) from exc

    async def source(self) -> Store | UnitOfWork:
        """Where a read goes: the store, or our unit once ORB's holds writes."""
        if self.active and (self.uow is not None or self.held):
            return await self.unit()
        return self.store.store

    async def unit(self) -> UnitOfWork:
        """Our unit of work for ORB's, opened on first need with the held writes replayed."""
        if self.uow is None:
            self.uow = await self.store.store.unit_of_work().__aenter__()
            held, self.held = self.held, []
            for write in held:
                await self._apply(self.uow, write, self.versions)
        return self.uow

    async def _apply(
        self, target: Store | UnitOfWork, write: _Write, versions: dict[Key, int]
    ) -> None:
        if write.entities is not None:
            guesses: Mapping[Key, int] = known_versions(self.store)
            if isinstance(target, UnitOfWork) and self.store.store.backend == "dynamodb":
                # A DynamoDB unit only buffers: a wrong guess would surface at commit, past
                # _stage's retry. Upserts of rows not read in this unit use the stored version.
                guesses = await _stored_versions(target, write.cls, write.entities, versions)
            await _stage(target, write.cls, write.entities, versions, guesses)
            return
        repo = repo_for(target, write.cls)
        for key in write.keys:
            await repo.delete(key)
            versions.pop((write.cls, key), None)

    def write(self, write: _Write, what: str) -> None:
        """A write inside ORB's unit: held, or staged in our unit if it is open."""
        if self.uow is None:
            self.held.append(write)
            return

        async def stage() -> None:
            await self._apply(await self.unit(), write, self.versions)

        self.run(stage, what)

    def begin(self) -> None:
        if self.active:
            raise readable(TransactionError("busy"), "Transaction already in progress")
        self.active = True
        self.versions = {}
        self.held = []

    def commit(self) -> None:
        uow, held, versions = self._take()
        single = len(held) == 1 and len(held[0].entities or held[0].keys) == 1
        if uow is None and not held:
            return

        async def commit() -> None:
            if uow is None and single:  # one row: one autocommitted conditional write
                await self._apply(self.store.store, held[0], versions)
                return
            unit = uow
            if unit is None:
                unit = await self.store.store.unit_of_work().__aenter__()
                for write in held:
                    await self._apply(unit, write, versions)
            try:
                try:
                    await unit.commit()
                except TransactionTooLarge:
                    # DynamoDB: more than one TransactWriteItems holds. Nothing was sent;
                    # commit in atomic chunks, undoing the committed ones if one fails.
                    from .chunked import commit_in_chunks

                    await commit_in_chunks(self.store.store, unit)
            finally:
                await unit.__aexit__(None, None, None)

        try:
            self.run(commit, "commit transaction")
        except BaseException:
            cache = known_versions(self.store)
            for key in versions:
                cache.pop(key, None)
            raise
        known_versions(self.store).update(versions)

    def rollback(self) -> None:
        uow, _held, versions = self._take()
        cache = known_versions(self.store)
        for key in versions:
            cache.pop(key, None)
        if uow is None:
            return  # nothing was sent

        async def rollback() -> None:
            await uow.__aexit__(None, None, None)  # rollback, then release the connection

        self.run(rollback, "rollback transaction")

    def _take(self) -> tuple[UnitOfWork | None, list[_Write], dict[Key, int]]:
        if not self.active:
            raise readable(TransactionError("none"), "No transaction in progress")
        taken = self.uow, self.held, self.versions
        self.active, self.uow, self.held, self.versions = False, None, [], {}
        return taken


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
            versions = self.session.versions
            for entity in entities:
                versions[(type(entity), entity.key)] = entity.version
        else:
            remember(self.session.store, entities)

    def _record(self, entity: Entity) -> Record:
        return to_orb(entity, share=True)  # read just now: nobody else holds it

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
            session.write(_Write(cls, entities, []), f"{what} {self.entity_type}")
            return
        store = session.store
        guesses = known_versions(store)

        async def autocommit() -> None:
            # One entity: one autocommitted write. Several: save_many, all or nothing (on
            # DynamoDB atomic per 100, as DESIGN.md says for save_many outside a unit).
            await _stage(store.store, cls, entities, {}, guesses)

        session.run(autocommit, f"{what} {self.entity_type}")
        remember(store, entities)

    def delete(self, entity_id: str) -> None:
        self.delete_batch([entity_id])

    def delete_batch(self, entity_ids: list[str]) -> None:
        cls, session = self.cls, self.session
        keys = [str(k) for k in entity_ids]
        if not keys:
            return

        if session.active:
            session.write(_Write(cls, None, keys), f"delete {self.entity_type}")
            return

        async def delete_all() -> None:
            if len(keys) == 1:
                await repo_for(session.store.store, cls).delete(keys[0])
                return
            async with session.store.store.unit_of_work() as own:
                repo = repo_for(own, cls)
                for key in keys:
                    await repo.delete(key)
                await own.commit()

        session.run(delete_all, f"delete {self.entity_type}")
        cache = known_versions(session.store)
        for key in keys:
            cache.pop((cls, key), None)

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


async def _stored_versions(
    unit: UnitOfWork, cls: type[Entity], entities: list[Entity], versions: dict[Key, int]
) -> dict[Key, int]:
    """The stored version (0: absent) of each row of ``entities`` not read in the unit, read
    through the unit (so its own pending writes count)."""
    repo = repo_for(unit, cls)
    found: dict[Key, int] = {}
    for entity in entities:
        key = (cls, entity.key)
        if key not in versions and key not in found:
            current = await repo.get_by_id(entity.key)
            found[key] = 0 if current is None else current.version
    return found


async def _stage(
    target: Store | UnitOfWork,
    cls: type[Entity],
    entities: list[Entity],
    versions: dict[Key, int],
    guesses: Mapping[Key, int],
) -> None:
    """Save ``entities`` on ``target`` (a unit of work, or the store: one autocommitted
    write). A row read in the unit (``versions``) is saved conditional on the version read; a
    conflict there is the caller's. Any other row is an upsert: tried on the version last seen
    (``guesses``, 0: an insert), and when the store says it holds another version, saved
    again on that one. No read first, so a new row or a known one is one write."""
    learned: dict[str, int] = {}
    repo = repo_for(target, cls)
    for _ in range(len(entities) + _UPSERT_RETRIES):
        for entity in entities:
            key = (cls, entity.key)
            if key in versions:
                version = versions[key]
            else:
                version = learned.get(entity.key, guesses.get(key, 0))
            object.__setattr__(entity, "version", version)
            # to_orb gives ORB's own record back while our version is the one this save stores
            set_stored_version(entity, version + 1)
        try:
            if len(entities) == 1:
                await repo.save(entities[0])
            else:
                await repo.save_many(entities)
        except ConcurrencyConflict as exc:
            if exc.entity_type != cls.ENTITY_TYPE or (cls, exc.key) in versions:
                raise
            actual = exc.actual_version
            if actual is None and isinstance(exc, AlreadyExists):
                current = await repo.get_by_id(exc.key)
                actual = None if current is None else current.version
            if learned.get(exc.key, -1) == (actual or 0):
                raise  # the same answer twice: not a moved row, give up
            learned[exc.key] = actual or 0
            continue
        for entity in entities:
            versions[(cls, entity.key)] = entity.version
        return
    raise ConcurrencyConflict(cls.ENTITY_TYPE, entities[0].key, None, None, "upsert kept failing")


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
