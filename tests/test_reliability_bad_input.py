"""Bad input catalogue (issue 7, item 4): every bad input raises its documented error and
leaves the store exactly as it was.

``API_CASES`` runs on every backend (the ``store`` fixture), ``CONFIG_CASES`` once (no store
involved), ``CLI_CASES`` through the console-script function on every persistent backend.
Counts: see ``test_the_catalogue_has_at_least_30_distinct_inputs``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import (
    AlreadyExists,
    InvalidCursor,
    InvalidFilter,
    InvalidStatusTransition,
    ItemTooLarge,
    Machine,
    PersistenceError,
    Store,
    ValidationError,
    open_store,
)
from ohf_persistence.config import ConfigError
from ohf_persistence.testing import make_machine, make_request, make_template, snapshot
from tests.test_interop_support import UrlFactory, cli, persistent_backends


@dataclass(frozen=True)
class Case:
    name: str
    error: type[BaseException]
    run: Callable[[Any], Awaitable[Any]]  # Any: the inputs are wrong on purpose


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"d": value}
    return value


async def _mutated_then_saved(store: Store, field: str, value: Any) -> None:
    """A dict mutated in place after assignment is re-checked on save."""
    machine = await store.machines.get_by_id("i-1")
    assert machine is not None
    getattr(machine, field)["bad"] = value
    await store.machines.save(machine)


async def _assign(store: Store, field: str, value: Any) -> None:
    machine = await store.machines.get_by_id("i-1")
    assert machine is not None
    setattr(machine, field, value)
    await store.machines.save(machine)


async def _page_cursor(store: Store, tamper: Callable[[str], Any], filters: Any = None) -> None:
    first = await store.machines.page(limit=1)
    assert first.next_cursor is not None
    await store.machines.page(filters, limit=1, cursor=tamper(first.next_cursor))


async def _save_many_with_one_bad(store: Store) -> None:
    good = [make_machine(f"i-new-{n}") for n in range(3)]
    bad = make_machine("i-new-bad")
    bad.tags["x"] = float("nan")
    await store.machines.save_many([*good, bad])


async def _unit_with_one_bad(store: Store) -> None:
    async with store.unit_of_work() as uow:
        await uow.requests.save(make_request("req-new"))
        bad = make_machine("i-new")
        bad.metadata["when"] = object()
        await uow.machines.save(bad)
        await uow.commit()


def _flip(cursor: str) -> str:
    middle = len(cursor) // 2
    return cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1 :]


API_CASES = [
    Case(
        "save a Template into machines", ValidationError, lambda s: s.machines.save(make_template())
    ),
    Case("save a dict", ValidationError, lambda s: s.requests.save({"request_id": "x"})),
    Case("id of wrong type (int)", ValidationError, lambda s: s.machines.get_by_id(123)),
    Case("id None", ValidationError, lambda s: s.requests.get_by_id(None)),
    Case("empty id", ValidationError, lambda s: s.machines.get_by_id("")),
    Case("256-char id", ValidationError, lambda s: s.templates.exists("t" * 256)),
    Case("newline in id", ValidationError, lambda s: s.machines.delete("i-\n1")),
    Case("NUL in id", ValidationError, lambda s: s.requests.exists("req-\x001")),
    Case(
        "DEL char in id", ValidationError, lambda s: s.machines.update_status("i-\x7f", "running")
    ),
    Case(
        "unknown machine status",
        ValidationError,
        lambda s: s.machines.update_status("i-1", "exploded"),
    ),
    Case(
        "machine status on a request",
        ValidationError,
        lambda s: s.requests.update_status("req-1", "running"),
    ),
    Case(
        "refused transition complete->pending",
        InvalidStatusTransition,
        lambda s: s.requests.update_status("req-done", "pending"),
    ),
    Case(
        "refused transition failed->running",
        InvalidStatusTransition,
        lambda s: s.machines.update_status("i-failed", "running"),
    ),
    Case(
        "set in a dict field", ValidationError, lambda s: _mutated_then_saved(s, "metadata", {1, 2})
    ),
    Case(
        "bytes in a dict field", ValidationError, lambda s: _mutated_then_saved(s, "tags", b"\x00")
    ),
    Case("NaN float", ValidationError, lambda s: _mutated_then_saved(s, "tags", float("nan"))),
    Case(
        "inf float",
        ValidationError,
        lambda s: _mutated_then_saved(s, "provider_data", float("inf")),
    ),
    Case(
        "33-level nested dict",
        ValidationError,
        lambda s: _mutated_then_saved(s, "metadata", _deep(33)),
    ),
    Case("int over 64 bits", ValidationError, lambda s: _mutated_then_saved(s, "metadata", 2**64)),
    Case(
        "non-str dict key", ValidationError, lambda s: _mutated_then_saved(s, "metadata", {1: "a"})
    ),
    Case("NUL in text field", ValidationError, lambda s: _assign(s, "name", "a\x00b")),
    Case("negative version", ValidationError, lambda s: _assign(s, "version", -1)),
    Case("list of non-str", ValidationError, lambda s: _assign(s, "security_group_ids", [1])),
    Case("datetime as str", ValidationError, lambda s: _assign(s, "launch_time", "2026-01-01")),
    Case("unknown field", ValidationError, lambda s: _assign(s, "colour", "red")),
    Case(
        "count over 2**31-1",
        ValidationError,
        lambda s: s.requests.save(make_request("req-big", requested_count=2**31)),
    ),
    Case("save_many with one NaN", ValidationError, _save_many_with_one_bad),
    Case("unit of work with one non-JSON", ValidationError, _unit_with_one_bad),
    Case("duplicate insert", AlreadyExists, lambda s: s.machines.save(make_machine("i-1"))),
    Case("filter unknown field", InvalidFilter, lambda s: s.machines.get_all({"colour": "red"})),
    Case(
        "filter SQL-looking key",
        InvalidFilter,
        lambda s: s.machines.count({"status; DROP TABLE machines; --": "x"}),
    ),
    Case(
        "filter expression-looking key",
        InvalidFilter,
        lambda s: s.machines.get_all({"#status = :v OR attribute_exists(machine_id)": 1}),
    ),
    Case(
        "filter unknown suffix", InvalidFilter, lambda s: s.machines.get_all({"status_like": "%"})
    ),
    Case(
        "filter value of wrong type",
        InvalidFilter,
        lambda s: s.templates.get_all({"max_number_gte": "5"}),
    ),
    Case("filter bool as int", InvalidFilter, lambda s: s.templates.count({"max_number": True})),
    Case(
        "filter _in not a list",
        InvalidFilter,
        lambda s: s.machines.get_all({"status_in": "running"}),
    ),
    Case(
        "filter _in of 101 values",
        InvalidFilter,
        lambda s: s.machines.count({"machine_id_in": [f"i-{n}" for n in range(101)]}),
    ),
    Case(
        "filter order on an enum", InvalidFilter, lambda s: s.machines.get_all({"status_gt": "a"})
    ),
    Case("filter on a dict field", InvalidFilter, lambda s: s.machines.get_all({"metadata": {}})),
    Case("filter NUL value", InvalidFilter, lambda s: s.machines.get_all({"name": "a\x00"})),
    Case("filters not a mapping", InvalidFilter, lambda s: s.machines.get_all(["status"])),
    Case("tampered cursor", InvalidCursor, lambda s: _page_cursor(s, _flip)),
    Case("truncated cursor", InvalidCursor, lambda s: _page_cursor(s, lambda c: c[:10])),
    Case(
        "cursor of another query",
        InvalidCursor,
        lambda s: _page_cursor(s, str, {"status": "pending"}),
    ),
    Case("cursor of wrong type", InvalidCursor, lambda s: _page_cursor(s, lambda c: 42)),
    Case("cursor of 3000 chars", InvalidCursor, lambda s: _page_cursor(s, lambda c: c * 50)),
    Case("page limit 0", ValidationError, lambda s: s.machines.page(limit=0)),
    Case("page limit 10001", ValidationError, lambda s: s.requests.page(limit=10_001)),
    Case("get_all negative offset", ValidationError, lambda s: s.machines.get_all(offset=-1)),
    Case("get_all limit as str", ValidationError, lambda s: s.machines.get_all(limit="10")),
    Case(
        "instance ids as one str", ValidationError, lambda s: s.machines.get_by_instance_ids("i-1")
    ),
    Case(
        "instance ids with an int",
        ValidationError,
        lambda s: s.machines.get_by_instance_ids(["i-1", 2]),
    ),
    Case(
        "find_by_attributes NaN",
        InvalidFilter,
        lambda s: s.templates.find_by_attributes({"a": float("nan")}),
    ),
    Case(
        "find_by_attributes not a dict",
        InvalidFilter,
        lambda s: s.templates.find_by_attributes("x"),
    ),
]

CONFIG_CASES: list[tuple[str, Any]] = [
    ("unsupported scheme with password", "mysql://u:hunter2@127.0.0.1/x"),
    ("no scheme", "no-scheme"),
    ("relative SQLite URL", "sqlite+aiosqlite://relative.db"),
    ("unknown DynamoDB option", "dynamodb://?colour=blue"),
    ("DynamoDB endpoint not http", "dynamodb://?endpoint_url=ftp://127.0.0.1/x"),
    ("DynamoDB bad table prefix", "dynamodb://?endpoint_url=http://127.0.0.1:9&table_prefix=a%20b"),
    ("PostgreSQL port not a number", "postgresql+asyncpg://u:hunter2@127.0.0.1:notaport/x"),
    ("PostgreSQL unclosed IPv6 bracket", "postgresql+asyncpg://u:hunter2@[::1/x"),
    ("unsupported storage type", {"storage": {"type": "oracle"}}),
    ("sql section without url", {"storage": {"type": "sql", "sql": {}}}),
    ("config of wrong type", 42),
]


def _jsonl(*records: Any) -> str:
    header = {"format": "ohf-persistence-jsonl", "format_version": 1}
    lines = [json.dumps(header)] + [r if isinstance(r, str) else json.dumps(r) for r in records]
    return "\n".join(lines) + "\n"


def _machine_record(key: str, **data: Any) -> dict[str, Any]:
    return {"type": "machine", "id": key, "version": 1, "data": {"request_id": "req-1", **data}}


CLI_CASES: dict[str, tuple[str, str]] = {
    # name -> (file name, content); every one must exit 1 and import nothing.
    "line that is not JSON": ("a.jsonl", _jsonl(_machine_record("i-ok"), "{not json")),
    "NaN literal in a record": (
        "b.jsonl",
        _jsonl(
            _machine_record("i-ok"),
            '{"type": "machine", "id": "i-nan", "version": 1, "data": {"tags": {"x": NaN}}}',
        ),
    ),
    "unknown record type": (
        "c.jsonl",
        _jsonl(_machine_record("i-ok"), {"type": "planet", "id": "p", "version": 1, "data": {}}),
    ),
    "control character in an id": (
        "d.jsonl",
        _jsonl(_machine_record("i-ok"), _machine_record("i-\x01")),
    ),
    "33-level nested metadata": (
        "e.jsonl",
        _jsonl(_machine_record("i-ok"), _machine_record("i-deep", metadata=_deep(33))),
    ),
    "invalid status": (
        "f.jsonl",
        _jsonl(_machine_record("i-ok"), _machine_record("i-bad", status="exploded")),
    ),
    "ORB file that is a list": ("g.json", "[1, 2, 3]"),
    "missing file": ("missing.jsonl", ""),
}


def test_the_catalogue_has_at_least_30_distinct_inputs() -> None:
    names = [c.name for c in API_CASES] + [n for n, _ in CONFIG_CASES] + list(CLI_CASES)
    assert len(names) == len(set(names)) >= 30
    print(f"\nbad inputs: {len(API_CASES)} API + {len(CONFIG_CASES)} config + {len(CLI_CASES)} CLI")


async def _seed(store: Store) -> None:
    await store.templates.save(make_template("tpl-1"))
    await store.requests.save_many(
        [make_request("req-1"), make_request("req-done", status="complete")]
    )
    await store.machines.save_many(
        [make_machine("i-1"), make_machine("i-2"), make_machine("i-failed", status="failed")]
    )


@pytest.mark.parametrize("case", API_CASES, ids=[c.name for c in API_CASES])
async def test_bad_api_input_raises_its_error_and_changes_nothing(store: Store, case: Case) -> None:
    await _seed(store)
    before = await snapshot(store)
    with pytest.raises(case.error) as raised:
        await case.run(store)
    assert isinstance(raised.value, PersistenceError)  # never a bare driver or Python error
    assert await snapshot(store) == before


async def test_oversize_items_are_refused_on_dynamodb_and_stored_elsewhere(
    store: Store, backend_name: str
) -> None:
    """DynamoDB's 400 KB item limit is checked before sending (ItemTooLarge); the SQL and memory
    backends have no such limit and store the item (documented in docs/reliability.md)."""
    await _seed(store)
    big = make_machine("i-big", metadata={"blob": "x" * 500_000})
    before = await snapshot(store)
    if backend_name == "dynamodb":
        with pytest.raises(ItemTooLarge):
            await store.machines.save(big)
        assert await snapshot(store) == before
    else:
        await store.machines.save(big)
        stored = await store.machines.get_by_id("i-big")
        assert stored is not None and stored.metadata == big.metadata


@pytest.mark.parametrize("config", [c for _, c in CONFIG_CASES], ids=[n for n, _ in CONFIG_CASES])
async def test_bad_config_is_a_config_error_without_the_password(config: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        await open_store(config)
    assert "hunter2" not in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("backend", persistent_backends())
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_broken_import_files_exit_1_and_import_nothing(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path, case: str
) -> None:
    async def make_url() -> str:
        return await url_factory()

    url = asyncio.run(make_url())

    async def state() -> dict[str, Any]:
        async with open_store(url) as store:
            return await snapshot(store)

    async def seed() -> None:
        async with open_store(url) as store:
            await _seed(store)

    asyncio.run(seed())
    before = asyncio.run(state())
    name, content = CLI_CASES[case]
    path = tmp_path / name
    if content:
        path.write_text(content, encoding="utf-8")
    code, out, err = cli(capsys, "import", str(path), "--url", url)
    assert code == 1, (out, err)
    assert "Traceback" not in err and err.strip()
    assert asyncio.run(state()) == before


def test_machine_constructor_refuses_before_any_store_is_involved() -> None:
    with pytest.raises(ValidationError):
        Machine(machine_id="")
