"""SQL-specific behaviour: chunked bulk paths, SQLite pragmas and storage format, ordering."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ohf_persistence import AlreadyExists, Machine, Store

N = 2_500  # 2,500 rows x 31 columns: well over one statement's bound-parameter limit


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


async def test_bulk_save_and_lookup_beyond_parameter_limits(sql_store: Store) -> None:
    machines = [Machine(f"i-{n:05d}", request_id=f"req-{n // 20}") for n in range(N)]
    await sql_store.machines.save_many(machines)
    assert all(m.version == 1 for m in machines)
    assert await sql_store.machines.count() == N
    wanted = [f"i-{n:05d}" for n in reversed(range(0, N, 2))] + ["i-missing", "i-00000"]
    found = await sql_store.machines.get_by_instance_ids(wanted)
    assert [m.machine_id for m in found] == [k for k in wanted[:-2]]
    for machine in machines:
        machine.status_reason = "bulk update"
    await sql_store.machines.save_many(machines)
    assert {m.version for m in await sql_store.machines.get_all()} == {2}


async def test_bulk_save_is_all_or_nothing(sql_store: Store) -> None:
    await sql_store.machines.save(Machine("i-taken"))
    batch = [Machine(f"i-{n:05d}") for n in range(N)] + [Machine("i-taken")]
    with pytest.raises(AlreadyExists) as caught:
        await sql_store.machines.save_many(batch)
    assert caught.value.key == "i-taken"
    assert await sql_store.machines.count() == 1
    assert all(m.version == 0 for m in batch)  # the caller's objects are restored


async def test_keys_order_by_code_point(sql_store: Store) -> None:
    keys = ["b", "B", "a", "Z", "é", "~", "a b", "a-b", "ä", "10", "9", "🙂", "ß"]
    await sql_store.machines.save_many([Machine(k) for k in keys])
    assert [m.machine_id for m in await sql_store.machines.get_all()] == sorted(keys)
    page = await sql_store.machines.page(limit=5)
    assert [m.machine_id for m in page.items] == sorted(keys)[:5]
    greater = await sql_store.machines.get_all({"machine_id_gt": "Z"})
    assert [m.machine_id for m in greater] == [k for k in sorted(keys) if k > "Z"]


async def test_sqlite_connection_settings_and_time_format(sqlite_store: Store) -> None:
    await sqlite_store.machines.save(Machine("i-1"))
    db = sqlite_store.db  # type: ignore[attr-defined]
    async with db.transaction() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        busy = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
        keys = (await conn.execute(text("PRAGMA foreign_keys"))).scalar()
        stored = (await conn.execute(text("SELECT created_at FROM machines"))).scalar()
    assert (str(mode).lower(), busy, keys) == ("wal", 5000, 1)
    # Fixed-width naive UTC text: text order is time order on SQLite.
    assert len(stored) == len("2026-01-01 12:00:00.000000") and "+" not in stored
