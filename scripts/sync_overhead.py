"""Per-call cost of the sync bridge: memory get_by_id, async vs ohf_persistence.sync.

python scripts/sync_overhead.py [URL]      # default memory://; prints the median of 3 runs
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from ohf_persistence import open_store, sync
from ohf_persistence.testing import make_machine

N = 20_000


async def per_call_async(url: str) -> float:
    async with open_store(url, migrate=True) as store:
        if not await store.machines.exists("i-1"):
            await store.machines.save(make_machine("i-1"))
        start = time.perf_counter()
        for _ in range(N):
            await store.machines.get_by_id("i-1")
        return (time.perf_counter() - start) / N


def per_call_sync(url: str) -> float:
    with sync.open_store(url, migrate=True) as store:
        if not store.machines.exists("i-1"):
            store.machines.save(make_machine("i-1"))
        start = time.perf_counter()
        for _ in range(N):
            store.machines.get_by_id("i-1")
        return (time.perf_counter() - start) / N


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "memory://"
    runs = [(asyncio.run(per_call_async(url)), per_call_sync(url)) for _ in range(3)]
    aio = statistics.median(a for a, _ in runs) * 1e6
    blocking = statistics.median(s for _, s in runs) * 1e6
    print(
        f"{url}: get_by_id async {aio:.1f} us, sync {blocking:.1f} us,"
        f" bridge {blocking - aio:.1f} us"
    )


if __name__ == "__main__":
    main()
