"""Every keyed port query uses an index (EXPLAIN / EXPLAIN QUERY PLAN on the real statements).

The statements come from the adapter's own ``Queries``, so the plans are those of the SQL the
repositories send. PostgreSQL plans over a few rows prefer sequential scans whatever the
indexes, so the test sets ``enable_seqscan = off``: the plan then shows whether an index
*can* serve the query (a missing index would still show a Seq Scan).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.sql import Executable

from ohf_persistence import Machine, Request, Store, Template
from ohf_persistence.adapters.sql.queries import Queries
from ohf_persistence.domain.statuses import MACHINE_SOURCES, MachineStatus
from ohf_persistence.query import parse_filters

Build = Callable[[dict[type, Queries[Any]]], Executable]


def _listing(entity: type, filters: dict[str, Any]) -> Build:
    return lambda codecs: codecs[entity].statement(parse_filters(entity, filters))


def _get_by_id(codecs: dict[type, Queries[Any]]) -> Executable:
    codec = codecs[Machine]
    return codec.select_all.where(codec.key == "i-1")


def _instance_ids(codecs: dict[type, Queries[Any]]) -> Executable:
    codec = codecs[Machine]
    return codec.select_all.where(codec.key.in_(["i-1", "i-2", "i-3"]))


def _page(codecs: dict[type, Queries[Any]]) -> Executable:
    return codecs[Machine].statement((), after="i-1", limit=101)


def _update_status(codecs: dict[type, Queries[Any]]) -> Executable:
    codec = codecs[Machine]
    sources = sorted(s.value for s in MACHINE_SOURCES[MachineStatus.RUNNING])
    return (
        update(codec.table)
        .where(codec.key == "i-1", codec.table.c.status.in_(sources))
        .values(status="running", version=codec.version + 1)
    )


QUERIES: dict[str, tuple[Build, str]] = {
    # name: (statement, index that must appear in the plan)
    "machines.get_by_id": (_get_by_id, "pk_machines"),
    "machines.get_by_instance_ids": (_instance_ids, "pk_machines"),
    "machines.page": (_page, "pk_machines"),
    "machines.update_status": (_update_status, "pk_machines"),
    "machines.get_by_request_id": (
        _listing(Machine, {"request_id": "req-1"}),
        "ix_machines_request_id",
    ),
    "machines.get_by_return_request_id": (
        _listing(Machine, {"return_request_id": "ret-1"}),
        "ix_machines_return_request_id",
    ),
    "machines.get_by_status": (_listing(Machine, {"status": "running"}), "ix_machines_status"),
    "requests.get_by_status": (_listing(Request, {"status": "pending"}), "ix_requests_status"),
    "requests.get_active_requests": (
        _listing(Request, {"status_in": ["pending", "in_progress", "acquiring"]}),
        "ix_requests_status",
    ),
    "templates.get_by_provider_type": (
        _listing(Template, {"provider_type": "aws"}),
        "ix_templates_provider_type",
    ),
}


async def explain(store: Store, statement: Executable) -> str:
    db = store.db  # type: ignore[attr-defined]
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    async with db.transaction() as conn:
        if db.dialect == "postgresql":
            await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await conn.execute(text(prefix + sql))).all()
        await conn.rollback()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest) -> Store:
    store: Store = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.mark.parametrize("name", list(QUERIES))
async def test_keyed_query_uses_an_index(sql_store: Store, name: str) -> None:
    db = sql_store.db  # type: ignore[attr-defined]
    build, index = QUERIES[name]
    plan = await explain(sql_store, build(sql_store.queries))  # type: ignore[attr-defined]
    print(f"\n{db.dialect} {name}:\n{plan}")
    # SQLite names the primary key's index sqlite_autoindex_<table>_1.
    primary = index.startswith("pk_") and f"sqlite_autoindex_{index[3:]}_1" in plan
    assert index in plan or primary, plan
    assert "SCAN machines" not in plan and "Seq Scan" not in plan, plan


async def test_find_by_attributes_uses_the_gin_index_on_postgres(postgres_store: Store) -> None:
    """SQLite has no JSON index: there find_by_attributes reads the (small) templates table."""
    codec = postgres_store.queries[Template]  # type: ignore[attr-defined]
    compiled = codec.select_all.where(codec.attributes_match({"ncpus": ["Numeric", "2"]}))
    sql = str(compiled.compile(dialect=postgres_store.db.engine.dialect))  # type: ignore[attr-defined]
    assert "@>" in sql and "->" in sql
    plan = await explain_text(
        postgres_store,
        "SELECT * FROM templates WHERE attributes @> CAST(:w AS JSONB)"
        " AND (attributes -> :k) = CAST(:v AS JSONB)",
        {"w": '{"ncpus": ["Numeric", "2"]}', "k": "ncpus", "v": '["Numeric", "2"]'},
    )
    print(f"\npostgresql templates.find_by_attributes:\n{plan}")
    assert "ix_templates_attributes" in plan, plan


async def explain_text(store: Store, sql: str, params: dict[str, Any]) -> str:
    db = store.db  # type: ignore[attr-defined]
    async with db.transaction() as conn:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await conn.execute(text("EXPLAIN " + sql), params)).all()
        await conn.rollback()
    return "\n".join(str(row[-1]) for row in rows)
