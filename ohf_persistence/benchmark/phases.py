"""The workload's phases against a store, through the public ports only.

Each phase returns what it did (``Outcome``); the caller times it. Progress ticks are cheap
(the bar redraws at most 10 times a second) and happen every ``TICK`` operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..domain import Machine, MachineStatus
from ..ports import Store
from .workload import PAGE_SIZE, UPDATE_REASON, UPDATE_TARGET, Workload

Tick = Callable[[int], None]
TICK = 100

# The phases in the order they run (DESIGN.md, Performance).
NAMES = (
    "save_many",
    "get_by_id",
    "get_by_request_id",
    "get_by_status",
    "get_by_instance_ids",
    "update_status",
    "page",
    "delete",
)


@dataclass
class Outcome:
    ops: int
    rows: int
    # Per-call answers of list queries (DynamoDB's minimum Query pages depend on their size).
    answers: list[list[Machine]] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)  # sizes of save_many / instance-id calls


async def save_many(store: Store, w: Workload, chunk: int, tick: Tick) -> Outcome:
    outcome = Outcome(0, 0)
    for start in range(0, w.size, chunk):
        batch = w.machines[start : start + chunk]
        await store.machines.save_many(batch)
        outcome.batches.append(len(batch))
        tick(len(batch))
    outcome.ops = outcome.rows = w.size
    return outcome


async def get_by_id(store: Store, w: Workload, tick: Tick) -> Outcome:
    found = 0
    get = store.machines.get_by_id
    for n, key in enumerate(w.lookup_order, 1):
        if await get(key) is not None:
            found += 1
        if n % TICK == 0:
            tick(TICK)
    return Outcome(len(w.lookup_order), found)


async def get_by_request_id(store: Store, w: Workload, tick: Tick) -> Outcome:
    outcome = Outcome(len(w.requests), 0)
    for n, request in enumerate(w.requests, 1):
        answer = await store.machines.get_by_request_id(request.request_id)
        outcome.rows += len(answer)
        outcome.answers.append(answer)
        if n % TICK == 0:
            tick(TICK)
    return outcome


async def get_by_status(store: Store, w: Workload, tick: Tick) -> Outcome:
    outcome = Outcome(len(MachineStatus), 0)
    for status in MachineStatus:
        answer = await store.machines.get_by_status(status)
        outcome.rows += len(answer)
        outcome.answers.append(answer)
        tick(1)
    return outcome


async def get_by_instance_ids(store: Store, w: Workload, tick: Tick) -> Outcome:
    outcome = Outcome(0, 0)
    for ids in w.instance_id_chunks():
        outcome.rows += len(await store.machines.get_by_instance_ids(ids))
        outcome.ops += 1
        outcome.batches.append(len(ids))
        tick(1)
    return outcome


async def update_status(store: Store, w: Workload, tick: Tick) -> Outcome:
    changed = 0
    update = store.machines.update_status
    for n, machine in enumerate(w.machines, 1):
        if await update(machine.machine_id, UPDATE_TARGET, UPDATE_REASON):
            changed += 1
        if n % TICK == 0:
            tick(TICK)
    return Outcome(w.size, changed)


async def page(store: Store, w: Workload, tick: Tick) -> Outcome:
    outcome = Outcome(0, 0)
    cursor: str | None = None
    filters = w.page_filters
    while True:
        result = await store.machines.page(filters, PAGE_SIZE, cursor)
        outcome.ops += 1
        outcome.rows += len(result.items)
        tick(1)
        cursor = result.next_cursor
        if cursor is None:
            return outcome


async def delete(store: Store, w: Workload, tick: Tick) -> Outcome:
    removed = 0
    remove = store.machines.delete
    for n, machine in enumerate(w.machines, 1):
        if await remove(machine.machine_id):
            removed += 1
        if n % TICK == 0:
            tick(TICK)
    return Outcome(w.size, removed)


def for_store(
    store: Store, w: Workload, save_chunk: int
) -> dict[str, Callable[[Tick], Awaitable[Outcome]]]:
    """Each phase as a callable taking only the progress tick."""
    return {
        "save_many": lambda t: save_many(store, w, save_chunk, t),
        "get_by_id": lambda t: get_by_id(store, w, t),
        "get_by_request_id": lambda t: get_by_request_id(store, w, t),
        "get_by_status": lambda t: get_by_status(store, w, t),
        "get_by_instance_ids": lambda t: get_by_instance_ids(store, w, t),
        "update_status": lambda t: update_status(store, w, t),
        "page": lambda t: page(store, w, t),
        "delete": lambda t: delete(store, w, t),
    }
