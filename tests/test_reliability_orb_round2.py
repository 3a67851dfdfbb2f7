"""The ORB storage type ``ohf``, second hostile pass (after the fixes of
test_reliability_orb.py): each test was written as a reproduction of a defect (its docstring
says what happens now and what happened before the fix) and closes the class it names
(docs/reliability.md, section 13).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("orb", reason="needs orb-py (the orb extra)")

from orb.domain.base.exceptions import ConfigurationError

from ohf_persistence import sync
from ohf_persistence.cli import main as ohf_cli
from ohf_persistence.config import ConfigError
from ohf_persistence.orb import registration
from tests.orb_support import default_db, orb_manager

# 1. A "?" in a SQLite path: the rest of the path is dropped silently, another file is opened --


@pytest.mark.parametrize(
    "tail",
    [pytest.param("q?x/ohf.db", id="folder-with-question-mark"), pytest.param("q?x", id="bare")],
)
def test_orb_sqlite_url_with_a_question_mark_never_opens_another_file(
    orb_env: Path, tail: str
) -> None:
    """Class: odd SQLite paths / malformed ``ohf.url`` (unknown SQLite URL options). File:
    ohf_persistence/config.py (the SQLite option check reads SQLAlchemy's
    ``make_url(url).query``, which silently DROPS an option without "=", so ``?x/ohf.db`` is
    neither refused like ``?timeout=3`` nor kept in the path); sqlite_file / the engine then
    use the path cut at "?".

    Now (docs/orb.md Configure: "a malformed URL ... is ORB's ConfigurationError saying
    why"; the fixed ``?timeout=3`` case is refused): ORB's ConfigurationError (or the file
    ``<tmp>/q?x/ohf.db``), never a different database.
    Before the fix: ORB runs on a NEW SQLite database created at ``<tmp>/q`` (a file, plus q-wal and
    q-shm), no error; the data goes to a file nobody configured (and had ``<tmp>/q`` been
    another installation's store, ORB would silently use it)."""
    url = f"sqlite+aiosqlite:///{orb_env}/{tail}"
    try:
        uow = registration.create_unit_of_work(
            orb_manager({"strategy": "ohf", "ohf": {"url": url}})
        )
        with uow:
            uow.templates.find_all()
    except ConfigurationError:
        pass
    assert not (orb_env / "q").is_file(), "a SQLite database was created at <tmp>/q"


def test_sync_open_store_refuses_a_sqlite_option_without_a_value(tmp_path: Path) -> None:
    """Class: malformed store URLs (same root cause as above, outside ORB). File:
    ohf_persistence/config.py (option check on ``make_url(url).query``, which drops
    ``?name`` with no ``=``).

    Now: ``sync.open_store("sqlite+aiosqlite:///<tmp>/q?x", migrate=True)`` raises
    ConfigError "unknown sqlite URL option 'x'", as it does for ``?x=1``.
    Before the fix: opens and migrates a database at ``<tmp>/q``. (``ohf-persistence check --url
    'sqlite+aiosqlite:////tmp/zz?x/o.db'`` likewise says "no SQLite database at /tmp/zz".)"""
    with pytest.raises(ConfigError):
        sync.open_store(f"sqlite+aiosqlite:///{tmp_path}/q?x", migrate=True).close()
    assert not (tmp_path / "q").exists()


# 2. A NUL byte in a SQLite path: a builtin ValueError reaches ORB ------------------------------


def test_orb_sqlite_url_with_an_escaped_nul_is_orbs_configuration_error(orb_env: Path) -> None:
    """Class: malformed ``ohf.url`` / odd SQLite paths (the class of the fixed
    "folder that cannot be created" and "bad URL" defects). File:
    ohf_persistence/orb/registration.py (_open translates OSError from ``path.parent.mkdir``
    and PersistenceError, but ``mkdir`` of a path holding NUL raises ValueError).

    Expected (docs/orb.md Errors: "A store that cannot be opened at all (a malformed ``ohf``
    section or URL, a folder that cannot be created ...) is ORB's ConfigurationError naming
    the URL"): ConfigurationError "ORB storage 'ohf': ...".
    Before the fix: builtins.ValueError "embedded null byte" (no URL, no "ohf" in the message; ORB's
    CLI reports it as an unexpected/validation error)."""
    url = f"sqlite+aiosqlite:///{orb_env}/a%00b/ohf.db"
    with pytest.raises(ConfigurationError, match="ORB storage 'ohf'"):
        registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))


# 3. An empty `ohf` section silently falls back to the default store ----------------------------


def test_empty_ohf_section_is_not_silently_replaced_by_the_default_store(orb_env: Path) -> None:
    """Class: malformed ``ohf`` config section (the fixed class: typo ``ulr``, a string, an
    empty url). File: ohf_persistence/orb/registration.py (_configured_url returns None for
    ``{}``, "no url key", so resolution falls through to $OHF_STORAGE_URL or
    ``<work_dir>/data/ohf.db``).

    Now: ``{"strategy": "ohf", "ohf": {}}`` -- a section that is there but names no URL
    (e.g. the url line deleted or commented out of config.json) -- is ORB's
    ConfigurationError, like ``{"url": ""}`` is (docs/orb.md: "An ohf section that is there
    but malformed ... is ORB's ConfigurationError ..., never a fall-back to the next source").
    Before the fix: ORB silently creates and runs on ``<work_dir>/data/ohf.db``. (Low severity: the
    docs' list of malformed forms does not name ``{}``; either refuse it or document it.)"""
    try:
        uow = registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {}}))
        with uow:
            uow.templates.find_all()
    except ConfigurationError:
        pass
    assert not default_db(orb_env).exists()


# 4. save_batch outside a unit of rows this process never saw: one full batch write per row ------


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///:memory:"])
def test_orb_save_batch_of_existing_rows_is_not_one_batch_write_per_row(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class: save_batch / upserts outside a unit of work (ORB's repositories from
    RepositoryFactory, ``MachineRepositoryImpl.save_batch``, the strategy used directly).
    File: ohf_persistence/orb/session.py (``stage``: a batch whose rows' versions are not in
    this process's ``known_versions`` cache is sent with guess 0; each failed attempt learns
    the version of ONE row from the ConcurrencyConflict and re-sends the WHOLE batch, up to
    ``len(entities) + 5`` times).

    Host Factory runs ORB as one short process per call, so the cache is always empty at
    start: re-saving N rows another process (or ``ohf-persistence import``) wrote costs N+1
    all-or-nothing batch writes of N rows -- O(N^2). Measured on a SQLite file: 50 rows
    0.15 s, 200 rows 2.4 s, 600 rows 33 s; on DynamoDB (moto) 150 rows ran 57 s and then
    failed with ORB's ConnectionError "save batch machines: DynamoDB TransactWriteItems got
    no answer within 4 s" (nothing of it an actual outage).
    Now: a small constant number of batch writes (e.g. read the versions of the rows
    that conflicted, or of all rows, once), as inside a unit (stored_versions).
    Before the fix: 201 ``save_many`` calls for 200 rows."""
    import copy
    import json

    from ohf_persistence.orb import session as session_module
    from ohf_persistence.orb.session import Session
    from ohf_persistence.orb.strategy import OhfStorageStrategy
    from tests.test_interop_support import FIXTURE_FILE

    first = next(iter(json.loads(Path(FIXTURE_FILE).read_text())["machines"].values()))
    records = {}
    for i in range(200):
        record = copy.deepcopy(first)
        record["machine_id"] = f"i-{i:017x}"
        records[record["machine_id"]] = record
    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    try:
        OhfStorageStrategy(Session(store), "machines").save_batch(copy.deepcopy(records))
        # A new ORB process: nothing known about the stored versions.
        session_module._known_versions.clear()
        calls = {"save_many": 0}
        real_repo_for = session_module.repo_for

        def counting_repo_for(target: Any, cls: Any) -> Any:
            repo = real_repo_for(target, cls)
            original = repo.save_many

            async def save_many(entities: Any) -> Any:
                calls["save_many"] += 1
                return await original(entities)

            repo.save_many = save_many
            return repo

        monkeypatch.setattr(session_module, "repo_for", counting_repo_for)
        OhfStorageStrategy(Session(store), "machines").save_batch(copy.deepcopy(records))
        assert calls["save_many"] <= 5, f"{calls['save_many']} batch writes for 200 rows"
    finally:
        store.close()


# 5. An upsert-only ORB unit is refused when another writer moves the row meanwhile --------------


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///FILE"])
def test_an_orb_unit_of_upserts_racing_another_writer_fails_alike_and_its_retry_commits(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class: unit-of-work semantics for ORB upserts (ORB's machine_sync_service "Persist
    changes": ``with uow: for m in to_upsert: uow.machines.save(m)``, rows read in an earlier
    unit). File: ohf_persistence/orb/session.py, repository.py.

    Scenario: the unit saves machine 1 (stored, not read in this unit) and machine 2 (new);
    another Host Factory process updates machine 1 after our unit read its stored version and
    before our write (forced by wrapping ``stored_versions``; on DynamoDB the window is the
    whole time until commit).
    Now, on every backend alike (docs/orb.md, "No lost updates"): ORB's ConcurrencyError at
    the end of the block, nothing of the unit written, the other process's change kept; ORB's
    retry of the same unit commits both machines.
    Before the fix: the first fix of this pass (a save's conflict spoils the unit) made the
    commit raise on memory/SQL while the retry inside the unit had "succeeded"; a first answer
    (un-spoiling on a re-save) made DynamoDB disagree with memory/SQL (hostile pass 3)."""
    import asyncio

    from orb.domain.base.exceptions import ConcurrencyError

    from ohf_persistence.orb import session as session_module
    from ohf_persistence.orb.unit_of_work import OhfUnitOfWork
    from tests.orb_support import SERIALIZERS, sample

    url = url.replace("FILE", str(tmp_path / "race.db"))
    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    other = store if url.startswith("memory") else sync.open_store(url)
    serializer = SERIALIZERS["machines"]
    first = sample()["machines"][0]

    def machine(i: int, **changes: Any) -> Any:
        record = serializer.to_dict(first)
        record.update({"machine_id": f"i-race{i}", **changes})
        return serializer.from_dict(record)

    try:
        with OhfUnitOfWork(store) as setup:
            setup.machines.save(machine(1))
        real = session_module.stored_versions
        fired: list[int] = []

        async def racing(unit: Any, cls: Any, entities: Any, versions: Any) -> Any:
            found = await real(unit, cls, entities, versions)
            if not fired:
                fired.append(1)

                def other_process() -> None:  # another Host Factory call updates machine 1
                    theirs = other.machines.get_by_id("i-race1")
                    assert theirs is not None
                    theirs.metadata = {"other": 1}
                    other.machines.save(theirs)

                if url.startswith("sqlite"):
                    other_process()
                else:
                    await asyncio.to_thread(other_process)
            return found

        monkeypatch.setattr(session_module, "stored_versions", racing)
        with pytest.raises(ConcurrencyError), OhfUnitOfWork(store) as uow:  # upserts only
            uow.machines.save(machine(1, metadata={"sync": 1}))
            uow.machines.save(machine(2))
        assert fired
        with OhfUnitOfWork(store) as check:
            strategy = check.machines.storage_strategy
            assert strategy.find_by_id("i-race2") is None  # nothing of the unit written
            assert strategy.find_by_id("i-race1")["metadata"] == {"other": 1}
        with OhfUnitOfWork(store) as retry:  # what ORB does on ConcurrencyError
            retry.machines.save(machine(1, metadata={"sync": 1}))
            retry.machines.save(machine(2))
        with OhfUnitOfWork(store) as check:
            strategy = check.machines.storage_strategy
            assert strategy.find_by_id("i-race2") is not None
            assert strategy.find_by_id("i-race1")["metadata"] == {"sync": 1}
    finally:
        if other is not store:
            other.close()
        store.close()


# 6. ORB files ORB reads as no data: `null` and `[]` are refused by the import --------------------


@pytest.mark.parametrize("content", ["null", "[]", " null \n"])
def test_import_of_an_orb_file_orb_reads_as_no_data_imports_nothing(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Class: odd ORB files ORB reads as empty (the class of the fixed empty/blank file).
    File: ohf_persistence/interop/sources.py (OrbSource._load: after the empty/blank check,
    anything that is not an object is refused).

    ORB 1.8.5's JSON storage reads ``null`` and ``[]`` as no data
    (``JSONStorageStrategy.find_all()`` -> ``{}``), so ORB runs on such an installation.
    Now (docs/orb.md step 2, and the fix's own rule "an ORB file ORB reads as no data
    imports nothing"): exit 0, nothing imported.
    Before the fix: exit 1, "ORB storage is a JSON object with sections ...": the documented
    migration stops. (Low severity: ORB itself never writes these.)"""
    source = tmp_path / "request_database.json"
    source.write_text(content)
    code = ohf_cli(["import", str(source), "--url", f"sqlite+aiosqlite:///{tmp_path / 'ohf.db'}"])
    assert code == 0, capsys.readouterr().err


# 7. A DynamoDB URL with credentials before "?": the secret is in ORB's ConfigurationError ------


@pytest.mark.parametrize(
    "url",
    [
        "dynamodb://AKIAEXAMPLE:s3cretKEY@dynamodb.us-east-1.amazonaws.com?region=us-east-1",
        "dynamodb://u:s3cretKEY@localhost:8000",
    ],
)
def test_orb_error_for_a_dynamodb_url_with_a_host_masks_its_password(
    orb_env: Path, url: str
) -> None:
    """Class: secrets in messages (docs/orb.md Configure: "Our messages and log lines mask the
    password of the URL"; Errors: "ORB's ConfigurationError naming the URL, password
    masked"). File: ohf_persistence/config.py (_dynamodb_options puts the raw text between
    ``dynamodb://`` and ``?`` -- userinfo included -- in the ConfigError:
    ``a DynamoDB URL has no host or path ('u:s3cretKEY@localhost:8000' in ...)``);
    ohf_persistence/orb/registration.py passes ``str(exc)`` on to ORB unmasked (the
    ``ohf-persistence`` CLI happens to mask it: its output shows ``u:***@``).

    Now: the password appears nowhere in ORB's ConfigurationError (which ORB's CLI prints
    and logs to orb.log).
    Before the fix: ``ORB storage 'ohf': cannot open dynamodb://u:***@localhost:8000: a DynamoDB URL
    has no host or path ('u:s3cretKEY@localhost:8000' in ...)``."""
    with pytest.raises(ConfigurationError) as caught:
        registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))
    assert "s3cretKEY" not in str(caught.value)


def test_sync_open_store_error_for_a_dynamodb_url_with_a_host_masks_its_password() -> None:
    """Class: secrets in messages (library API; README says errors mask the URL's password).
    File: ohf_persistence/config.py (_dynamodb_options, as above).

    Now: ConfigError whose text has no password. Actual: the text holds
    ``'u:s3cretKEY@localhost:8000'``."""
    with pytest.raises(ConfigError) as caught:
        sync.open_store("dynamodb://u:s3cretKEY@localhost:8000")
    assert "s3cretKEY" not in str(caught.value)


# 8. A store at a NEWER schema revision: ORB is told to run `migrate`, which cannot help ----------


def test_orb_on_a_store_newer_than_this_package_does_not_say_run_migrate(
    orb_env: Path,
) -> None:
    """Class: store that cannot be opened / actionable errors (docs/orb.md Errors: "... not
    migrated) is ORB's ConfigurationError ... (and ``ohf-persistence migrate`` when that is
    the fix)"). File: ohf_persistence/orb/registration.py (_open maps every SchemaOutOfDate to
    "is not migrated; run `ohf-persistence migrate --url ...` first", including a store whose
    revision is NEWER than this package knows).

    Scenario: a SQLite store migrated by a newer ohf-persistence (revision '9999'), opened by
    ORB on this one (e.g. one host upgraded, the other not).
    Now: ConfigurationError saying the store is newer than this ohf-persistence (upgrade
    the package), not advising ``migrate``.
    Before the fix: "ORB storage 'ohf': the store at … is not migrated; run `ohf-persistence migrate
    --url '…'` first (… is at schema revision 9999, which this ohf-persistence does not know
    …)": the first half is false and the advised command cannot fix it."""
    import sqlite3

    path = orb_env / "newer.db"
    url = f"sqlite+aiosqlite:///{path}"
    assert ohf_cli(["migrate", "--url", url]) == 0
    with sqlite3.connect(path) as db:
        db.execute("update alembic_version set version_num = '9999'")
    with pytest.raises(ConfigurationError) as caught:
        registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))
    text = str(caught.value)
    assert "9999" in text
    assert "not migrated" not in text and "run `ohf-persistence migrate" not in text, text


# 9. A row read in a read-only ORB unit and saved in the next: two writes, not one ---------------


@pytest.mark.parametrize("url", ["memory://", "sqlite+aiosqlite:///:memory:"])
def test_a_single_save_after_a_read_in_an_earlier_unit_is_one_write(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class: cost of ORB's usual flow (docs/orb.md "One store per process": "An ORB unit of
    work that only reads, or writes one row, costs no extra call ... a unit holding a single
    write commits it as one conditional statement"). File: ohf_persistence/orb/session.py
    (Session.commit returns early for a unit that holds no write, before
    ``known_versions(self.store).update(versions)``; strategy._seen records reads inside a
    unit only in the session, not in the process cache that upserts guess from). Not new with
    the fixes (7b631ca behaves the same).

    Scenario (ORB's request_status_service / machine_sync_service: read in one unit, save in
    another; Host Factory: a fresh process per call): unit 1 reads request R; unit 2 saves R
    back (an upsert: R was not read in unit 2).
    Now: one write. Actual: two ``save`` attempts (the first guesses version 0, meets the
    stored row, and is sent again) -- measured the same on memory, SQLite, PostgreSQL and
    DynamoDB (moto): a wasted conditional write per such save."""
    from ohf_persistence.orb import session as session_module
    from ohf_persistence.orb.unit_of_work import OhfUnitOfWork
    from tests.orb_support import sample

    store = sync.open_store(url, migrate=url.startswith("sqlite"))
    try:
        first = sample()["requests"][0]
        with OhfUnitOfWork(store) as setup:
            setup.requests.save(first)
        session_module._known_versions.clear()  # a new Host Factory process
        key = str(first.request_id.value)
        with OhfUnitOfWork(store) as reading:
            record = reading.requests.storage_strategy.find_by_id(key)
        saves: list[str] = []
        real_repo_for = session_module.repo_for

        def counting_repo_for(target: Any, cls: Any) -> Any:
            repo = real_repo_for(target, cls)
            original = repo.save

            async def save(entity: Any) -> Any:
                saves.append(entity.key)
                return await original(entity)

            repo.save = save
            return repo

        monkeypatch.setattr(session_module, "repo_for", counting_repo_for)
        record["status_message"] = "checked"
        with OhfUnitOfWork(store) as saving:
            saving.requests.storage_strategy.save(key, record)
        assert len(saves) == 1, f"{len(saves)} writes for one saved row"
    finally:
        store.close()


# 10. delete_batch outside a unit on DynamoDB: more than 100 ids are refused, nothing deleted -----


def test_orb_delete_batch_outside_a_unit_of_more_than_100_ids_works_on_dynamodb(
    dynamodb_url_factory: Any,
) -> None:
    """Class: save_batch / delete_batch outside a unit of work on DynamoDB. File:
    ohf_persistence/orb/strategy.py (delete_batch's autocommit path commits ONE of our units
    holding every delete; it has no TransactionTooLarge fallback -- Session.commit has one
    (chunked.commit_in_chunks) and save_batch outside a unit uses save_many, atomic per 100).

    Now (docs/orb.md "Batches": "Outside a unit of work, a batch is all or nothing on
    SQL and memory, atomic per 100 items on DynamoDB"): the 150 machines are deleted (in
    atomic chunks), as ``save_batch`` of the same 150 just stored them.
    Before the fix: ORB's TransactionError "delete machines: a DynamoDB transaction holds at
    most 100 writes; this unit of work has 150 (commit smaller units)"; nothing deleted. (ORB's
    repositories' ``delete_batch`` and ``StrategyAdapter.delete_batch`` call this outside a
    unit; the same ids delete fine on SQLite, PostgreSQL and memory: backends diverge.)"""
    import copy
    import json

    from ohf_persistence.orb.session import Session
    from ohf_persistence.orb.strategy import OhfStorageStrategy
    from tests.test_interop_support import FIXTURE_FILE

    url = sync.run(dynamodb_url_factory())
    first = next(iter(json.loads(Path(FIXTURE_FILE).read_text())["machines"].values()))
    records = {}
    for i in range(150):
        record = copy.deepcopy(first)
        record["machine_id"] = f"i-{i:017x}"
        records[record["machine_id"]] = record
    store = sync.open_store(url)
    try:
        strategy = OhfStorageStrategy(Session(store), "machines")
        strategy.save_batch(copy.deepcopy(records))  # atomic per 100: works
        assert strategy.count() == 150
        strategy.delete_batch(list(records))
        assert strategy.count() == 0
    finally:
        store.close()


def test_orb_sqlite_url_through_a_symlink_creates_the_target_folder(orb_env: Path) -> None:
    """Class: SQLite paths (parent folders created). Now: a URL naming a symlink whose target
    is in a missing folder gets that folder created and the file opened there, the link
    kept. Before: the link's own folder was "created" (it existed) and SQLite failed with
    "unable to open database file"."""
    link = orb_env / "link.db"
    link.symlink_to(orb_env / "elsewhere" / "deeper" / "ohf.db")
    url = f"sqlite+aiosqlite:///{link}"
    uow = registration.create_unit_of_work(orb_manager({"strategy": "ohf", "ohf": {"url": url}}))
    with uow:
        uow.templates.find_all()
    assert link.is_symlink() and (orb_env / "elsewhere" / "deeper" / "ohf.db").is_file()
