"""Issue 12, fourth-pass leftovers: four classes of input that still went wrong.

Sections:

1. Subclasses of the JSON types as values (``StrEnum``, ``IntEnum``, ``str`` / ``int`` /
   ``float`` / ``datetime`` subclasses, ``OrderedDict``, ``defaultdict``, list and dict
   subclasses) came back as the caller's objects from the memory backend and as plain types
   from SQL and DynamoDB. Validation now makes them plain, so every backend returns exact
   built-in types (``bool`` stays ``bool``).
2. A SQLite or PostgreSQL database holding tables (views, indexes, types) named like ours but
   no ohf_persistence revision: ``check`` listed "differences" and advised ``migrate``, which
   failed with the driver's "already exists". Now every command and ``open_store`` refuse with
   ``ForeignTables`` naming them, and nothing is changed.
3. A JSON Lines header whose format_version was huge, not a number, or repeated said only "has
   no header on line 1" (or printed 400 digits). Every defect is named.
4. A raw ``@`` in a PostgreSQL URL's option value or password: SQLAlchemy took part of the
   secret for the host name (resolved by DNS, shown in errors). Refused before anything
   connects, telling to write ``%40``; raw ``: / #`` still read as written.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from ohf_persistence import ConfigError, ForeignTables, SchemaOutOfDate, Store, migrate, open_store
from ohf_persistence.config import resolve_config
from ohf_persistence.domain import Machine, Request, Template
from ohf_persistence.interop import import_file
from ohf_persistence.interop.sources import SourceError
from ohf_persistence.testing import make_machine, make_request, make_template
from tests.test_cli_commands import one_line_error
from tests.test_interop_support import PG_URL, cli

# --------------------------------------------------------------------------------------------
# 1. Subclasses of the JSON types come back as the exact built-in types on every backend
# --------------------------------------------------------------------------------------------


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 7
    ONE = 1  # equal to True, yet must come back as the int 1


class Loud(str):
    def __str__(self) -> str:  # a subclass's own __str__ must not decide the stored value
        return "LOUD"


class Ratio(float):
    pass


class Tags(list[Any]):
    pass


class Attrs(dict[str, Any]):
    pass


class Stamp(datetime):
    pass


PLAIN = (str, int, float, bool, type(None), dict, list)


def assert_plain(value: Any, path: str = "") -> None:
    """Every value, key and container is an exact built-in type."""
    assert type(value) in PLAIN, (path, type(value))
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str, (path, type(key))
            assert_plain(item, f"{path}.{key}")
    elif type(value) is list:
        for index, item in enumerate(value):
            assert_plain(item, f"{path}[{index}]")


def odd_json() -> dict[str, Any]:
    """Every subclass family, nested, and the plain values they must become."""
    inner = collections.defaultdict(list, {Loud("k"): Tags([Size.LARGE, Ratio(0.5)])})
    return collections.OrderedDict(
        [
            (Colour.RED, Colour.RED),
            ("loud", Loud("quiet")),
            ("size", Size.LARGE),
            ("one", Size.ONE),
            ("flag", True),
            ("ratio", Ratio(2.5)),
            ("list", Tags([Colour.RED, Loud("x"), Size.ONE, None])),
            ("dict", Attrs(inner=inner)),
        ]
    )


ODD_JSON_PLAIN = {
    "red": "red",
    "loud": "quiet",
    "size": 7,
    "one": 1,
    "flag": True,
    "ratio": 2.5,
    "list": ["red", "x", 1, None],
    "dict": {"inner": {"k": [7, 0.5]}},
}
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def odd_entities() -> tuple[Template, Request, Machine]:
    template = make_template(
        Loud("tpl-odd"),
        name=Colour.RED,
        max_number=Size.LARGE,
        attributes=odd_json(),
        configuration=Attrs(colour=Colour.RED),
    )
    request = make_request(
        Loud("req-odd"),
        template_id=Loud("tpl-odd"),
        requested_count=Size.ONE,
        machine_ids=Tags([Loud("i-odd")]),
        resource_ids=[Colour.RED],
        metadata=odd_json(),
        started_at=Stamp(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )
    machine = make_machine(
        Loud("i-odd"),
        request_id=Loud("req-odd"),
        instance_type=Colour.RED,
        security_group_ids=Tags([Loud("sg-1"), Colour.RED]),
        tags=collections.OrderedDict(Name=Loud("n")),
        metadata=odd_json(),
        launch_time=Stamp(2024, 5, 6, 7, 8, 9, 123456),  # naive: UTC
    )
    return template, request, machine


def assert_plain_entity(entity: Any) -> None:
    for name, value in entity.to_dict().items():
        if name in ("status", "request_type"):  # the package's own enums, by contract
            continue
        if isinstance(value, datetime):
            assert type(value) is datetime, name
            continue
        assert_plain(value, name)


def assert_odd_values(template: Any, request: Any, machine: Any) -> None:
    for entity in (template, request, machine):
        assert_plain_entity(entity)
    assert (template.template_id, template.name, template.max_number) == ("tpl-odd", "red", 7)
    assert template.attributes == ODD_JSON_PLAIN
    assert template.configuration == {"colour": "red"}
    assert (request.request_id, request.requested_count) == ("req-odd", 1)
    assert request.machine_ids == ["i-odd"] and request.resource_ids == ["red"]
    assert request.metadata == ODD_JSON_PLAIN and request.started_at == WHEN
    assert (machine.machine_id, machine.instance_type) == ("i-odd", "red")
    assert machine.security_group_ids == ["sg-1", "red"]
    assert machine.tags == {"Name": "n"} and machine.metadata == ODD_JSON_PLAIN
    assert machine.launch_time == WHEN
    # bool stays bool and an IntEnum equal to True becomes the int 1, not True
    assert type(machine.metadata["flag"]) is bool and type(machine.metadata["one"]) is int


def test_validation_makes_subclass_values_plain() -> None:
    assert_odd_values(*odd_entities())
    imported = Template.from_dict(  # the import's and ORB's way in
        {"template_id": Loud("t"), "max_number": Size.LARGE, "attributes": odd_json()}
    )
    assert_plain_entity(imported)
    assert imported.attributes == ODD_JSON_PLAIN and imported.template_id == "t"


async def test_subclass_values_come_back_plain_on_every_backend(store: Store) -> None:
    template, request, machine = odd_entities()
    await store.templates.save(template)
    await store.requests.save_many([request])
    async with store.unit_of_work() as uow:
        await uow.machines.save(machine)
        # a unit's own pending write, read back before commit
        assert_plain_entity(await uow.machines.get_by_id("i-odd"))
        await uow.commit()
    assert_odd_values(template, request, machine)  # the caller's objects too
    found = (
        await store.templates.get_by_id("tpl-odd"),
        await store.requests.get_by_id("req-odd"),
        await store.machines.get_by_id("i-odd"),
    )
    assert_odd_values(*found)
    assert_odd_values(
        *(await store.templates.get_all()),
        *(await store.requests.get_all()),
        *(await store.machines.page(limit=5)).items,
    )
    # a query holding subclass values still finds what they equal
    assert [t.template_id for t in await store.templates.find_by_attributes(odd_json())] == [
        "tpl-odd"
    ]


async def test_subclasses_put_in_place_after_construction_are_stored_plain(store: Store) -> None:
    machine = make_machine("i-late")
    await store.machines.save(machine)
    machine.metadata["late"] = Size.LARGE
    machine.tags["list"] = Tags([Colour.RED])
    machine.security_group_ids.append(Loud("sg-late"))
    await store.machines.save(machine)
    assert await store.machines.update_status("i-late", "running", Loud("because"))
    for found in (machine, await store.machines.get_by_id("i-late")):
        assert found is not None
        assert_plain_entity(found)
        assert found.metadata["late"] == 7 and found.tags["list"] == ["red"]
        assert found.security_group_ids[-1] == "sg-late"
    stored = await store.machines.get_by_id("i-late")
    assert stored is not None and stored.status_reason == "because"
    assert type(stored.status_reason) is str


# --------------------------------------------------------------------------------------------
# 2. Tables that are not ohf_persistence's: refused by name, never touched
# --------------------------------------------------------------------------------------------

SQLITE_FOREIGN = {
    # name -> (DDL of someone else's objects, what the refusal names)
    "table": (
        ["CREATE TABLE machines (id INTEGER PRIMARY KEY, owner TEXT)"],
        ["machines (table)"],
    ),
    "three tables": (
        [f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)" for t in ("templates", "requests")]
        + ["CREATE TABLE machines (id INTEGER PRIMARY KEY, owner TEXT)"],
        ["machines (table)", "requests (table)", "templates (table)"],
    ),
    "view": (
        ["CREATE TABLE other (id INTEGER)", "CREATE VIEW requests AS SELECT id FROM other"],
        ["requests (view)"],
    ),
    "index": (
        ["CREATE TABLE other (status TEXT)", "CREATE INDEX ix_machines_status ON other (status)"],
        ["ix_machines_status (index)"],
    ),
}
COMMANDS = [
    ["check"],
    ["check", "--json"],
    ["migrate"],
    ["current"],
    ["stats"],
    ["export", "-", "--format", "jsonl"],
    ["downgrade", "--revision", "base", "--yes"],
]


def _sqlite_foreign(path: Path, ddl: list[str]) -> list[Any]:
    with sqlite3.connect(path) as conn:
        for statement in ddl:
            conn.execute(statement)
        if any("TABLE machines" in statement for statement in ddl):
            conn.execute("INSERT INTO machines VALUES (1, 'someone else')")
    return _sqlite_contents(path)


def _sqlite_contents(path: Path) -> list[Any]:
    with sqlite3.connect(path) as conn:
        objects = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")
        listed = objects.fetchall()
        tables = [name for kind, name, _ in listed if kind == "table"]
        rows = [conn.execute(f"SELECT * FROM {name}").fetchall() for name in tables]
    return [listed, rows]


def assert_foreign_refusal(message: str, names: list[str]) -> None:
    assert "not ohf_persistence's: " + ", ".join(names) in message, message
    assert "will not touch them" in message and "use a different database" in message
    assert "nothing was changed" in message
    assert "already exists" not in message and "run `ohf-persistence migrate" not in message


@pytest.mark.parametrize("case", sorted(SQLITE_FOREIGN))
def test_sqlite_foreign_tables_are_named_and_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    ddl, names = SQLITE_FOREIGN[case]
    path = tmp_path / "theirs.db"
    before = _sqlite_foreign(path, ddl)
    url = f"sqlite+aiosqlite:///{path}"
    for argv in COMMANDS:
        code, out, err = cli(capsys, *argv, "--url", url)
        # check said "run `ohf-persistence migrate`", migrate "table machines already exists"
        assert (code, out) == (1, ""), (argv, out, err)
        assert_foreign_refusal(one_line_error(err), names)
    assert _sqlite_contents(path) == before


@pytest.mark.parametrize(
    "call",
    [
        lambda url: migrate(url),
        lambda url: open_store(url),
        lambda url: open_store(url, migrate=True),
    ],
    ids=["migrate", "open_store", "open_store-migrate"],
)
async def test_the_library_refuses_foreign_tables_too(
    tmp_path: Path, call: Callable[[str], Awaitable[Any]]
) -> None:
    path = tmp_path / "theirs.db"
    before = _sqlite_foreign(path, SQLITE_FOREIGN["table"][0])
    with pytest.raises(ForeignTables) as refused:
        await call(f"sqlite+aiosqlite:///{path}")
    assert isinstance(refused.value, SchemaOutOfDate)  # what "no schema" raised before
    assert refused.value.names == ["machines (table)"]
    assert_foreign_refusal(str(refused.value), ["machines (table)"])
    assert _sqlite_contents(path) == before


def test_an_empty_database_still_gets_the_migrate_advice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "empty.db"
    _sqlite_foreign(path, ["CREATE TABLE unrelated (id INTEGER)"])  # other names: fine
    url = f"sqlite+aiosqlite:///{path}"
    code, out, _err = cli(capsys, "check", "--url", url)
    assert code == 1 and "run `ohf-persistence migrate`" in out
    code, out, err = cli(capsys, "migrate", "--url", url)
    assert code == 0 and "migrated from no schema to" in out, err


PG_FOREIGN = {
    "table": (
        ["CREATE TABLE machines (id int PRIMARY KEY, owner text)"],
        ["machines (table)"],
    ),
    "three tables": (
        [f"CREATE TABLE {t} (id int)" for t in ("templates", "requests")]
        + ["CREATE TABLE machines (id int PRIMARY KEY, owner text)"],
        ["machines (table)", "requests (table)", "templates (table)"],
    ),
    "view": (
        ["CREATE TABLE other (id int)", "CREATE VIEW requests AS SELECT id FROM other"],
        ["requests (view)"],
    ),
    "type": (["CREATE TYPE templates AS ENUM ('a', 'b')"], ["templates (type)"]),
    "constraint index": (
        ["CREATE TABLE other (id int CONSTRAINT pk_machines PRIMARY KEY)"],
        ["pk_machines (index)"],
    ),
}


async def _pg_admin(statement: str) -> None:
    import asyncpg

    base = PG_URL.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]
    try:
        conn = await asyncpg.connect(base + "/postgres", timeout=5)
    except OSError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"POSTGRESQL TESTS NOT RUN: {exc}")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_run(url: str, *statements: str) -> list[Any]:
    """Run ``statements`` in the database, then return what it holds (objects and rows)."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
        objects = await conn.fetch(
            "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'ohf') ORDER BY 1, 2"
        )
        types = await conn.fetch(
            "SELECT typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = 'public' ORDER BY 1"
        )
        listed = [(o["nspname"], o["relname"], o["relkind"].decode()) for o in objects]
        tables = [name for schema, name, kind in listed if kind == "r" and schema == "public"]
        rows = [await conn.fetch(f'SELECT * FROM public."{t}"') for t in tables]
        return [
            listed,
            [t["typname"] for t in types],
            [[tuple(r) for r in table] for table in rows],
        ]
    finally:
        await conn.close()


@pytest.fixture
async def foreign_pg_database() -> AsyncIterator[str]:
    """A database of its own for the test (created as postgres, dropped after)."""
    name = f"ohf_foreign_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("case", sorted(PG_FOREIGN))
async def test_postgres_foreign_tables_are_named_and_left_alone(
    capsys: pytest.CaptureFixture[str], foreign_pg_database: str, case: str
) -> None:
    ddl, names = PG_FOREIGN[case]
    url = foreign_pg_database
    if "TABLE machines" in " ".join(ddl):
        ddl = [*ddl, "INSERT INTO machines VALUES (1, 'someone else')"]
    before = await _pg_run(url, *ddl)
    for argv in COMMANDS:
        # main() runs its own event loop: from a worker thread, as a user's process would
        code, out, err = await asyncio.to_thread(cli, capsys, *argv, "--url", url)
        assert (code, out) == (1, ""), (argv, out, err)  # migrate: raw DuplicateTable error
        assert_foreign_refusal(one_line_error(err), names)
    with pytest.raises(ForeignTables):
        await open_store(url, migrate=True)
    assert await _pg_run(url) == before


async def test_postgres_a_schema_of_its_own_is_the_way_out(foreign_pg_database: str) -> None:
    """The advice works: first in the search_path, our schema sits beside theirs."""
    url = foreign_pg_database
    database = make_url(url).database
    before = await _pg_run(url, "CREATE TABLE machines (id int, owner text)")
    with pytest.raises(ForeignTables):
        await migrate(url)
    await _pg_run(url, "CREATE SCHEMA ohf", f'ALTER DATABASE "{database}" SET search_path = ohf')
    await migrate(url)
    async with open_store(url) as store:
        await store.machines.save(make_machine("i-ours"))
        assert [m.machine_id for m in await store.machines.get_all()] == ["i-ours"]
    after = await _pg_run(url)
    assert after[2] == before[2]  # their public.machines: same rows
    assert ("ohf", "machines", "r") in after[0] and ("public", "machines", "r") in after[0]


# --------------------------------------------------------------------------------------------
# 3. Every defect of a JSON Lines header is named
# --------------------------------------------------------------------------------------------

FORMAT = '"format": "ohf-persistence-jsonl"'
RECORD = json.dumps({"type": "template", "id": "t-1", "version": 1, "data": {"name": "t"}})
HEADERS = {
    # name -> (line 1, what the error says); each said "has no header on line 1" or printed
    # the value whole before, or misnamed it (1e999 as Infinity)
    "10**400": (
        f'{{{FORMAT}, "format_version": 1{"0" * 400}}}',
        "format_version 1000000000… (401 digits) is not supported (this package reads 1)",
    ),
    "5000 digits": (
        f'{{{FORMAT}, "format_version": {"9" * 5000}}}',
        "format_version 9999999999… (5000 digits) is not supported",
    ),
    "1e999": (f'{{{FORMAT}, "format_version": 1e999}}', "format_version 1e999 is not supported"),
    "-1": (f'{{{FORMAT}, "format_version": -1}}', "format_version -1 is not supported"),
    "0": (f'{{{FORMAT}, "format_version": 0}}', "format_version 0 is not supported"),
    "1.0": (f'{{{FORMAT}, "format_version": 1.0}}', "format_version 1.0 is not supported"),
    "NaN": (f'{{{FORMAT}, "format_version": NaN}}', "format_version NaN is not supported"),
    "-Infinity": (
        f'{{{FORMAT}, "format_version": -Infinity}}',
        "format_version -Infinity is not supported",
    ),
    "a string": (
        f'{{{FORMAT}, "format_version": "2"}}',
        'format_version "2" is a string, not a number (this package reads 1)',
    ),
    "a long string": (
        f'{{{FORMAT}, "format_version": "{"v" * 300}"}}',
        'format_version "vvvvvvvvv… (302 characters) is a string',
    ),
    "true": (f'{{{FORMAT}, "format_version": true}}', "format_version true is a boolean"),
    "null": (f'{{{FORMAT}, "format_version": null}}', "format_version null is not a number"),
    "an object": (f'{{{FORMAT}, "format_version": {{"v": 1}}}}', "format_version {…} is an"),
    "an array": (f'{{{FORMAT}, "format_version": [1]}}', "format_version […] is an array"),
    "missing": (f"{{{FORMAT}}}", "the header on line 1 has no format_version"),
    "newer": (f'{{{FORMAT}, "format_version": 2}}', "newer ohf-persistence (format_version 2)"),
    "repeated format_version": (
        f'{{{FORMAT}, "format_version": 1, "format_version": 1}}',
        'duplicate key "format_version" in the header on line 1',
    ),
    "repeated format": (
        f'{{{FORMAT}, {FORMAT}, "format_version": 1}}',
        'duplicate key "format" in the header on line 1',
    ),
    "other format": (
        '{"format": "csv", "format_version": 1}',
        'the header on line 1 has format "csv", not "ohf-persistence-jsonl"',
    ),
    "format a number": ('{"format": 1e999, "format_version": 1}', "has format 1e999, not"),
    "not JSON": (f'{{{FORMAT}, "format_version": 1', "line 1 is not valid JSON (Expecting"),
    "an array line": ("[1, 2]", "line 1 is an array, so there is no header on line 1"),
    "a number line": ("1", "line 1 is not an object, so there is no header on line 1"),
    "a record": (RECORD, 'no header on line 1 (it is a "template" record, with no "format"'),
    "blank": ("   ", "line 1 is blank, so there is no header on line 1"),
    "too deep": ("[" * 100_000 + "]" * 100_000, "line 1 is JSON nested too deeply to read"),
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_every_header_defect_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    line, expected = HEADERS[name]
    path = tmp_path / "in.jsonl"
    path.write_text(f"{line}\n{RECORD}\n", encoding="utf-8")

    async def into_memory() -> Any:
        async with open_store("memory://") as store:
            return await import_file(store, path, "jsonl")

    with pytest.raises(SourceError) as refused:
        asyncio.run(into_memory())
    assert expected in str(refused.value), str(refused.value)
    assert len(str(refused.value)) < 300  # one readable line, whatever the value's size
    db = tmp_path / "x.db"
    code, _out, err = cli(capsys, "import", str(path), "--url", f"sqlite+aiosqlite:///{db}")
    assert code == 1 and expected in one_line_error(err)


def test_header_bytes_that_are_not_text_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"format": "\xff"}\n' + RECORD.encode() + b"\n")
    code, _out, err = cli(capsys, "import", str(path), "--url", "memory://")
    assert code == 1
    assert "line 1 is not UTF-8 text (invalid start byte at byte 12)" in one_line_error(err)


def test_a_good_header_with_a_bom_and_crlf_still_imports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + f'{{{FORMAT}, "format_version": 1}}\r\n{RECORD}\n'.encode())
    code, out, err = cli(capsys, "import", str(path), "--url", "memory://")
    assert code == 0, err
    assert "template     1         1" in out


# --------------------------------------------------------------------------------------------
# 4. A raw "@" in a PostgreSQL URL's option value or password is refused; ": / #" are read
# --------------------------------------------------------------------------------------------

HOST = "127.0.0.1:5432"
SECRET = "zq9s3cret"  # the tail of every password below: never shown, never a host name
RAW_AT = {
    "query password after host:port": f"postgresql+asyncpg://u@{HOST}/test?password=a@{SECRET}",
    "query password, no user": f"postgresql+asyncpg://{HOST}/test?password=a@{SECRET}",
    "query password, no port": f"postgresql+asyncpg://u@127.0.0.1/test?password=a@{SECRET}",
    "query password with : and @": f"postgresql+asyncpg://u@{HOST}/test?password=a:b@{SECRET}",
    "second option": f"postgresql+asyncpg://u@{HOST}/test?ssl=disable&password=@{SECRET}",
    "sslpassword": f"postgresql+asyncpg://u@{HOST}/test?sslpassword=x@{SECRET}",
    "userinfo password": f"postgresql+asyncpg://u:a@{SECRET}@{HOST}/test",
    "userinfo password, no port": f"postgresql+asyncpg://u:a@{SECRET}@127.0.0.1/test",
    "userinfo password with port-like tail": f"postgresql+asyncpg://u:a@{SECRET}:1@{HOST}/test",
    "userinfo password with / # ?": f"postgresql+asyncpg://u:a/#?@{SECRET}@{HOST}/test",
    "scheme postgres://": f"postgres://u@{HOST}/test?password=a@{SECRET}",
}


def _no_dns(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every name lookup (there must be none: the URL is refused before)."""
    looked_up: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        looked_up.append(args[:2])
        raise socket.gaierror("no lookups in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return looked_up


def _assert_refused(message: str) -> None:
    assert "holds a raw '@'" in message and "%40" in message, message
    assert SECRET not in message and "s3cret" not in message, message


@pytest.mark.parametrize("name", sorted(RAW_AT))
async def test_a_raw_at_sign_in_a_postgres_url_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    url = RAW_AT[name]
    looked_up = _no_dns(monkeypatch)
    with pytest.raises(ConfigError) as refused:
        resolve_config(url)
    _assert_refused(str(refused.value))
    for config in (url, {"storage": {"type": "sql", "sql": {"url": url}}}):
        with pytest.raises(ConfigError) as refused:
            await open_store(config)
        _assert_refused(str(refused.value))
    monkeypatch.setenv("OHF_STORAGE_URL", url)
    with pytest.raises(ConfigError) as refused:
        await open_store()
    assert str(refused.value).startswith("$OHF_STORAGE_URL: ")
    _assert_refused(str(refused.value))
    assert looked_up == []


@pytest.mark.parametrize("name", sorted(RAW_AT))
@pytest.mark.parametrize(
    "command", [["stats"], ["migrate"], ["check", "--json"], ["--debug", "current"]]
)
def test_the_cli_refuses_a_raw_at_sign_in_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    command: list[str],
) -> None:
    looked_up = _no_dns(monkeypatch)
    code, out, err = cli(capsys, *command, "--url", RAW_AT[name])
    assert (code, out) == (1, "")
    last = err.strip().splitlines()[-1]  # --debug shows the traceback above it
    _assert_refused(err)
    subcommand = next(word for word in command if not word.startswith("--"))
    assert last.startswith(f"ohf-persistence {subcommand}: error: ")
    assert looked_up == []


# Read as written (SQLAlchemy's reading is the obvious one): raw ":", "/", "#", "?" in a query
# password or in the user information's password, and "@" written as %40.
READ_AS_WRITTEN = {
    f"postgresql+asyncpg://u@{HOST}/test?password=a:b/c#d": ("u", None, "a:b/c#d"),
    f"postgresql+asyncpg://u@{HOST}/test?password=a?b&ssl=disable": ("u", None, "a?b"),
    f"postgresql+asyncpg://u@{HOST}/test?password=a%40b": ("u", None, "a@b"),
    f"postgresql+asyncpg://u:a:b/c#d@{HOST}/test": ("u", "a:b/c#d", None),
    f"postgresql+asyncpg://u:a?b@{HOST}/test": ("u", "a?b", None),
    f"postgresql+asyncpg://u:a%40b@{HOST}/test": ("u", "a@b", None),
    f"postgresql+asyncpg://u%40corp:pw@{HOST}/test": ("u@corp", "pw", None),
}


@pytest.mark.parametrize("url", sorted(READ_AS_WRITTEN))
def test_other_characters_and_percent_encoded_at_signs_are_read_as_written(url: str) -> None:
    user, password, option = READ_AS_WRITTEN[url]
    parsed = make_url(resolve_config(url).url)
    assert (parsed.host, parsed.port, parsed.database) == ("127.0.0.1", 5432, "test")
    assert (parsed.username, parsed.password, parsed.query.get("password")) == (
        user,
        password,
        option,
    )


@pytest.mark.parametrize(
    "suffix", ["?password=a:b/c%23d", "?password=a%40b%3Fc", "?password=a:b/c#d&timeout=5"]
)
async def test_a_real_server_opens_with_such_passwords(
    capsys: pytest.CaptureFixture[str], foreign_pg_database: str, suffix: str
) -> None:
    """The test server trusts every connection, so this shows the host and database are read
    right (the password itself is checked above): migrate, then stats on the new schema."""
    for command in ("migrate", "stats"):
        argv = (command, "--url", foreign_pg_database + suffix)
        code, out, err = await asyncio.to_thread(cli, capsys, *argv)
        assert code == 0, err
        assert "password=***" in out and "a:b" not in out and "a%40b" not in out
