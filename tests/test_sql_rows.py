"""codec.Codec.entity_of builds entities from driver rows by hand (no SQLAlchemy result
objects): its field values must equal what SQLAlchemy's own result processing gives for the
same stored row, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ohf_persistence import Machine, MachineStatus, Store
from ohf_persistence.adapters.sql.models import TABLES


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


async def test_rows_read_by_the_codec_equal_sqlalchemys_result_processing(
    sql_store: Store,
) -> None:
    machines = [
        Machine(
            "i-full",
            status=MachineStatus.RUNNING,
            security_group_ids=["sg-1", "é"],
            tags={"Name": "x", "nested": {"a": [1, 2.5, None, True]}, "big": 1e20},
            metadata={},
            provider_data={"list": [], "dict": {}},
            launch_time=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            termination_time=datetime(1, 1, 2, tzinfo=UTC),
        ),
        Machine("i-empty", provider_type=None),
    ]
    await sql_store.machines.save_many(machines)
    db = sql_store.db  # type: ignore[attr-defined]
    table = TABLES[Machine]
    async with db.transaction() as conn:
        rows = (await conn.execute(select(table).order_by(table.c.machine_id))).mappings().all()
    ours = {m.machine_id: vars(m) for m in await sql_store.machines.get_all()}
    assert [row["machine_id"] for row in rows] == sorted(ours) == ["i-empty", "i-full"]
    for row in rows:
        theirs = dict(row)
        theirs["status"] = MachineStatus(theirs["status"])
        mine = ours[row["machine_id"]]
        assert mine == theirs
        # Same types too (an int is not a float, a naive datetime is not an aware one).
        assert [type(v) for v in mine.values()] == [type(theirs[k]) for k in mine]
    assert ours["i-full"]["tags"]["big"] == 1e20 and isinstance(
        ours["i-full"]["tags"]["big"], float
    )
