"""The repositories, unit of work and store, written once over a backend's storage primitives.

A backend supplies a ``storage.Storage`` (a few primitives per entity type, see storage.py);
everything the ports promise is built here, the same way for every backend:

- argument checks and entity validation, before anything is read or written;
- stamping: ``save`` bumps ``entity.version`` and sets ``updated_at`` when the write is staged,
  and gives the caller's objects their previous values back if the write is discarded
  (``SaveTracker``);
- the unit of work's staged writes (``key -> (expected version, row)``) overlaid on stored
  rows for every read, and sent as one guarded batch (``Storage.write``) at ``commit``;
- autocommitted calls (``store.machines.save(m)``) go straight to the primitives: reads read,
  ``save`` stages into a private batch and writes it, ``delete`` and ``update_status`` are
  the one-step ``Table.delete`` / ``Table.update_status``;
- paging, keyed queries, ``get_by_instance_ids``, ``find_by_attributes``.

Repositories are the same classes inside and outside a unit of work: ``unit`` None means
autocommit (the ``add`` → ``_add`` shape of "Architecture Patterns with Python", with the
backend-specific part behind ``Storage``/``Table`` like eventsourcing's recorders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic

from .domain import (
    ACTIVE_REQUEST_STATUSES,
    AlreadyExists,
    ConcurrencyConflict,
    InvalidStatusTransition,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    StoreClosed,
    Template,
    ValidationError,
    machine_transition_allowed,
    request_transition_allowed,
    utcnow,
)
from .domain.entities import ENTITY_TYPES, Entity
from .domain.validation import check_enum, check_optional_text, json_copy
from .ports import (
    E,
    Filters,
    MachineRepository,
    Page,
    RequestRepository,
    Store,
    TemplateRepository,
    UnitOfWork,
)
from .query import (
    Condition,
    attributes_match,
    check_attributes,
    check_instance_ids,
    check_key,
    check_limit_offset,
    check_page_size,
    decode_cursor,
    encode_cursor,
    matches,
    parse_filters,
)
from .storage import ANY_VERSION, Row, Storage, Table, Write

#: A unit of work's staged writes of one entity type: key -> (expected version, new row or
#: None for a delete); ``expected`` as in ``storage.Write``.
Staged = dict[str, tuple[int | None, Row | None]]

request_status = check_enum(RequestStatus)
machine_status = check_enum(MachineStatus)

_Stamp = tuple[Entity, int, datetime | None, datetime | None]


class SaveTracker:
    """The stamps given to the caller's entities, so a discarded write can take them back."""

    def __init__(self) -> None:
        self._stamps: list[_Stamp] = []

    def stamp(self, entity: Entity) -> None:
        """Record the entity's state, then bump its version and timestamps."""
        values = vars(entity)  # unvalidated: the stamps are valid by construction
        created = values["created_at"]
        self._stamps.append((entity, values["version"], created, values["updated_at"]))
        now = utcnow()
        values["version"] += 1
        values["updated_at"] = now
        if created is None:
            values["created_at"] = now

    def mark(self) -> int:
        return len(self._stamps)

    def undo(self, mark: int = 0) -> None:
        """Give every entity stamped since ``mark`` its previous values (newest first)."""
        while len(self._stamps) > mark:
            entity, version, created, updated = self._stamps.pop()
            values = vars(entity)
            values["version"] = version
            values["created_at"] = created
            values["updated_at"] = updated

    def forget(self) -> None:
        """The writes are stored: keep the stamped values."""
        self._stamps.clear()


class _Journal:
    """Staging several writes atomically: what each touched key held before, and the tracker's
    mark, so a failure part-way puts staged rows and stamps back as they were."""

    def __init__(self, tracker: SaveTracker) -> None:
        self.tracker = tracker
        self.mark = tracker.mark()
        self.previous: list[tuple[Staged, str, tuple[int | None, Row | None] | None]] = []

    def put(self, staged: Staged, key: str, value: tuple[int | None, Row | None]) -> None:
        self.previous.append((staged, key, staged.get(key)))
        staged[key] = value

    def undo(self) -> None:
        self.tracker.undo(self.mark)
        for staged, key, old in reversed(self.previous):
            if old is None:
                staged.pop(key, None)
            else:
                staged[key] = old


@contextmanager
def _atomically(unit: BackendUnitOfWork) -> Iterator[_Journal]:
    """Stage into ``unit`` all or nothing. A conflict with a stored row (not with one the unit
    staged itself) spoils the unit until it is rolled back (see ``commit``)."""
    journal = _Journal(unit.tracker)
    try:
        yield journal
    except BaseException as exc:
        journal.undo()
        if (
            isinstance(exc, ConcurrencyConflict)
            and unit.conflict is None
            and not unit.holds(exc.entity_type, exc.key)
        ):
            unit.conflict = exc
        raise


def status_changed(
    entity: type[Entity], row: Mapping[str, Any], status: Any, note_field: str, note: str | None
) -> Row:
    """The field values after a status change of ``row`` (a unit of work's view of the stored
    entity), version bumped; InvalidStatusTransition when the rules refuse it."""
    allowed = request_transition_allowed if entity is Request else machine_transition_allowed
    if not allowed(row["status"], status):
        raise InvalidStatusTransition(
            entity.ENTITY_TYPE, str(row[entity.KEY]), row["status"], status
        )
    new = dict(row)
    new["status"] = status
    if note is not None:
        new[note_field] = note
    new["version"] = row["version"] + 1
    new["updated_at"] = utcnow()
    return new


def check_entity_type(cls: type[Entity], entity: Any) -> None:
    """``save`` of another entity type (or of anything else) is a ValidationError."""
    if not isinstance(entity, cls):
        raise ValidationError(
            f"expected a {cls.ENTITY_TYPE}, got {type(entity).__name__}",
            entity_type=cls.ENTITY_TYPE,
        )


def page_of(cls: type[E], conditions: tuple[Condition, ...], items: list[E], limit: int) -> Page[E]:
    """The page from up to ``limit + 1`` items in key order (the extra one only says more
    follow)."""
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(cls, conditions, items[-1].key) if more else None
    return Page(items, next_cursor)


def _check_open(storage: Storage) -> None:
    if storage.closed:
        raise StoreClosed(f"the {storage.backend} store is closed")


def _check_version(entity: Entity, version: int, actual: int | None) -> None:
    """A save based on ``version`` (0: insert) against the ``actual`` version in view."""
    if version == 0:
        if actual is not None:
            raise AlreadyExists(entity.ENTITY_TYPE, entity.key, actual)
    elif actual != version:
        raise ConcurrencyConflict(entity.ENTITY_TYPE, entity.key, version, actual)


class BaseRepository(Generic[E]):
    """Every port method of one entity type, over ``Table`` primitives.

    ``unit`` None: autocommitted (each call is stored when it returns). Otherwise the unit of
    work's staged writes of this entity type are overlaid on every read and extended by every
    write.
    """

    entity: type[E]

    def __init__(self, storage: Storage, unit: BackendUnitOfWork | None = None) -> None:
        self._storage = storage
        self._table: Table[E] = storage.table(self.entity)
        self._unit = unit
        self._staged: Staged = {} if unit is None else unit.staged[self.entity]

    def _live(self) -> None:
        _check_open(self._storage)

    def _from_staged(self, row: Row) -> E:
        # Containers copied: the caller's mutations of what a read returned never reach the
        # staged write.
        values = dict(row)
        for name in self.entity.CONTAINERS:
            values[name] = json_copy(values[name])
        return self.entity.restore(values)

    # -- reads
    async def get_by_id(self, entity_id: str) -> E | None:
        self._live()
        key = check_key(self.entity, entity_id)
        staged = self._staged.get(key)
        if staged is None:
            return await self._table.load(key)
        return None if staged[1] is None else self._from_staged(staged[1])

    async def exists(self, entity_id: str) -> bool:
        self._live()
        key = check_key(self.entity, entity_id)
        staged = self._staged.get(key)
        if staged is None:
            return await self._table.exists(key)
        return staged[1] is not None

    async def get_all(
        self, filters: Filters | None = None, limit: int | None = None, offset: int | None = None
    ) -> list[E]:
        self._live()
        conditions = parse_filters(self.entity, filters)
        checked_limit, checked_offset = check_limit_offset(limit, offset)
        return await self._select(conditions, None, checked_limit, checked_offset)

    async def count(self, filters: Filters | None = None) -> int:
        self._live()
        conditions = parse_filters(self.entity, filters)
        if self._key_in(conditions) is not None:
            return len(await self._select(conditions, None, None))
        total = await self._table.count(conditions)
        if self._staged:
            # Each staged key replaces its stored row in this unit's view.
            stored = await self._table.load_many(list(self._staged))
            total -= sum(1 for item in stored.values() if matches(vars(item), conditions))
            total += sum(
                1
                for _e, row in self._staged.values()
                if row is not None and matches(row, conditions)
            )
        return total

    async def page(
        self, filters: Filters | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[E]:
        self._live()
        conditions = parse_filters(self.entity, filters)
        size = check_page_size(limit)
        after = None if cursor is None else decode_cursor(self.entity, conditions, cursor)
        return page_of(
            self.entity, conditions, await self._select(conditions, after, size + 1), size
        )

    def _key_in(self, conditions: tuple[Condition, ...]) -> Condition | None:
        key = self.entity.KEY
        return next((c for c in conditions if c.field == key and c.op == "in"), None)

    async def _select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[E]:
        """This view's matching entities after ``after`` in key order, sliced."""
        staged = self._staged
        key_in = self._key_in(conditions)
        if key_in is None and not staged:
            return await self._table.select(conditions, after, limit, offset)
        found: dict[str, E] = {}
        if key_in is not None:
            # A key IN (...) is point lookups (one batch), not a range scan, on every backend.
            wanted = [
                k
                for k in dict.fromkeys(key_in.value)
                if (after is None or k > after) and k not in staged
            ]
            for key, item in (await self._table.load_many(wanted)).items():
                if matches(vars(item), conditions):
                    found[key] = item
        else:
            # Each staged key can hide at most one stored row: read that many more.
            want = None if limit is None else offset + limit + len(staged)
            for item in await self._table.select(conditions, after, want):
                if item.key not in staged:
                    found[item.key] = item
        for key, (_expected, row) in staged.items():
            if row is not None and (after is None or key > after) and matches(row, conditions):
                found[key] = self._from_staged(row)
        ordered = [found[key] for key in sorted(found)]
        return ordered[offset : None if limit is None else offset + limit]

    # -- writes
    async def save(self, entity: E) -> None:
        """Insert (``version == 0``) or update (stored version must equal ``entity.version``);
        stamps ``entity`` (version + 1, ``updated_at``), undone if the write is discarded."""
        self._live()
        check_entity_type(self.entity, entity)
        entity.validate()
        await self._save([entity], single=True)

    async def save_many(self, entities: Iterable[E]) -> None:
        """``save`` of each, all or nothing (autocommitted on a backend with a
        ``write_limit``: atomic per chunk of that many)."""
        self._live()
        batch = list(entities)
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
        await self._save(batch, single=False)

    async def _save(self, batch: list[E], single: bool) -> None:
        unit = self._unit
        if unit is not None:
            stored = await self._stored_versions(batch)
            with _atomically(unit) as journal:
                self._stage(batch, None, stored, journal)
            return
        limit = self._storage.write_limit
        if limit is not None and len(batch) > limit:
            for entity in batch:  # refuse an oversized row before the first chunk is sent
                self._table.check_row(entity.to_dict())
        step = limit or max(len(batch), 1)
        # The rows are written before this call returns: copies only if the backend keeps them.
        private = self._storage.keeps_rows
        for start in range(0, len(batch), step):
            # A private batch, thrown away after the write: on failure only the stamps go back.
            tracker = SaveTracker()
            staged: Staged = {}
            try:
                chunk = batch[start : start + step]
                self._stage_into(staged, staged.__setitem__, chunk, None, None, tracker, private)
                writes = [Write(self.entity, k, exp, row) for k, (exp, row) in staged.items()]
                await self._storage.write(writes, single=single)
            except BaseException:
                tracker.undo()
                raise

    async def _stored_versions(self, batch: Sequence[E]) -> dict[str, int]:
        if not self._storage.checks_at_save:
            return {}
        unstaged = [e.key for e in batch if e.key not in self._staged]
        return await self._table.versions(unstaged) if unstaged else {}

    def _stage(
        self,
        batch: Sequence[E],
        replaces: Sequence[int] | None,
        stored: dict[str, int],
        journal: _Journal,
    ) -> None:
        staged = self._staged

        def put(key: str, value: tuple[int | None, Row | None]) -> None:
            journal.put(staged, key, value)

        checked = stored if self._storage.checks_at_save else None
        self._stage_into(staged, put, batch, replaces, checked, journal.tracker, True)

    def _stage_into(
        self,
        staged: Staged,
        put: Callable[[str, tuple[int | None, Row | None]], None],
        batch: Sequence[E],
        replaces: Sequence[int] | None,
        stored: dict[str, int] | None,
        tracker: SaveTracker,
        private: bool,
    ) -> None:
        """Check each entity against the view (staged rows always; the ``stored`` versions
        unless None), stamp it with ``tracker`` (unless ``replaces`` gives the stored version
        a restore replaces) and stage its row into ``staged`` through ``put`` (a unit of work
        journals it; an autocommitted batch is thrown away on failure, so it just sets). The
        first staging of a key records the version the write is guarded by at commit.
        ``private`` False (an autocommitted write on a backend that serialises rows within the
        call) skips the deep copy of the containers."""
        stamp, check_row = tracker.stamp, self._table.check_row
        for index, entity in enumerate(batch):
            key = entity.key
            version = entity.version if replaces is None else replaces[index]
            current = staged.get(key)
            if current is not None:
                _check_version(
                    entity, version, None if current[1] is None else current[1]["version"]
                )
            elif stored is not None:
                _check_version(entity, version, stored.get(key))
            if replaces is None:
                stamp(entity)
            # ``private``: containers deep-copied (staged rows outlive the call).
            row = entity.to_dict() if private else dict(vars(entity))
            check_row(row)
            expected = current[0] if current is not None else (version or None)
            put(key, (expected, row))

    async def _restore(self, batch: list[E], replaces: list[int], journal: _Journal) -> None:
        for entity in batch:
            check_entity_type(self.entity, entity)
            entity.validate()
            if entity.version < 1:
                raise ValidationError(
                    f"restore writes a stored {self.entity.ENTITY_TYPE} as it is: its version "
                    f"must be >= 1, got {entity.version}",
                    field="version",
                    entity_type=self.entity.ENTITY_TYPE,
                )
        stored = await self._stored_versions(batch)
        self._stage(batch, replaces, stored, journal)

    async def delete(self, entity_id: str) -> bool:
        """Remove the entity; False when it did not exist."""
        self._live()
        key = check_key(self.entity, entity_id)
        if self._unit is None:
            return await self._table.delete(key)
        current = self._staged.get(key)
        if current is None:
            if not await self._table.exists(key):
                return False
            self._staged[key] = (ANY_VERSION, None)
        elif current[1] is None:
            return False
        else:
            self._staged[key] = (current[0], None)
        return True

    async def _set_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        self._live()
        if self._unit is None:
            return await self._table.update_status(key, status, note_field, note)
        current = self._staged.get(key)
        row: Row | None
        if current is None:
            stored = await self._table.load(key)
            row = None if stored is None else dict(vars(stored))
        else:
            row = current[1]
        if row is None:
            return False
        new = status_changed(self.entity, row, status, note_field, note)
        self._table.check_row(new)
        # Staged as a full row guarded by the version it was read at.
        self._staged[key] = (row["version"] if current is None else current[0], new)
        return True


class Templates(BaseRepository[Template], TemplateRepository):
    entity = Template

    async def find_by_attributes(self, attributes: Mapping[str, Any]) -> list[Template]:
        """Templates whose ``attributes[k]`` JSON-equals ``v`` for every given item."""
        self._live()
        wanted = check_attributes(attributes)
        staged = self._staged
        found = {
            t.key: t for t in await self._table.attribute_candidates(wanted) if t.key not in staged
        }
        for key, (_expected, row) in staged.items():
            if row is not None:
                found[key] = self._from_staged(row)
        return [
            found[key] for key in sorted(found) if attributes_match(found[key].attributes, wanted)
        ]

    async def get_by_provider_type(self, provider_type: str) -> list[Template]:
        """Templates of this provider type (an index lookup on every backend)."""
        return await self.get_all({"provider_type": provider_type})


class _StatusRepository(BaseRepository[E]):
    """``update_status`` and ``get_by_status`` of requests and machines, written once."""

    _status: Any  # check_enum(RequestStatus | MachineStatus)
    _note_field: str  # status_message | status_reason

    async def _update_status(self, entity_id: str, status: Any, note: str | None) -> bool:
        etype = self.entity.ENTITY_TYPE
        key = check_key(self.entity, entity_id)
        target = self._status(status, "status", etype)
        checked = check_optional_text(note, self._note_field, etype)
        return await self._set_status(key, target, self._note_field, checked)

    async def _with_status(self, status: Any) -> list[E]:
        return await self.get_all(
            {"status": self._status(status, "status", self.entity.ENTITY_TYPE)}
        )


class Requests(_StatusRepository[Request], RequestRepository):
    entity = Request
    _status = staticmethod(request_status)
    _note_field = "status_message"

    async def get_by_status(self, status: RequestStatus | str) -> list[Request]:
        """Requests in this status (an index lookup on every backend)."""
        return await self._with_status(status)

    async def get_active_requests(self) -> list[Request]:
        """Requests in an active status: pending, in_progress, acquiring, partial_pending."""
        return await self.get_all({"status_in": sorted(ACTIVE_REQUEST_STATUSES)})

    async def update_status(
        self, request_id: str, status: RequestStatus | str, message: str | None = None
    ) -> bool:
        """Atomic conditional status change; False when the id does not exist; ``message``
        None keeps the stored ``status_message``."""
        return await self._update_status(request_id, status, message)


class Machines(_StatusRepository[Machine], MachineRepository):
    entity = Machine
    _status = staticmethod(machine_status)
    _note_field = "status_reason"

    async def get_by_request_id(self, request_id: str) -> list[Machine]:
        """Machines launched for this request (an index lookup on every backend)."""
        return await self.get_all({"request_id": check_key(Request, request_id)})

    async def get_by_return_request_id(self, return_request_id: str) -> list[Machine]:
        """Machines being returned by this return request (an index lookup)."""
        return await self.get_all({"return_request_id": check_key(Request, return_request_id)})

    async def get_by_status(self, status: MachineStatus | str) -> list[Machine]:
        """Machines in this status (an index lookup on every backend)."""
        return await self._with_status(status)

    async def update_status(
        self, machine_id: str, status: MachineStatus | str, reason: str | None = None
    ) -> bool:
        """Atomic conditional status change; False when the id does not exist; ``reason``
        None keeps the stored ``status_reason``."""
        return await self._update_status(machine_id, status, reason)

    async def get_by_instance_ids(self, instance_ids: Sequence[str]) -> list[Machine]:
        """Machines in the order given; unknown ids skipped, duplicates returned once (one
        batched load however many ids)."""
        self._live()
        keys = list(dict.fromkeys(check_instance_ids(instance_ids)))
        found: dict[str, Machine | None] = {}
        for key in keys:
            staged = self._staged.get(key)
            if staged is not None:
                found[key] = None if staged[1] is None else self._from_staged(staged[1])
        missing = [key for key in keys if key not in found]
        if missing:
            found.update(await self._table.load_many(missing))
        return [item for key in keys if (item := found.get(key)) is not None]


class BackendUnitOfWork(UnitOfWork):
    """Writes staged per key, sent as one ``Storage.write`` batch at ``commit``."""

    templates: Templates
    requests: Requests
    machines: Machines

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.staged: dict[type[Entity], Staged] = {cls: {} for cls in ENTITY_TYPES}
        self.tracker = SaveTracker()
        # The first conflict with a stored row a save or restore raised: until rollback the
        # unit cannot be committed (DynamoDB, which checks stored rows only at commit, holds
        # the stale write and refuses the unit there, whatever came after).
        self.conflict: ConcurrencyConflict | None = None
        self.templates = Templates(storage, self)
        self.requests = Requests(storage, self)
        self.machines = Machines(storage, self)

    def _repository(self, cls: type[Entity]) -> BaseRepository[Any]:
        repos: dict[type[Entity], BaseRepository[Any]] = {
            Template: self.templates,
            Request: self.requests,
            Machine: self.machines,
        }
        return repos[cls]

    def holds(self, entity_type: str, key: str) -> bool:
        """Whether this unit has staged a write of that row."""
        return any(
            entity_type == cls.ENTITY_TYPE and key in staged for cls, staged in self.staged.items()
        )

    def writes(self) -> list[Write]:
        """The staged writes in commit order: templates, requests, machines; staging order."""
        return [
            Write(cls, key, expected, row)
            for cls in ENTITY_TYPES
            for key, (expected, row) in self.staged[cls].items()
        ]

    async def commit(self) -> None:
        """Store every staged write, all or nothing (a conflict raises and writes nothing;
        the unit keeps its writes until ``rollback``). A unit in which a save raised a
        conflict with a stored row raises that conflict again until rolled back, whatever
        the caller did after catching it: DynamoDB, which checks only here, refuses the same
        unit (its stale write is still held)."""
        _check_open(self._storage)
        if self.conflict is not None:
            raise self.conflict
        writes = self.writes()
        if writes:
            await self._storage.write(writes)
        for staged in self.staged.values():
            staged.clear()
        self.tracker.forget()

    async def rollback(self) -> None:
        """Discard the staged writes; stamped entities get their previous version back."""
        for staged in self.staged.values():
            staged.clear()
        self.tracker.undo()
        self.conflict = None

    async def restore(self, entity: Entity, *, replaces: int = 0) -> None:
        """Stage ``entity`` as stored elsewhere: see ``UnitOfWork.restore``."""
        await self.restore_many([(entity, replaces)])

    async def restore_many(self, items: Iterable[tuple[Entity, int]]) -> None:
        """``restore`` of each ``(entity, replaces)``, all or nothing."""
        _check_open(self._storage)
        groups: dict[type[Entity], tuple[list[Any], list[int]]] = {}
        for entity, replaces in items:
            batch, versions = groups.setdefault(type(entity), ([], []))
            batch.append(entity)
            versions.append(replaces)
        with _atomically(self) as journal:
            for cls, (batch, versions) in groups.items():
                if cls not in self.staged:
                    raise ValidationError(f"restore takes entities, got a {cls.__name__}")
                await self._repository(cls)._restore(batch, versions, journal)

    def __repr__(self) -> str:
        count = sum(len(s) for s in self.staged.values())
        return f"{type(self).__name__}(backend={self._storage.backend!r}, pending={count})"


class BackendStore(Store):
    """A store over a backend's ``Storage``: autocommitted repositories plus units of work."""

    templates: Templates
    requests: Requests
    machines: Machines

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.backend = storage.backend
        self.write_limit = storage.write_limit
        self.templates = Templates(storage)
        self.requests = Requests(storage)
        self.machines = Machines(storage)

    def unit_of_work(self) -> BackendUnitOfWork:
        _check_open(self.storage)
        return BackendUnitOfWork(self.storage)

    async def close(self) -> None:
        """Release the backend; every later call raises ``StoreClosed``."""
        await self.storage.close()
