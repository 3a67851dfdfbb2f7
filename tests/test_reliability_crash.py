"""Crash safety (issue 7, item 3): SIGKILL at random moments never leaves half a unit of work.

A child process commits units of work in a loop (a request and its machines each) and is
killed with SIGKILL after a random delay, ITERATIONS times on one SQLite file / PostgreSQL
database. Afterwards: every unit is all or nothing, every unit the child saw committed is
there, SQLite's ``PRAGMA integrity_check`` is ``ok``, and the store opens and works.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from typing import Any

import pytest

from ohf_persistence import Machine, Request, open_store
from tests.reliability.support import SQL_BACKENDS, spawn, sql_url  # noqa: F401

ITERATIONS = 10
MACHINES_PER_UNIT = 25


def _kill_at_random(url: str, tag: str, rng: random.Random) -> set[int]:
    """Run the worker, SIGKILL it after a random delay; the units it reported committed."""
    worker = spawn("crash_worker", url, tag, str(MACHINES_PER_UNIT))
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "ready", (line, worker.stderr.read() if worker.stderr else "")
        # Sleep in the child's lifetime, then kill: anywhere inside or between commits.
        time.sleep(rng.uniform(0.05, 0.6))
        assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
        os.kill(worker.pid, signal.SIGKILL)
        out, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == -signal.SIGKILL
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("committed ")}


@pytest.mark.parametrize("sql_url", SQL_BACKENDS, indirect=True)
async def test_sigkill_never_leaves_half_a_unit_of_work(
    sql_url: str,  # noqa: F811
    record_property: Any,
) -> None:
    rng = random.Random(20260101)
    acknowledged: dict[str, set[int]] = {}
    for iteration in range(ITERATIONS):
        tag = f"k{iteration}"
        acknowledged[tag] = await asyncio.to_thread(_kill_at_random, sql_url, tag, rng)

    if sql_url.startswith("sqlite"):
        path = sql_url.split(":///", 1)[1]
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    async with open_store(sql_url) as store:
        requests = await store.requests.get_all()
        machines = await store.machines.get_all()
        per_request = Counter(m.request_id for m in machines)
        request_ids = {r.request_id for r in requests}
        # No machine without its request, and no request with only some of its machines.
        assert set(per_request) <= request_ids
        assert all(per_request[r] == MACHINES_PER_UNIT for r in request_ids)
        # Every unit the child saw committed survived; units are 1..n with no gaps.
        for tag, units in acknowledged.items():
            stored = {int(r.split("-")[-1]) for r in request_ids if r.startswith(f"req-{tag}-")}
            assert units <= stored, tag
            assert stored == set(range(1, len(stored) + 1)), tag
        # The store opens and works: a write and a read.
        async with store.unit_of_work() as uow:
            await uow.requests.save(Request("req-after-crash"))
            await uow.machines.save(Machine("i-after-crash", request_id="req-after-crash"))
            await uow.commit()
        found = await store.machines.get_by_request_id("req-after-crash")
        assert [m.machine_id for m in found] == ["i-after-crash"]

    committed = sum(len(units) for units in acknowledged.values())
    record_property("units_acknowledged", committed)
    print(
        f"\n{ITERATIONS} SIGKILLs: {committed} acknowledged units, {len(request_ids)} stored "
        f"units, {len(machines)} machines, all complete"
    )
    assert committed > 0  # the kills landed after some commits, not only during start-up
