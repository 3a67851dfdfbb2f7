"""The ORB storage type ``ohf`` (and the migration commands docs/orb.md gives) against a
hostile new user's cases: each test was written as a reproduction of a defect (its docstring
says what happens now and what happened before the fix) and closes the whole class named
there (docs/reliability.md, section 13).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("orb", reason="needs orb-py (the orb extra)")

from orb.domain.base.exceptions import ConfigurationError
from orb.infrastructure.storage.json.strategy import JSONStorageStrategy
from orb.infrastructure.utilities.factories.repository_factory import (
    RepositoryFactory,
    UnitOfWorkFactory,
)

from ohf_persistence import sync
from ohf_persistence.cli import main as ohf_cli
from ohf_persistence.orb import registration
from ohf_persistence.orb.session import Session
from ohf_persistence.orb.strategy import OhfStorageStrategy
from tests.orb_support import default_db, orb_manager


def _orb_fixture() -> dict[str, Any]:
    from tests.test_interop_support import FIXTURE_FILE

    return json.loads(Path(FIXTURE_FILE).read_text())


# 1. A malformed `ohf` section silently falls back to another store ---------------------------


@pytest.mark.parametrize(
    "section",
    [
        pytest.param("TYPO", id="unknown-key-ulr"),
        pytest.param("STRING", id="section-is-a-string"),
        pytest.param("EMPTY_URL", id="url-is-empty-string"),
    ],
)
def test_malformed_ohf_section_is_refused_not_silently_replaced_by_the_default_store(
    orb_env: Path, section: str
) -> None:
    """Class: malformed `ohf` config section. File: ohf_persistence/orb/registration.py
    (resolve_url ignores anything that is not a mapping with a truthy "url").

    Now: ``{"ohf": {"ulr": URL}}`` (a typo), ``{"ohf": URL}`` (a string, not an object) or
    ``{"ohf": {"url": ""}}`` is refused with ORB's ConfigurationError naming the bad key/value
    (README: "a typo such as "ulr" never falls back to a default"), and the store the user
    meant is never silently replaced.
    Before the fix: ORB silently opens (and creates) ``<work_dir>/data/ohf.db`` and runs on it; the
    configured URL is ignored, so every request/machine goes to a store nobody looks at (the
    ORB CLI run: `orb machines request` exits 0 and launches an instance, written to the
    default file)."""
    wanted = f"sqlite+aiosqlite:///{orb_env / 'wanted.db'}"
    ohf: Any = {
        "TYPO": {"ulr": wanted},
        "STRING": wanted,
        "EMPTY_URL": {"url": ""},
    }[section]
    manager = orb_manager({"strategy": "ohf", "ohf": ohf})
    with pytest.raises(ConfigurationError):
        registration.create_unit_of_work(manager)
    assert not default_db(orb_env).exists()


# 2. ORB's own RepositoryFactory cannot see storage.ohf.url without ORB's container ---------


def test_a_repository_factory_without_orbs_container_says_it_cannot_see_the_url(
    orb_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Class: ORB wiring without ORB's DI start-up. File: ohf_persistence/orb/registration.py
    (_storage_of: ORB's strategy factory gets ``app_config.model_dump()``, which has no
    ``ohf`` section; only ORB's DI container holds the raw config).

    Now: ``RepositoryFactory(manager)`` used by hand, with ORB's container not running, still
    cannot read ``storage.ohf.url`` (nothing ORB passes holds it) but says so in a WARNING
    naming $OHF_STORAGE_URL (docs/orb.md, Configure), and with $OHF_STORAGE_URL set to the
    configured URL both factories use one store.
    Before the fix: the repository silently used ``<work_dir>/data/ohf.db`` while the unit of
    work used the configured URL: data split between two stores, nothing said."""
    url = f"sqlite+aiosqlite:///{orb_env / 'configured.db'}"
    manager = orb_manager({"strategy": "ohf", "ohf": {"url": url}})
    log = logging.getLogger("hostile")
    with caplog.at_level(logging.WARNING, logger="ohf_persistence.orb"):
        RepositoryFactory(manager, log).create_request_repository()
    assert "storage.ohf.url cannot be read" in caplog.text and "OHF_STORAGE_URL" in caplog.text
    os.environ["OHF_STORAGE_URL"] = url
    try:
        uow = UnitOfWorkFactory(manager, log).create_unit_of_work()
        repository = RepositoryFactory(manager, log).create_request_repository()
    finally:
        del os.environ["OHF_STORAGE_URL"]
    assert repository.storage_strategy.session.store is uow.session.store


# 3. The per-process store survives fork(): the child can never use it -----------------------


def test_a_forked_orb_process_gets_a_working_store(orb_env: Path) -> None:
    """Class: process lifetime (fork after first use, e.g. ORB's REST API under a pre-forking
    server, multiprocessing). File: ohf_persistence/orb/registration.py (process_store caches
    by URL in a module dict that the child inherits; sync refuses stores opened before the
    fork).

    Now: docs/orb.md "the store is opened once per process (on first use)": a forked child
    opens its own store and ORB works there.
    Before the fix: every ORB call in the child raises ORB's StorageError "this store was opened in
    the parent process before a fork; open it again here" — forever, ORB cannot reopen it."""
    url = f"sqlite+aiosqlite:///{orb_env / 'fork.db'}"
    manager = orb_manager({"strategy": "ohf", "ohf": {"url": url}})
    with registration.create_unit_of_work(manager) as uow:
        uow.templates.find_all()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            child = registration.create_unit_of_work(manager)
            with child:
                child.templates.find_all()
            message = "OK"
        except BaseException as exc:  # report anything to the parent
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode()[:4000])
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    outcome = os.read(read, 4000).decode()
    os.close(read)
    assert outcome == "OK"


# 4. A SQLite parent folder that cannot be made: a raw OSError reaches ORB -------------------


def test_sqlite_parent_folder_that_cannot_be_created_is_orbs_configuration_error(
    orb_env: Path,
) -> None:
    """Class: SQLite paths (missing parent folder that cannot be created: a file in the way,
    or an unwritable/immutable folder). File: ohf_persistence/orb/registration.py (_open calls
    ``path.parent.mkdir`` outside its try; only PersistenceError is translated).

    Now: docs/orb.md "A store that cannot be opened at all ... is ORB's
    ConfigurationError naming the URL".
    Before the fix: a builtin OSError (here ``NotADirectoryError``; ``FileExistsError`` for a
    file as the direct parent, ``PermissionError`` for an unwritable folder) reaches ORB;
    ORB's CLI reports "Unexpected error: File exists: '/…'" as InfrastructureError, naming
    neither the URL nor ohf."""
    blocker = orb_env / "not-a-folder"
    blocker.write_text("x")
    url = f"sqlite+aiosqlite:///{blocker / 'sub' / 'ohf.db'}"
    with pytest.raises(ConfigurationError, match="ohf"):
        registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))


# 5. A bad URL in ORB's config is our ConfigError, not ORB's ConfigurationError ---------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("mysql://user:s3cret@db/orb", id="unsupported-scheme"),
        pytest.param(123, id="url-not-a-string"),
        pytest.param("sqlite+aiosqlite:///ohf.db?timeout=3", id="unknown-sqlite-option"),
        pytest.param("postgresql+asyncpg://u:s3cret@127.0.0.1:99999/orb", id="port-out-of-range"),
        pytest.param("dynamodb://localhost:8000", id="dynamodb-host"),
    ],
)
def test_an_invalid_url_in_orbs_config_is_orbs_configuration_error(orb_env: Path, url: Any) -> None:
    """Class: malformed `ohf.url` (bad scheme, non-string, unknown option, bad port).
    File: ohf_persistence/orb/registration.py (_open calls resolve_config(url) outside its
    try; ``str(section["url"])`` also turns 123 into the URL "123").

    Now: ORB's ConfigurationError "ORB storage 'ohf': …" (docs/orb.md, Errors: "A store
    that cannot be opened at all ... is ORB's ConfigurationError naming the URL"); a url that
    is not a string is refused as such.
    Before the fix: ohf_persistence's own ConfigError (a ValueError) escapes into ORB, which reports
    it as {"type": "ValidationError", "message": "Invalid value: unsupported store URL '123'
    …"}."""
    with pytest.raises(ConfigurationError, match="ORB storage 'ohf'"):
        registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))


# 6. Looking up an id ohf cannot store: DataIntegrityError where ORB's storage says "none" ----


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("i-" + "0" * 300, id="over-255"),
        pytest.param("i-1\n", id="newline"),
    ],
)
def test_lookups_of_ids_ohf_cannot_hold_answer_not_found_like_orbs_json_storage(
    tmp_path: Path, key: str
) -> None:
    """Class: odd values from ORB's callers (Host Factory passes machine names through:
    `orb machines return ""`). File: ohf_persistence/orb/strategy.py (find_by_id / exists /
    delete / find_by_criteria pass the id to repositories that validate it).

    Now: a lookup of an id that cannot exist in the store answers like ORB's JSON
    storage: find_by_id -> None, exists -> False, find_by_criteria -> [], delete -> no-op;
    so `orb machines return ""` says "Machine with ID '' not found" (EntityNotFoundError), as
    it does on ORB's JSON storage.
    Before the fix: ORB's DataIntegrityError "find machines: Machine.machine_id: must be 1-255
    characters, got 0" (ORB CLI: exit 1, type DataIntegrityError)."""
    store = sync.open_store("memory://")
    try:
        ohf = OhfStorageStrategy(Session(store), "machines")
        reference = JSONStorageStrategy(
            str(tmp_path / "machines.json"), entity_type="machines", backup_enabled=False
        )
        for strategy in (reference, ohf):
            strategy.save_batch(_orb_fixture()["machines"])

        def answers(strategy: Any) -> list[Any]:
            return [
                strategy.find_by_id(key),
                strategy.exists(key),
                strategy.find_by_criteria({"machine_id": key}),
                strategy.find_by_criteria({"request_id": key}),
            ]

        assert answers(ohf) == answers(reference) == [None, False, [], []]
    finally:
        store.close()


# 7. find_by_criteria on `version` filters on our version, not ORB's ------------------------


def test_criteria_on_version_match_orbs_own_version(tmp_path: Path) -> None:
    """Class: silent divergence between storages (criteria). File:
    ohf_persistence/orb/strategy.py (_scalar_filters passes "version" to our query, where it
    means our store's row version, while the ORB record carries ORB's version).

    Now: ``find_by_criteria({"version": 0})`` returns the records ORB saved with version
    0, as ORB's JSON storage does (the fixture's 30 machines all have version 0).
    Before the fix: [] on every ohf backend (our stored versions start at 1), so the same ORB query
    silently returns nothing."""
    store = sync.open_store("memory://")
    try:
        ohf = OhfStorageStrategy(Session(store), "machines")
        reference = JSONStorageStrategy(
            str(tmp_path / "machines.json"), entity_type="machines", backup_enabled=False
        )
        machines = _orb_fixture()["machines"]
        for strategy in (reference, ohf):
            strategy.save_batch(copy.deepcopy(machines))
        expected = sorted(r["machine_id"] for r in reference.find_by_criteria({"version": 0}))
        assert expected  # the reference finds them
        assert sorted(r["machine_id"] for r in ohf.find_by_criteria({"version": 0})) == expected
    finally:
        store.close()


# 8. The migration command refuses an ORB file ORB itself reads as empty ----------------------


@pytest.mark.parametrize(
    "content", [pytest.param("", id="zero-bytes"), pytest.param("\n  \n", id="blank")]
)
def test_import_of_an_empty_orb_file_imports_nothing_like_orb_reads_it(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Class: odd ORB files (empty). File: ohf_persistence/interop/sources.py (OrbSource._load
    parses the text strictly).

    Now: ORB's JSON storage reads an empty or blank request_database.json as no data
    (orb/infrastructure/storage/components/serialization_manager.py: ``if not data or not
    data.strip(): return {}``), so docs/orb.md step 2 (`ohf-persistence import
    <work_dir>/data/request_database.json --url …`) imports 0 records and exits 0.
    Before the fix: exit 1, "request_database.json: not valid JSON: Expecting value (line 1,
    column 1)": the documented migration of such an installation stops."""
    orb_file = tmp_path / "request_database.json"
    orb_file.write_text(content)
    url = f"sqlite+aiosqlite:///{tmp_path / 'ohf.db'}"
    code = ohf_cli(["import", str(orb_file), "--url", url])
    assert code == 0, capsys.readouterr().err


# 9. Percent-escapes in a SQLite URL: the folder made is not the folder opened ----------------


def test_percent_encoded_sqlite_path_gets_its_parent_folder_created(orb_env: Path) -> None:
    """Class: SQLite paths with spaces/unicode written percent-encoded (as URLs usually are).
    File: ohf_persistence/orb/registration.py (_open makes ``url.split(":///")[1]`` literally,
    while the store decodes ``%20`` when it opens the file).

    Now: docs/orb.md "parent folders are created": ``…/a%20b/ohf.db`` opens (and
    creates) ``<tmp>/a b/ohf.db``, as ``sync.open_store`` and ``ohf-persistence migrate`` do
    for the same URL (both decode it: ``x%20y.db`` -> ``x y.db``).
    Before the fix: a stray folder literally named ``a%20b`` is created, then ORB gets
    ConfigurationError "cannot open the database file (OperationalError: unable to open
    database file)"."""
    url = f"sqlite+aiosqlite:///{orb_env}/a%20b/ohf.db"
    uow = registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))
    with uow:
        uow.templates.find_all()
    assert (orb_env / "a b" / "ohf.db").exists()
    assert not (orb_env / "a%20b").exists()


# 10. The default store URL is built from ORB's work dir without escaping ---------------------


@pytest.mark.parametrize(
    "folder", [pytest.param("orb%41work", id="percent"), pytest.param("orb?x=1", id="question")]
)
def test_default_store_works_under_any_orb_work_dir(
    orb_env: Path, monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    """Class: default SQLite under ORB's work directory. File:
    ohf_persistence/orb/registration.py (resolve_url builds
    ``f"sqlite+aiosqlite:///{path}"`` with no quoting, so ``%xx``, ``?`` and the like in
    ORB's folder are read as URL syntax).

    Now: with no URL configured, ORB on ``ohf`` uses ``<work_dir>/data/ohf.db``
    whatever characters the (valid) folder name holds.
    Before the fix: ``…/orb%41work`` -> ConfigurationError "unable to open database file" (the
    store opens ``orbAwork``; had that folder existed, ORB would silently have used another
    installation's data) after creating ``orb%41work/work/data``; ``…/orb?x=1`` -> our
    ConfigError "unknown sqlite URL option 'x'"."""
    root = orb_env / folder
    monkeypatch.setenv("ORB_ROOT_DIR", str(root))
    uow = registration.create_unit_of_work(orb_manager({"strategy": "ohf"}))
    with uow:
        uow.templates.find_all()
    assert (root / "work" / "data" / "ohf.db").exists()


# 11. An ORB record whose own metadata has the key "_orb" is refused --------------------------


@pytest.mark.parametrize("section", ["requests", "machines"])
def test_orb_metadata_holding_an_orb_key_is_stored_like_orbs_json_storage(
    tmp_path: Path, section: str
) -> None:
    """Class: odd values ORB can write (metadata is free-form ORB data). File:
    ohf_persistence/interop/orb.py (from_orb: ``metadata["_orb"]`` is reserved for the
    mapping's bookkeeping; docs/orb.md "How it maps" never says ORB's own metadata may not use
    it).

    Now: a request/machine whose metadata is ``{"_orb": {"user": "value"}}`` is saved and
    read back unchanged, as on ORB's JSON storage.
    Before the fix: ORB's DataIntegrityError "Request.metadata uses the reserved key
    '_orb'": the ORB operation fails on ohf only."""
    record = copy.deepcopy(next(iter(_orb_fixture()[section].values())))
    record["metadata"] = {"_orb": {"user": "value"}}
    key = record["request_id" if section == "requests" else "machine_id"]
    reference = JSONStorageStrategy(
        str(tmp_path / f"{section}.json"), entity_type=section, backup_enabled=False
    )
    reference.save(key, copy.deepcopy(record))
    assert reference.find_by_id(key) == record
    store = sync.open_store("memory://")
    try:
        ohf = OhfStorageStrategy(Session(store), section)
        ohf.save(key, copy.deepcopy(record))
        assert ohf.find_by_id(key) == record
    finally:
        store.close()


# 12. A read inside an ORB unit that replays held writes can silently drop them ---------------


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///:memory:"])
def test_a_unit_whose_held_write_failed_in_a_read_does_not_commit_the_rest_silently(
    url: str,
) -> None:
    """Class: unit-of-work semantics (data lost). File: ohf_persistence/orb/strategy.py
    (Session.unit() clears ``held`` before replaying it into our unit; when the replay of
    one held write fails, the remaining held writes are gone, yet ``self.uow`` stays open and
    the commit at the end of ORB's ``with`` block succeeds).

    Scenario: in one ORB unit, save A (read earlier, changed meanwhile by another process:
    stale) and save B (a new request); then a read (find_all) replays the held writes and
    raises ORB's ConcurrencyError for A; the caller handles it and leaves the block normally.
    Now (docs/orb.md "leaving the block normally commits everything it wrote, all or
    nothing"): either the commit raises (the unit is spoiled) or B is stored.
    Before the fix: the block exits without any error and B is not stored: a write the caller was
    never told about is silently lost (same on PostgreSQL; on DynamoDB the read does not
    raise and the commit raises ConcurrencyError instead: the backends diverge)."""
    from orb.domain.base.exceptions import ConcurrencyError

    from ohf_persistence.orb.unit_of_work import OhfUnitOfWork
    from tests.orb_support import sample

    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    try:
        requests = sample()["requests"]
        a, b = requests[0], requests[1]
        with OhfUnitOfWork(store) as setup:
            setup.requests.save(a)
        committed_silently = False
        try:
            with OhfUnitOfWork(store) as uow:
                mine = uow.requests.find_by_id(str(a.request_id))
                with OhfUnitOfWork(store) as other:  # someone else changes A meanwhile
                    theirs = other.requests.find_by_id(str(a.request_id))
                    other.requests.save(theirs.model_copy(update={"metadata": {"other": 1}}))
                uow.requests.save(mine.model_copy(update={"metadata": {"mine": 1}}))
                uow.requests.save(b)
                with pytest.raises(ConcurrencyError):
                    uow.requests.find_all()
            committed_silently = True
        except Exception:  # the commit refused the spoiled unit: fine
            pass
        with OhfUnitOfWork(store) as check:
            b_stored = check.requests.find_by_id(str(b.request_id)) is not None
        assert not (committed_silently and not b_stored), (
            "the unit committed without error but B was silently dropped"
        )
    finally:
        store.close()


# 13. Re-reading a row inside an ORB unit moves the guard: a stale save wins -------------------


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///:memory:"])
def test_a_stale_save_after_a_second_read_of_the_row_is_refused(url: str) -> None:
    """Class: concurrency / lost updates (docs/orb.md "No lost updates. A row ORB read inside
    a unit of work and saves back is written only if nobody changed it since the read").
    File: ohf_persistence/orb/strategy.py (OhfStorageStrategy._seen overwrites
    ``session.versions`` on every read, so the save is conditional on the LAST read, not on
    the read the saved data came from).

    Scenario: ORB unit reads request A (version n); another process changes A (n+1); the unit
    lists requests (find_all: sees n+1); the unit saves its object from the first read.
    Now: ORB's ConcurrencyError by the end of the block and the other process's change
    kept (a false conflict would only cost ORB a retry).
    Before the fix: the block exits cleanly and A's metadata is ``{"mine": 1}``: the other process's
    ``{"other": 1}`` is silently overwritten (same on PostgreSQL and DynamoDB)."""
    from orb.domain.base.exceptions import ConcurrencyError

    from ohf_persistence.orb.unit_of_work import OhfUnitOfWork
    from tests.orb_support import sample

    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    try:
        a = sample()["requests"][0]
        with OhfUnitOfWork(store) as setup:
            setup.requests.save(a)
        with pytest.raises(ConcurrencyError), OhfUnitOfWork(store) as uow:
            mine = uow.requests.find_by_id(str(a.request_id))
            with OhfUnitOfWork(store) as other:  # someone else changes A meanwhile
                theirs = other.requests.find_by_id(str(a.request_id))
                other.requests.save(theirs.model_copy(update={"metadata": {"other": 1}}))
            uow.requests.find_all()  # e.g. a listing inside the same operation
            uow.requests.save(mine.model_copy(update={"metadata": {"mine": 1}}))
        with OhfUnitOfWork(store) as check:
            assert check.requests.find_by_id(str(a.request_id)).metadata == {"other": 1}
    finally:
        store.close()


# 14. sync API: after a save's conflict, commit writes the rest on memory/SQL, nothing on DynamoDB


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///:memory:"])
def test_a_unit_whose_save_conflicted_writes_nothing_like_dynamodb(url: str) -> None:
    """Class: sync API / silent divergence between backends (README "Conflicts surface at
    save or at commit. Memory and SQL raise ConcurrencyConflict from the save ...; DynamoDB
    ... from commit(). Either way nothing of the unit of work is written."; DESIGN.md
    "results, error types and stored state must stay identical"). File:
    ohf_persistence/repository.py (a unit of work whose staged save raised
    ConcurrencyConflict stays committable).

    Scenario: ``with store.unit_of_work() as u: u.templates.save(B); u.templates.save(stale
    A)`` -> ConcurrencyConflict, caught; ``u.commit()``.
    Now: nothing of the unit is written (commit raises, or writes nothing), as on
    DynamoDB, where the same code ends with commit raising ConcurrencyConflict and B absent.
    Before the fix on memory, SQLite and PostgreSQL: commit succeeds and B is stored. Through ORB
    (OhfUnitOfWork) the same happens: ORB's ``with`` block exits cleanly with B written and A
    not: a partial unit."""
    from ohf_persistence import ConcurrencyConflict, Template

    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    try:
        store.templates.save(Template("a"))
        stale = store.templates.get_by_id("a")
        fresh = store.templates.get_by_id("a")
        assert stale is not None and fresh is not None
        fresh.name = "theirs"
        store.templates.save(fresh)
        try:
            with store.unit_of_work() as unit:
                unit.templates.save(Template("b"))
                stale.name = "mine"
                with pytest.raises(ConcurrencyConflict):
                    unit.templates.save(stale)
                unit.commit()
        except ConcurrencyConflict:
            pass  # refusing the commit is fine too
        assert store.templates.get_by_id("b") is None
    finally:
        store.close()


# 15. A refused `ohf-persistence import` still creates (and migrates) a new SQLite database ----


@pytest.mark.parametrize(
    "content", [pytest.param(None, id="input-missing"), pytest.param("{", id="input-truncated")]
)
def test_a_refused_import_creates_no_database(
    tmp_path: Path, content: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Class: files created where they should not be (docs/orb.md step 2, `ohf-persistence
    import <work_dir>/data/request_database.json --url …`). File:
    ohf_persistence/cli/data_cmds.py (import_ opens the target with migrate=True for a new
    SQLite file before the input file is even read).

    Now: an import refused because its input is missing or unreadable exits 1 with
    nothing created (the message says "nothing was written"; `check`, `stats`, `export`
    already say "nothing was created" for a missing SQLite file).
    Before the fix: exit 1, and a new, migrated, empty SQLite database is left at the --url path
    (e.g. a typo'd path, or the path ORB is about to be pointed at)."""
    source = tmp_path / "request_database.json"
    if content is not None:
        source.write_text(content)
    target = tmp_path / "new" / "ohf.db"
    target.parent.mkdir()
    code = ohf_cli(["import", str(source), "--url", f"sqlite+aiosqlite:///{target}"])
    assert code == 1, capsys.readouterr().err
    assert not target.exists()
