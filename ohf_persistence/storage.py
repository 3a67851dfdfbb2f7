"""The storage primitives: the only part of a backend that differs from the others.

Every port method (validation, version and timestamp stamping, the unit of work's staged writes
overlaid on stored rows, paging, keyed queries, ``update_status`` checks) is written once in
``repository.py``. A backend implements two small classes:

- ``Table`` — the stored rows of one entity type: load one, load many by keys, select by
  conditions over a key range with a limit, count, delete, a guarded status update (and,
  optionally, cheaper versions of ``exists`` / ``versions`` / ``attribute_candidates``);
- ``Storage`` — the backend as a whole: its three tables, ``write`` (one batch of guarded
  rows, all or nothing) and ``close``.

Primitives never see a unit of work: they read and write what is *stored*. They take checked
arguments (keys, parsed ``Condition`` tuples, limits already validated by the base) and raise
only package errors (``ohf_persistence.errors``), never driver exceptions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic

from .domain.entities import Entity
from .ports import E
from .query import Condition

#: A stored entity's field values (``Entity.to_dict()`` shape: enums and datetimes as Python
#: objects, containers as JSON values).
Row = dict[str, Any]

#: ``Write.expected`` for a write that is not checked against the stored version (a delete
#: staged by a unit of work, an upsert that follows it).
ANY_VERSION = -1


@dataclass(frozen=True, slots=True)
class Write:
    """One guarded row write of a batch.

    ``expected`` is the guard: ``None`` — the key must not exist (an insert, or a delete of a
    key the unit of work inserted and removed again: then nothing is written but the key must
    still be absent); ``ANY_VERSION`` — no check; ``n >= 1`` — the stored version must be ``n``.
    ``row`` is the complete new row (its ``version`` already bumped), or ``None`` to delete.
    """

    entity: type[Entity]
    key: str
    expected: int | None
    row: Row | None


#: One end of a key range: (key, inclusive).
Bound = tuple[str, bool]


def key_range(
    key: str, conditions: tuple[Condition, ...], after: str | None
) -> tuple[Bound | None, Bound | None]:
    """The tightest key range that the conditions on the key field ``key`` (eq, gt, gte, lt,
    lte; an ``in`` gives none) and a cursor's ``after`` (exclusive) allow: ``(lower, upper)``,
    None where unbounded. A backend reads only that range; ``query.matches`` still decides."""
    lower: Bound | None = None if after is None else (after, False)
    upper: Bound | None = None
    for cond in conditions:
        if cond.field != key or cond.op == "in":
            continue
        if cond.op in ("eq", "gt", "gte"):
            bound = (cond.value, cond.op != "gt")
            # Of two lower bounds on one value, the exclusive one is tighter.
            if lower is None or (bound[0], not bound[1]) > (lower[0], not lower[1]):
                lower = bound
        if cond.op in ("eq", "lt", "lte"):
            bound = (cond.value, cond.op != "lt")
            if upper is None or bound < upper:
                upper = bound
    return lower, upper


class Table(ABC, Generic[E]):
    """The stored rows of one entity type (``entity``), as the repository base needs them.

    Entities returned are fresh objects the caller may mutate (containers not shared with
    anything the backend keeps). Keys are already checked strings; ``conditions`` come from
    ``query.parse_filters`` and mean exactly what ``query.matches`` says (the reference).
    """

    entity: type[E]

    @abstractmethod
    async def load(self, key: str) -> E | None:
        """The stored entity with this key, or None."""

    @abstractmethod
    async def load_many(self, keys: Sequence[str]) -> dict[str, E]:
        """The stored entities among ``keys`` (any number: the backend chunks; unknown keys are
        absent from the answer; order does not matter, the base reorders)."""

    @abstractmethod
    async def select(
        self,
        conditions: tuple[Condition, ...],
        after: str | None,
        limit: int | None,
        offset: int = 0,
    ) -> list[E]:
        """Stored entities matching every condition whose key is greater than ``after`` (None:
        no lower bound from a cursor), ascending by key, skipping ``offset`` of them, at most
        ``limit`` (None: all). Conditions on the key itself are a key range: a backend should
        use them (and ``after``) to read only that range, so a page costs its own size."""

    @abstractmethod
    async def count(self, conditions: tuple[Condition, ...]) -> int:
        """How many stored entities match every condition."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the stored entity, unconditionally, in one atomic step (an autocommitted
        ``delete``); False when it did not exist."""

    @abstractmethod
    async def update_status(self, key: str, status: Any, note_field: str, note: str | None) -> bool:
        """An autocommitted ``update_status``, in ONE atomic guarded step (never read, check,
        then write unguarded): set ``status`` (a ``RequestStatus`` / ``MachineStatus``), bump
        ``version`` by one, set ``updated_at`` to now and, when ``note`` is not None, set the
        ``note_field`` column (``status_message`` / ``status_reason``) — but only if the stored
        status may move to ``status`` (``domain.statuses.status_sources(status)`` is the set
        of allowed stored statuses, ready for a ``status IN (...)`` guard).

        Return False when the key does not exist; raise ``InvalidStatusTransition`` (stored
        status, requested status) when the guard refused it; ``ItemTooLarge`` (nothing
        written) if the backend has a row size limit the change would exceed."""

    # -- optional: defaults are correct; a backend overrides them only to be cheaper
    async def exists(self, key: str) -> bool:
        """Whether a stored entity has this key."""
        return await self.load(key) is not None

    async def versions(self, keys: Sequence[str]) -> dict[str, int]:
        """The stored version of each existing key among ``keys`` (units of work of backends
        with ``Storage.checks_at_save`` use it to report conflicts at ``save``)."""
        return {key: entity.version for key, entity in (await self.load_many(keys)).items()}

    async def attribute_candidates(self, wanted: dict[str, Any]) -> list[E]:
        """Templates that may match ``find_by_attributes(wanted)``, in any order: a superset
        is fine, the base applies ``query.attributes_match`` (exact JSON equality) after.
        The default is every stored entity; SQL narrows it in the database."""
        return await self.select((), None, None)

    def check_row(self, row: Row) -> None:
        """Refuse a row this backend cannot store (DynamoDB: ``ItemTooLarge`` over 400 KB),
        before anything is sent. Called on every row a save or status change stages."""


class Storage(ABC):
    """One open backend: a ``Table`` per entity type plus the batch write.

    ``write`` is the only way rows change apart from ``Table.delete`` and
    ``Table.update_status`` (the autocommitted single-row primitives).
    """

    #: Short backend name, becomes ``Store.backend`` ("memory", "sqlite", "postgresql",
    #: "dynamodb").
    backend: str
    #: At most this many writes per ``write`` call (DynamoDB: 100 per TransactWriteItems).
    #: Autocommitted ``save_many`` is split into chunks of this size, each atomic; a unit of
    #: work with more raises ``TransactionTooLarge`` from ``write``. None: no limit.
    write_limit: int | None = None
    #: True when a unit of work should read stored versions at ``save`` (one batched
    #: ``Table.versions`` call) so a conflict is raised by the ``save`` that meets it; False
    #: (DynamoDB) leaves every check to the guards of ``write`` at commit.
    checks_at_save: bool = True
    #: Set by ``close``; every repository and unit-of-work call then raises ``StoreClosed``.
    closed: bool = False
    #: True when ``write`` keeps the row dicts it is given (memory stores them as they are):
    #: autocommitted writes then get private deep copies. False: rows of an autocommitted
    #: write share the caller's containers, so ``write`` must serialise them before it
    #: returns and never keep them (a unit of work's rows are always private copies).
    keeps_rows: bool = False

    @abstractmethod
    def table(self, entity: type[E]) -> Table[E]:
        """The table of ``entity`` (Template, Request or Machine)."""

    @abstractmethod
    async def write(self, writes: Sequence[Write], *, single: bool = False) -> None:
        """Apply every write, all or nothing, each guarded by its ``expected`` version in the
        same atomic step as the write (a conditional statement or transaction, never an
        unguarded read-then-write).

        Writes come ordered: templates, then requests, then machines; within a type in staging
        order; at most one write per key. On a failed guard nothing is written and the error
        of the FIRST failing write in that order is raised: ``AlreadyExists`` (expected None,
        key present; ``actual_version`` the stored one) or ``ConcurrencyConflict`` (expected
        n, stored version differs or the key is gone). ``TransactionTooLarge`` when the batch
        exceeds ``write_limit`` or another backend limit, before anything is sent.

        ``single`` is True only for an autocommitted ``save`` (one write): send it as one
        conditional statement, no transaction around it. Otherwise the batch is a unit of
        work's commit or a ``save_many`` chunk: DynamoDB sends one TransactWriteItems even
        for one write (DESIGN.md's promise); SQL may still skip the transaction for a batch
        of one, which is just as atomic."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections and set ``closed``; a second call does nothing."""
