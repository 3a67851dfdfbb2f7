"""The workload's phases against a store, through the public ports only.

Every phase is a sequence of ``calls`` calls that the runner cuts into slices (rounds) and runs
interleaved with the raw baseline's same slice: ``run(start, stop)`` makes calls
``start .. stop - 1`` and returns what they did (``Outcome``). Read phases may be asked for more
calls than the workload has items (to get enough rounds): call ``i`` then reads item
``i % len(items)``, a second pass over the same items. Write phases run each item once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..domain import Machine, MachineStatus
from ..ports import Store
from .workload import PAGE_SIZE, UPDATE_REASON, UPDATE_TARGET, Workload, public_ip

# The phases in the order they run (DESIGN.md, Performance).
NAMES = (
    "save_many",
    "save_new",
    "save_changed",
    "get_by_id",
    "get_by_request_id",
    "get_by_status",
    "get_by_instance_ids",
    "update_status",
    "page",
    "delete",
)
# Phases that read only: they may repeat their items to get enough rounds.
READS = frozenset(
    {"get_by_id", "get_by_request_id", "get_by_status", "get_by_instance_ids", "page"}
)

Slice = Callable[[int, int], Awaitable["Outcome"]]


@dataclass
class Outcome:
    ops: int
    rows: int
    # Per-call answers of list queries (DynamoDB's minimum Query pages depend on their size).
    answers: list[list[Machine]] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # sizes of save_many / instance-id calls

    def add(self, other: Outcome) -> None:
        self.ops += other.ops
        self.rows += other.rows
        self.answers += other.answers
        self.batches += other.batches


def natural_calls(w: Workload, save_chunk: int) -> dict[str, int]:
    """Calls of each phase in one pass over the workload."""
    bulk = len(w.bulk)
    return {
        "save_many": -(-bulk // save_chunk),
        "save_new": len(w.singles),
        "save_changed": w.size,
        "get_by_id": w.size,
        "get_by_request_id": len(w.requests),
        "get_by_status": len(MachineStatus),
        "get_by_instance_ids": len(list(w.instance_id_chunks())),
        "update_status": w.size,
        "page": -(-w.size // PAGE_SIZE),
        "delete": w.size,
    }


class OurPhases:
    """The phases on a store, each as ``run(start, stop)`` over its calls."""

    def __init__(self, store: Store, w: Workload, save_chunk: int) -> None:
        self.store = store
        self.w = w
        self.save_chunk = save_chunk
        self._cursor: str | None = None  # page: where the next call continues
        self._statuses = list(MachineStatus)
        self._chunks = list(w.instance_id_chunks())

    async def save_many(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(0, 0)
        bulk, chunk = self.w.bulk, self.save_chunk
        save_many = self.store.machines.save_many
        for call in range(start, stop):
            batch = bulk[call * chunk : (call + 1) * chunk]
            await save_many(batch)
            outcome.batches.append(len(batch))
            outcome.ops += len(batch)
        outcome.rows = outcome.ops
        return outcome

    async def save_new(self, start: int, stop: int) -> Outcome:
        save, singles = self.store.machines.save, self.w.singles
        for i in range(start, stop):
            await save(singles[i])  # version 0: an insert, one autocommitted call
        return Outcome(stop - start, stop - start)

    async def save_changed(self, start: int, stop: int) -> Outcome:
        save, machines = self.store.machines.save, self.w.machines
        for i in range(start, stop):
            machine = machines[i]
            machine.public_ip = public_ip(i)  # one field changed; the stored version guards
            await save(machine)
        return Outcome(stop - start, stop - start)

    async def get_by_id(self, start: int, stop: int) -> Outcome:
        found = 0
        get, keys = self.store.machines.get_by_id, self.w.lookup_order
        n = len(keys)
        for i in range(start, stop):
            if await get(keys[i % n]) is not None:
                found += 1
        return Outcome(stop - start, found)

    async def get_by_request_id(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(stop - start, 0)
        query, requests = self.store.machines.get_by_request_id, self.w.requests
        n = len(requests)
        for i in range(start, stop):
            answer = await query(requests[i % n].request_id)
            outcome.rows += len(answer)
            outcome.answers.append(answer)
        return outcome

    async def get_by_status(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(stop - start, 0)
        statuses = self._statuses
        n = len(statuses)
        for i in range(start, stop):
            answer = await self.store.machines.get_by_status(statuses[i % n])
            outcome.rows += len(answer)
            outcome.answers.append(answer)
        return outcome

    async def get_by_instance_ids(self, start: int, stop: int) -> Outcome:
        outcome = Outcome(stop - start, 0)
        chunks = self._chunks
        n = len(chunks)
        for i in range(start, stop):
            ids = chunks[i % n]
            outcome.rows += len(await self.store.machines.get_by_instance_ids(ids))
            outcome.batches.append(len(ids))
        return outcome

    async def update_status(self, start: int, stop: int) -> Outcome:
        changed = 0
        update, machines = self.store.machines.update_status, self.w.machines
        for i in range(start, stop):
            if await update(machines[i].machine_id, UPDATE_TARGET, UPDATE_REASON):
                changed += 1
        return Outcome(stop - start, changed)

    async def page(self, start: int, stop: int) -> Outcome:
        """Keyset pages over the run's key range; after the last page it starts again."""
        outcome = Outcome(stop - start, 0)
        filters, query = self.w.page_filters, self.store.machines.page
        for _ in range(start, stop):
            result = await query(filters, PAGE_SIZE, self._cursor)
            outcome.rows += len(result.items)
            self._cursor = result.next_cursor
        return outcome

    async def delete(self, start: int, stop: int) -> Outcome:
        removed = 0
        remove, machines = self.store.machines.delete, self.w.machines
        for i in range(start, stop):
            if await remove(machines[i].machine_id):
                removed += 1
        return Outcome(stop - start, removed)

    def by_name(self) -> dict[str, Slice]:
        return {name: getattr(self, name) for name in NAMES}
