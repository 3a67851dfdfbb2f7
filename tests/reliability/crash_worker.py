"""Commits units of work in a loop until it is killed.

Usage: ``python -m tests.reliability.crash_worker URL TAG MACHINES_PER_UNIT``

Unit ``k`` writes request ``req-TAG-k`` and its MACHINES_PER_UNIT machines ``i-TAG-k-j`` in
one unit of work. After each commit returns, ``committed k`` is printed (flushed), so the
parent knows which units must survive the kill. ``ready`` is printed once the store is open.
"""

from __future__ import annotations

import asyncio
import sys

from ohf_persistence import Machine, Request, open_store


async def main(url: str, tag: str, per_unit: int) -> None:
    async with open_store(url) as store:
        print("ready", flush=True)
        k = 0
        while True:
            k += 1
            request_id = f"req-{tag}-{k}"
            request = Request(request_id, template_id="tpl-crash", requested_count=per_unit)
            machines = [
                Machine(f"i-{tag}-{k}-{j}", request_id=request_id, metadata={"unit": k})
                for j in range(per_unit)
            ]
            async with store.unit_of_work() as uow:
                await uow.requests.save(request)
                await uow.machines.save_many(machines)
                await uow.commit()
            print(f"committed {k}", flush=True)


if __name__ == "__main__":
    url, tag, per_unit = sys.argv[1:4]
    asyncio.run(main(url, tag, int(per_unit)))
