"""Alembic from code: ``migrate``, ``downgrade``, ``current``, ``check``, ``history``.

The revisions live in ``migrations/`` at the repository root and are copied into the wheel as
``ohf_persistence/_alembic/migrations``; both places are found. Every command runs on a
connection handed to ``env.py`` through ``config.attributes["connection"]`` inside this
process's event loop (no nested ``asyncio.run``), or, for the sync API's direct SQLite
databases, on a synchronous connection in the caller's thread (``Database.run_sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...config import StoreConfig, mask_url
from ...domain.errors import (
    ForeignTables,
    PersistenceError,
    SchemaNewerThanCode,
    SchemaOutOfDate,
    ValidationError,
)
from .engine import Database
from .models import include_object_for, metadata

T = TypeVar("T")
# pg_advisory_xact_lock key ("ohfmigr" in ASCII): concurrent migrations of one PostgreSQL
# database wait for each other instead of racing on CREATE TABLE / CREATE TYPE.
MIGRATION_LOCK = 0x6F68666D696772
_PACKAGE = Path(__file__).resolve().parents[2]  # .../ohf_persistence


def script_location() -> Path:
    """The Alembic scripts: inside the installed package, else the source checkout's root."""
    for candidate in (_PACKAGE / "_alembic" / "migrations", _PACKAGE.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise PersistenceError(
        f"the Alembic migrations are missing (looked in {_PACKAGE / '_alembic'} and "
        f"{_PACKAGE.parent}); reinstall ohf-persistence"
    )


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    return _scripts().get_current_head()


# Every object in the target schema, as (name, kind): one namespace per dialect. PostgreSQL's
# types count too (CREATE TABLE also creates a row type of the table's name).
_OBJECTS = {
    "sqlite": "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view', 'index')",
    "postgresql": """
        SELECT c.relname, CASE c.relkind WHEN 'i' THEN 'index' WHEN 'v' THEN 'view'
            WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'c' THEN 'type'
            ELSE 'table' END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema()
        UNION ALL
        SELECT t.typname, 'type' FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typtype <> 'c'
    """,
}


def _our_names(dialect: str) -> frozenset[str]:
    """The names our revisions create in the schema's one namespace."""
    names = set()
    for table in metadata.tables.values():
        names.add(table.name)
        names.update(str(index.name) for index in table.indexes)
        if dialect == "postgresql":  # a primary key is an index there, named by its constraint
            names.add(str(table.primary_key.name))
    return frozenset(names)


def foreign_objects(rows: Any, dialect: str) -> list[str]:
    """``rows`` of ``_OBJECTS`` that collide with our names, as "machines (table)"."""
    ours = _our_names(dialect)
    return sorted({f"{name} ({kind})" for name, kind in rows if name in ours})


def _refuse_foreign(conn: Connection, where: str) -> None:
    """Raise ForeignTables if a database without our schema revision holds our names."""
    dialect = conn.dialect.name
    found = foreign_objects(conn.execute(text(_OBJECTS[dialect])).all(), dialect)
    if found:
        raise ForeignTables(where, found)


def lock_for_migration(conn: Connection) -> None:
    """Serialise schema changes on PostgreSQL for the rest of this transaction (SQLite's
    write lock already does). Called by env.py too, so ``alembic upgrade`` takes it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


@lru_cache(maxsize=1)
def known_revisions() -> tuple[str, ...]:
    """This package's revisions, oldest first."""
    return tuple(script.revision for script in reversed(list(_scripts().walk_revisions())))


def newer_than_code(found: str | None, where: str) -> SchemaNewerThanCode | None:
    """The error for a database at a revision this package does not know (None otherwise)."""
    if found is None or found in known_revisions():
        return None
    return SchemaNewerThanCode(
        f"{where} is at schema revision {found}, which this ohf-persistence does not know "
        f"(its newest is {head_revision()}): the database was migrated by a newer version; "
        "upgrade ohf-persistence to use it (read-only commands such as export still work "
        "while the tables are readable)",
        revision=found,
    )


# Alembic keeps the running migration in module globals (``alembic.context``), so one
# migration at a time per process. ``run_sync`` lets another task of the same loop start while
# one waits on the database, so async migrations queue on a lock of their loop first; then all
# of them (every loop's, and direct ones, which run in the caller's thread and never suspend)
# take the process's lock. An async one polls for it rather than block its loop.
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
_PROCESS_LOCK = threading.Lock()
_DIRECT_WAIT = 60.0  # seconds a direct migration waits for another one before giving up


def _loop_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


@contextlib.asynccontextmanager
async def _one_migration(db: Database) -> AsyncIterator[None]:
    if db.direct:
        # Never an asyncio lock here: a direct call may come from inside someone else's
        # running loop, where waiting on a future would suspend. A timeout, not a hang, if a
        # migration suspended on this very thread's loop holds the lock.
        if not _PROCESS_LOCK.acquire(timeout=_DIRECT_WAIT):
            raise PersistenceError(
                f"another migration in this process ran for over {_DIRECT_WAIT:g} s; try again"
            )
        try:
            yield
        finally:
            _PROCESS_LOCK.release()
        return
    async with _loop_lock():
        # Polled: a thread lock cannot be awaited, and acquiring it in a worker thread would
        # leave it held forever if this task were cancelled meanwhile.
        while not _PROCESS_LOCK.acquire(blocking=False):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            _PROCESS_LOCK.release()


async def _run(db: Database, work: Callable[[Connection], T]) -> T:
    try:
        async with _one_migration(db):
            return await db.run_sync(work)
    except CommandError as exc:
        raise ValidationError(f"migration refused: {exc}", field="revision") from exc


async def _with_db(config: StoreConfig, work: Callable[[Connection], T]) -> T:
    db = Database(config)
    try:
        return await _run(db, work)
    finally:
        await db.close()


async def upgrade_db(db: Database, revision: str = "head") -> None:
    where = f"{db.backend} at {db.errors.url}"
    await _run(db, lambda conn: _step(conn, "upgrade", revision, where))


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _position(revision: str | None) -> int:
    return 0 if revision is None else known_revisions().index(revision) + 1


def _target(revision: str) -> tuple[bool, str | None]:
    """(True, the revision id ``revision`` names — None for base), or (False, None) when it is
    relative (``+1``, ``-1``) or unknown: then Alembic decides."""
    try:
        script = _scripts().get_revision(revision)
    except Exception:  # Alembic raises several error types for relative or unknown names
        return False, None
    return True, None if script is None else script.revision


def _step(
    conn: Connection, direction: str, revision: str, where: str
) -> tuple[str | None, str | None]:
    """One upgrade or downgrade, under the migration lock; returns (before, after) as read
    inside the same transaction, so what is reported is what happened."""
    lock_for_migration(conn)
    before = _current(conn)
    if (newer := newer_than_code(before, where)) is not None:
        raise newer
    if before is None and direction == "upgrade":
        _refuse_foreign(conn, where)  # before any DDL: CREATE TABLE would fail half-way
    resolved, target = _target(revision)
    if resolved:
        ahead = _position(target) > _position(before)
        behind = _position(target) < _position(before)
        if direction == "upgrade" and behind:
            raise ValidationError(
                f"migrate refused: {where} is at {before}, and {revision} is older; migrate "
                f"only goes forward (use `ohf-persistence downgrade --revision {revision}`)",
                field="revision",
            )
        if direction == "downgrade" and ahead:
            raise ValidationError(
                f"downgrade refused: {where} is at {before or 'base (no schema)'}, and "
                f"{revision} is newer; downgrade only goes back (use `ohf-persistence migrate`)",
                field="revision",
            )
    run = command.upgrade if direction == "upgrade" else command.downgrade
    run(alembic_config(conn), revision)
    return before, _current(conn)


async def verify_head(db: Database) -> None:
    """Raise SchemaOutOfDate unless the database is at this code's head revision
    (SchemaNewerThanCode when a newer package migrated it)."""
    head = head_revision()
    try:
        rows = await db.fetch(text("SELECT version_num FROM alembic_version"))
    except SchemaOutOfDate as exc:
        # "run migrate" would be wrong advice if the tables there are someone else's
        where = f"{db.backend} at {db.errors.url}"
        found = foreign_objects(await db.fetch(text(_OBJECTS[db.backend])), db.backend)
        if found:
            raise ForeignTables(where, found) from exc
        raise SchemaOutOfDate(
            f"{db.backend} at {db.errors.url} has no ohf_persistence schema (expected revision "
            f"{head}); {db.errors.migrate_hint()}"
        ) from exc
    found = sorted(str(row[0]) for row in rows)
    if found == [head]:  # the usual case, decided without walking the revisions
        return
    for revision in found:
        if (newer := newer_than_code(revision, f"{db.backend} at {db.errors.url}")) is not None:
            raise newer
    if found != [head]:
        at = ", ".join(found) or "none"
        raise SchemaOutOfDate(
            f"{db.backend} at {db.errors.url} has schema revision {at}, this code needs {head}; "
            f"{db.errors.migrate_hint()}"
        )


async def migrate(config: StoreConfig, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade to ``revision``; returns (revision before, revision after). Refuses to go back
    and refuses a database migrated by a newer package."""
    where = f"{config.backend} at {mask_url(config.url)}"
    return await _with_db(config, lambda conn: _step(conn, "upgrade", revision, where))


async def downgrade(config: StoreConfig, revision: str) -> tuple[str | None, str | None]:
    """Downgrade to ``revision`` (``base`` drops every table); returns (before, after)."""
    where = f"{config.backend} at {mask_url(config.url)}"
    return await _with_db(config, lambda conn: _step(conn, "downgrade", revision, where))


async def current(config: StoreConfig) -> str | None:
    """The schema revision (None: no schema); ForeignTables when there is none but tables
    named like ours are there (so "no schema, run migrate" is not the answer)."""
    where = f"{config.backend} at {mask_url(config.url)}"

    def work(conn: Connection) -> str | None:
        revision = _current(conn)
        if revision is None:
            _refuse_foreign(conn, where)
        return revision

    return await _with_db(config, work)


def _differences(conn: Connection, where: str) -> list[str]:
    found: list[str] = []
    revision, head = _current(conn), head_revision()
    if revision is None:
        # differences from someone else's tables would read as "migrate fixes this"
        _refuse_foreign(conn, where)
    if revision is not None and revision not in known_revisions():
        # a newer package's schema: comparing it with our models would list its additions
        # as differences to remove, which is the wrong advice
        return [
            f"schema revision is {revision}, unknown to this ohf-persistence (head {head}): "
            "the database was migrated by a newer version; upgrade ohf-persistence"
        ]
    if revision != head:
        found.append(f"schema revision is {revision or 'none'}, head is {head}")
    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": True,
            "include_object": include_object_for(conn.dialect.name),
            "target_metadata": metadata,
        },
    )
    for diff in compare_metadata(context, metadata):
        found.append(_describe(diff))
    return found


def _describe(diff: Any) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(item) for item in diff)
    kind, *rest = diff
    names = [getattr(item, "name", None) or str(item) for item in rest if item is not None]
    return f"{kind}: {', '.join(str(n) for n in names[:4])}"


async def check(config: StoreConfig) -> list[str]:
    """Differences between this code's head (revisions and models) and the database."""
    where = f"{config.backend} at {mask_url(config.url)}"
    return await _with_db(config, lambda conn: _differences(conn, where))


async def history(config: StoreConfig | None = None) -> list[str]:
    """Revisions, newest first: ``"<id> (head): <message>"``."""
    lines = []
    for script in _scripts().walk_revisions():
        mark = " (head)" if script.is_head else ""
        doc = (script.doc or "").strip().splitlines()[0] if script.doc else ""
        lines.append(f"{script.revision}{mark}: {doc}")
    return lines


async def open_newer_for_reading(config: StoreConfig, logger: Any = None) -> Any:
    """A store on a database migrated by a newer package, for reading only (``export``
    takes its backup this way). It reads this code's columns; a table the newer schema made
    unreadable fails on the first read, with the driver error translated as usual."""
    from .store import SqlStore

    db = Database(config)
    try:
        rows = await db.fetch(text("SELECT version_num FROM alembic_version"))
        found = [str(row[0]) for row in rows]
        if not any(newer_than_code(r, "") for r in found):
            raise SchemaOutOfDate(f"{config.backend} at {mask_url(config.url)} is not newer")
    except BaseException:
        await db.close()
        raise
    return SqlStore(db, logger)
