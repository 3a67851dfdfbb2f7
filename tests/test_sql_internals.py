"""The private library details the SQL adapter relies on (adapters/sql/internals.py).

Each test fails loudly when a SQLAlchemy (or stdlib json) upgrade changes one of them, naming
the accessor, instead of a repository misbehaving somewhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Index, bindparam, select
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

from ohf_persistence.adapters.sql import internals
from ohf_persistence.adapters.sql.models import machines, templates
from ohf_persistence.adapters.sql.types import UTCDateTime


def test_bind_processors_map_parameter_names_to_conversions() -> None:
    dialect = SQLiteDialect_aiosqlite()
    statement = select(machines.c.machine_id).where(
        machines.c.updated_at > bindparam("when", type_=UTCDateTime())
    )
    compiled = statement.compile(dialect=dialect)
    processors = internals.bind_processors(compiled)
    assert set(processors) == {"when"}
    stored = processors["when"](datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert stored == "2026-01-02 03:04:05.000006"


def test_result_processor_is_the_types_own_conversion() -> None:
    dialect = SQLiteDialect_aiosqlite()
    processor = internals.result_processor(UTCDateTime(), dialect)
    assert processor is not None
    assert processor("2026-01-02 03:04:05.000006") == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert internals.result_processor(machines.c.version.type, PGDialect_asyncpg()) is None  # type: ignore[no-untyped-call]


def test_ddl_if_dialect_reads_the_index_condition() -> None:
    gin = next(ix for ix in templates.indexes if ix.name == "ix_templates_attributes")
    plain = next(ix for ix in templates.indexes if ix.name == "ix_templates_provider_type")
    assert internals.ddl_if_dialect(gin) == "postgresql"
    assert internals.ddl_if_dialect(plain) is None
    assert internals.ddl_if_dialect(Index("x", machines.c.status)) is None


def test_json_scan_decodes_one_document_and_reports_its_end() -> None:
    assert internals.json_scan('{"a": [1, 2.5, null]}') == ({"a": [1, 2.5, None]}, 21)
    assert internals.json_scan("[1] ")[1] == 3  # trailing data is left to the caller


def test_the_codecs_fast_bind_conversions_equal_sqlalchemys() -> None:
    """codec.binder replaces SQLAlchemy's bind processors for datetimes and JSON: same output."""
    from datetime import timedelta, timezone

    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    from ohf_persistence.adapters.sql.codec import binder
    from ohf_persistence.adapters.sql.types import pg_json_dumps

    when = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 7),  # naive: UTC
        datetime(9999, 12, 31, 18, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5), "x")),
        datetime(2026, 6, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    ]
    documents = [{}, [], {"a": [1, 2.5, None, True]}, {"big": 1e20, "n": "é\u2028"}, [1e300]]
    for dialect in (SQLiteDialect_aiosqlite(), PGDialect_asyncpg(json_serializer=pg_json_dumps)):  # type: ignore[no-untyped-call]
        fast = binder(dialect)
        for column in (machines.c.launch_time, machines.c.tags):
            ours = fast(column.name, column.type)
            compiled = select(bindparam("v", type_=column.type)).compile(dialect=dialect)
            theirs = internals.bind_processors(compiled)["v"]
            assert ours is not None
            for value in when if column is machines.c.launch_time else documents:
                assert ours(value) == theirs(value), (dialect.name, column.name, value)
        assert fast("version", machines.c.version.type) is None


async def test_sqlite_connection_runs_a_daemon_worker_that_stops(tmp_path: object) -> None:
    conn = internals.sqlite_connection(f"{tmp_path}/x.db")
    assert conn._thread.daemon  # a never-closed store must not block interpreter exit
    await conn
    assert await conn.execute_fetchall("SELECT 1") == [(1,)]
    await conn.close()
    await internals.sqlite_worker_stopped(conn)
    assert not conn._thread.is_alive()


def test_json_dumps_writes_what_json_dumps_writes() -> None:
    """internals.json_dumps calls json's C encoder directly: same text, same refusals."""
    import json

    import pytest

    documents = [{}, [], {"a": [1, 2.5, None, True]}, {"é\u2028": "\x00\ud800"}, [1e20, -0.0]]
    for separators in ((", ", ": "), (",", ":")):
        dumps = internals.json_dumps(*separators)
        for value in [*documents, float("nan"), "text", 7, {"deep": [[{"x": [{}]}]]}]:
            assert dumps(value) == json.dumps(value, separators=separators), value
        with pytest.raises(TypeError, match="not JSON serializable"):
            dumps({"a": object()})
