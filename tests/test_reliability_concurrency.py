"""Concurrency without lost updates (issue 7, item 2).

(a) Many tasks of one event loop doing read-modify-write on the same entities, on every
backend: every successful write is counted exactly once, conflicts are the only refusals.
(b) Several OS processes incrementing one shared request on a SQLite file and on PostgreSQL,
retrying only on ``ConcurrencyConflict``: the final count equals the successful increments and
no other exception (``database is locked``, a driver error) reaches the workers.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import (
    ConcurrencyConflict,
    InvalidStatusTransition,
    MachineStatus,
    RequestStatus,
    Store,
    open_store,
)
from ohf_persistence.testing import make_machine, make_request
from tests.reliability.support import SQL_BACKENDS, spawn, sql_url  # noqa: F401

TASKS = 16
INCREMENTS_PER_TASK = 5
PROCESSES = 4
INCREMENTS_PER_PROCESS = 40


async def _increment(store: Store, request_id: str, rng: random.Random) -> int:
    """One successful read-modify-write increment; returns the conflicts met."""
    conflicts = 0
    while True:
        request = await store.requests.get_by_id(request_id)
        assert request is not None
        request.requested_count += 1
        await asyncio.sleep(rng.random() * 0.002)  # let other tasks interleave
        try:
            await store.requests.save(request)
            return conflicts
        except ConcurrencyConflict:
            conflicts += 1


async def test_tasks_incrementing_one_request_lose_no_update(store: Store) -> None:
    await store.requests.save(make_request("req-shared", requested_count=0))
    rng = random.Random(7)

    async def task() -> int:
        return sum([await _increment(store, "req-shared", rng) for _ in range(INCREMENTS_PER_TASK)])

    conflicts = sum(await asyncio.gather(*(task() for _ in range(TASKS))))
    final = await store.requests.get_by_id("req-shared")
    assert final is not None
    assert final.requested_count == TASKS * INCREMENTS_PER_TASK
    assert final.version == 1 + TASKS * INCREMENTS_PER_TASK
    assert conflicts > 0  # the tasks really interleaved (reads before writes of others)


async def test_tasks_in_units_of_work_move_counts_between_two_entities(store: Store) -> None:
    """Each unit moves one unit of count from request A to request B; the sum is invariant
    and no unit is half-applied, whatever interleaving the tasks meet."""
    await store.requests.save_many(
        [make_request("req-a", requested_count=100), make_request("req-b", requested_count=0)]
    )
    rng = random.Random(11)
    moved = 0

    async def move() -> None:
        nonlocal moved
        while True:
            try:
                async with store.unit_of_work() as uow:
                    a = await uow.requests.get_by_id("req-a")
                    b = await uow.requests.get_by_id("req-b")
                    assert a is not None and b is not None
                    a.requested_count -= 1
                    b.requested_count += 1
                    await asyncio.sleep(rng.random() * 0.002)
                    await uow.requests.save(a)
                    await uow.requests.save(b)
                    await uow.commit()
                moved += 1
                return
            except ConcurrencyConflict:
                continue

    await asyncio.gather(*(move() for _ in range(20)))
    a, b = await store.requests.get_by_id("req-a"), await store.requests.get_by_id("req-b")
    assert a is not None and b is not None
    assert (a.requested_count, b.requested_count, moved) == (80, 20, 20)
    assert a.version == b.version == 21


async def test_concurrent_status_changes_follow_the_transition_rules(store: Store) -> None:
    """Racing update_status calls: the first final status wins, every later change out of it is
    refused (never overwritten), and each accepted change bumped the version once."""
    await store.requests.save(make_request("req-race"))
    await store.machines.save_many([make_machine(f"i-{n}") for n in range(4)])
    targets = [RequestStatus.IN_PROGRESS, RequestStatus.COMPLETE, RequestStatus.FAILED] * 4

    async def change(target: RequestStatus) -> bool:
        try:
            return await store.requests.update_status("req-race", target)
        except InvalidStatusTransition:
            return False

    accepted = await asyncio.gather(*(change(t) for t in targets))
    final = await store.requests.get_by_id("req-race")
    assert final is not None
    assert final.status in (RequestStatus.COMPLETE, RequestStatus.FAILED)
    assert final.version == 1 + sum(accepted)

    async def machine_change(n: int, target: MachineStatus) -> bool:
        try:
            return await store.machines.update_status(f"i-{n % 4}", target)
        except InvalidStatusTransition:
            return False

    plan = [MachineStatus.RUNNING, MachineStatus.FAILED, MachineStatus.TERMINATED] * 8
    await asyncio.gather(*(machine_change(n, t) for n, t in enumerate(plan)))
    for machine in await store.machines.get_all():
        # failed is final; terminated may only become returned: never back to running.
        assert machine.status in (MachineStatus.FAILED, MachineStatus.TERMINATED)


async def test_stale_objects_never_overwrite_newer_writes(store: Store) -> None:
    """Many tasks holding the same stale copy: exactly one save wins, the rest conflict."""
    await store.machines.save(make_machine("i-1"))
    copies = [await store.machines.get_by_id("i-1") for _ in range(12)]

    async def save(n: int, machine: Any) -> bool:
        machine.private_ip = f"10.0.0.{n}"
        try:
            await store.machines.save(machine)
            return True
        except ConcurrencyConflict:
            return False

    won = await asyncio.gather(*(save(n, m) for n, m in enumerate(copies)))
    assert sum(won) == 1
    stored = await store.machines.get_by_id("i-1")
    assert stored is not None and stored.version == 2
    assert stored.private_ip == f"10.0.0.{won.index(True)}"


def _run_workers(url: str, tmp_path: Path) -> list[dict[str, Any]]:
    go = tmp_path / "go"
    workers = [
        spawn("increment_worker", url, "req-shared", f"w{n}", str(INCREMENTS_PER_PROCESS), str(go))
        for n in range(PROCESSES)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", (line, worker.stderr.read() if worker.stderr else "")
        go.touch()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            report = json.loads(out.strip().splitlines()[-1])
            assert worker.returncode == 0 and not report["errors"], (report, err[-2000:])
            reports.append(report)
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.mark.parametrize("sql_url", SQL_BACKENDS, indirect=True)
async def test_processes_incrementing_one_request_lose_no_update(
    sql_url: str,  # noqa: F811
    tmp_path: Path,
    record_property: Any,
) -> None:
    async with open_store(sql_url) as store:
        await store.requests.save(make_request("req-shared", requested_count=0, metadata={}))
    reports = await asyncio.to_thread(_run_workers, sql_url, tmp_path)
    ok = sum(r["ok"] for r in reports)
    conflicts = sum(r["conflicts"] for r in reports)
    async with open_store(sql_url) as store:
        final = await store.requests.get_by_id("req-shared")
        machines = await store.machines.get_by_request_id("req-shared")
    assert final is not None
    assert ok == PROCESSES * INCREMENTS_PER_PROCESS
    assert final.requested_count == ok
    assert final.version == 1 + ok
    assert final.metadata["by_worker"] == {
        f"w{n}": INCREMENTS_PER_PROCESS for n in range(PROCESSES)
    }
    # Odd increments were units of work that also rewrote the worker's machine: all applied.
    assert {m.machine_id: m.metadata["increments"] for m in machines} == {
        f"i-w{n}": INCREMENTS_PER_PROCESS // 2 for n in range(PROCESSES)
    }
    rate = conflicts / (ok + conflicts)
    record_property("conflict_rate", f"{rate:.3f}")
    print(
        f"\n{PROCESSES} processes x {INCREMENTS_PER_PROCESS} increments: "
        f"{ok} increments, {conflicts} conflicts, conflict rate {rate:.1%}"
    )
