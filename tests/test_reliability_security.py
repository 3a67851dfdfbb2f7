"""Security (issue 7, item 6): filter keys and values, attribute names, ids and cursors are
data, never statement or expression text, on every backend; passwords never appear in
exceptions, logs or CLI output."""

from __future__ import annotations

import logging
import traceback

import pytest
from sqlalchemy.engine import make_url

from ohf_persistence import BackendUnavailable, Machine, Store, open_store
from ohf_persistence.query import encode_cursor, parse_filters
from ohf_persistence.testing import make_machine, make_template, snapshot
from tests.conftest import BACKENDS
from tests.test_interop_support import cli

INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE machines; --",
    '"; DROP TABLE machines; --',
    "1; DELETE FROM machines",
    ") OR (1=1",
    "%",
    "_",
    "\\",
    "$.name",
    "#status",
    ":v0 OR attribute_exists(machine_id)",
    "attribute_not_exists(machine_id)",
    "{'$ne': null}",
    "名前' --",
]
SECRET = "pw-never-shown-91c4"


async def _fleet(store: Store) -> None:
    machines = [make_machine(f"i-inj-{n}", name=text) for n, text in enumerate(INJECTIONS)]
    machines.append(make_machine("i-plain", name="plain"))
    await store.machines.save_many(machines)


@pytest.mark.parametrize("text", INJECTIONS)
async def test_injection_strings_in_filter_values_match_literally(store: Store, text: str) -> None:
    await _fleet(store)
    total = await store.machines.count()
    expected = [f"i-inj-{INJECTIONS.index(text)}"]
    assert [m.machine_id for m in await store.machines.get_all({"name": text})] == expected
    assert await store.machines.count({"name_in": [text, "nothing"]}) == 1
    page = await store.machines.page({"name": text}, limit=5)
    assert [m.machine_id for m in page.items] == expected
    assert await store.machines.count({"name_gte": text, "name_lte": text}) == 1
    assert await store.machines.count() == total  # every table still there, nothing deleted


@pytest.mark.parametrize("text", INJECTIONS)
async def test_injection_strings_as_ids_round_trip(store: Store, text: str) -> None:
    key = f"i-{text}"
    await store.machines.save(make_machine(key))
    assert await store.machines.exists(key)
    assert [m.machine_id for m in await store.machines.get_by_instance_ids([key, "i-x"])] == [key]
    assert await store.machines.update_status(key, "running")
    assert await store.machines.delete(key)
    assert await store.machines.count() == 0


async def test_attribute_names_are_never_paths_or_expressions(store: Store) -> None:
    names = ["a.b", "a", "$.a", "a[0]", "#a", ":a", "a'); DROP TABLE templates; --", 'a"."b', "*"]
    await store.templates.save_many(
        [make_template(f"tpl-{n}", attributes={name: 1}) for n, name in enumerate(names)]
        + [make_template("tpl-nested", attributes={"a": {"b": 1}, "$": {"a": 1}})]
    )
    for n, name in enumerate(names):
        found = await store.templates.find_by_attributes({name: 1})
        assert [t.template_id for t in found] == [f"tpl-{n}"], name
    assert await store.templates.count() == len(names) + 1


async def test_a_signed_cursor_carrying_code_is_only_a_key(store: Store) -> None:
    """The signing key is in the source, so assume an attacker can sign: the cursor's key is
    still a bound value compared with the key column."""
    await _fleet(store)
    before = await snapshot(store)
    for text in INJECTIONS:
        cursor = encode_cursor(Machine, parse_filters(Machine, None), text)
        page = await store.machines.page(limit=100, cursor=cursor)
        assert all(m.machine_id > text for m in page.items), text
    assert await snapshot(store) == before


REFUSED_PG = f"postgresql+asyncpg://ohf:{SECRET}@127.0.0.1:9/ohf"


async def test_password_of_an_unreachable_server_is_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendUnavailable) as raised:
        await open_store(REFUSED_PG)
    chain = "".join(traceback.format_exception(raised.value))
    assert SECRET not in chain and SECRET not in repr(raised.value)
    assert all(SECRET not in r.getMessage() for r in caplog.records)


@pytest.mark.skipif("postgres" not in BACKENDS, reason="OHF_TEST_BACKENDS excludes postgres")
async def test_password_never_in_debug_logs_of_a_working_store(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Trust authentication on the test server ignores the password; it is still in the URL.
    url = make_url(postgres_url).set(password=SECRET).render_as_string(hide_password=False)
    caplog.set_level(logging.DEBUG)
    async with open_store(url, logger=logging.getLogger("ohf_persistence")) as store:
        await store.machines.save(make_machine("i-log"))
        assert await store.machines.get_by_id("i-log") is not None
        await store.machines.delete("i-log")
        assert SECRET not in repr(store.db.config)  # type: ignore[attr-defined]
    assert all(SECRET not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "--debug"])
@pytest.mark.parametrize("command", ["stats", "migrate", "current", "export"])
def test_password_never_in_cli_output(
    capsys: pytest.CaptureFixture[str], command: str, debug: bool
) -> None:
    extra = ["-", "--format", "jsonl"] if command == "export" else []
    flags = ["--debug"] if debug else []
    code, out, err = cli(capsys, command, *extra, *flags, "--url", REFUSED_PG)
    assert code == 1
    assert SECRET not in out + err
    assert "127.0.0.1" in err
