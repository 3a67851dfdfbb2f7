"""Read-modify-write increments of one shared request, from a separate OS process.

Usage: ``python -m tests.reliability.increment_worker URL REQUEST_ID WORKER INCREMENTS GO_FILE``

Waits for ``GO_FILE`` to exist (so every worker starts at once), then performs INCREMENTS
successful increments of ``requested_count`` (and of ``metadata["by_worker"][WORKER]``), retrying
only on ``ConcurrencyConflict``. Even-numbered increments are autocommitted ``save`` calls,
odd-numbered ones a unit of work that also rewrites the worker's own machine. The last line of
stdout is a JSON report: ``{"ok": n, "conflicts": n, "errors": [...]}``; any other exception
is reported there (type and message) and makes the exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from ohf_persistence import ConcurrencyConflict, Machine, open_store

MAX_ATTEMPTS = 10_000  # a livelock guard, never reached in practice


async def increment_once(store: Any, request_id: str, worker: str, n: int) -> int:
    """One successful increment; returns the number of conflicts met on the way."""
    conflicts = 0
    for _ in range(MAX_ATTEMPTS):
        request = await store.requests.get_by_id(request_id)
        assert request is not None, request_id
        request.requested_count += 1
        by_worker = request.metadata.setdefault("by_worker", {})
        by_worker[worker] = by_worker.get(worker, 0) + 1
        try:
            if n % 2 == 0:
                await store.requests.save(request)
            else:
                async with store.unit_of_work() as uow:
                    machine = await uow.machines.get_by_id(f"i-{worker}")
                    assert machine is not None
                    machine.metadata = {"increments": machine.metadata.get("increments", 0) + 1}
                    await uow.requests.save(request)
                    await uow.machines.save(machine)
                    await uow.commit()
            return conflicts
        except ConcurrencyConflict:
            conflicts += 1
    raise RuntimeError(f"no success after {MAX_ATTEMPTS} attempts")


async def main(url: str, request_id: str, worker: str, increments: int, go_file: Path) -> int:
    report: dict[str, Any] = {"ok": 0, "conflicts": 0, "errors": []}
    try:
        async with open_store(url) as store:
            await store.machines.save(Machine(f"i-{worker}", request_id=request_id))
            print("ready", flush=True)
            deadline = time.monotonic() + 60
            while not await asyncio.to_thread(go_file.exists):
                if time.monotonic() > deadline:
                    raise TimeoutError("the parent never said go")
                await asyncio.sleep(0.01)
            for n in range(increments):
                report["conflicts"] += await increment_once(store, request_id, worker, n)
                report["ok"] += 1
    except Exception as exc:  # reported to the parent, which fails the test on it
        report["errors"].append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
    print(json.dumps(report), flush=True)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    url, request_id, worker, increments, go_file = sys.argv[1:6]
    sys.exit(asyncio.run(main(url, request_id, worker, int(increments), Path(go_file))))
