"""Alembic from code: ``migrate``, ``downgrade``, ``current``, ``check``, ``history``.

The revisions live in ``migrations/`` at the repository root and are copied into the wheel as
``ohf_persistence/_alembic/migrations``; both places are found. Every command runs on a
connection handed to ``env.py`` through ``config.attributes["connection"]`` inside this
process's event loop (no nested ``asyncio.run``).
"""

from __future__ import annotations

from collections.abc import Callable
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

from ...config import StoreConfig
from ...domain.errors import PersistenceError, SchemaOutOfDate, ValidationError
from .engine import Database
from .models import include_object_for, metadata

T = TypeVar("T")
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


async def _run(db: Database, work: Callable[[Connection], T]) -> T:
    try:
        async with db.transaction() as conn:
            return await conn.run_sync(work)
    except CommandError as exc:
        raise ValidationError(f"migration refused: {exc}", field="revision") from exc


async def _with_db(config: StoreConfig, work: Callable[[Connection], T]) -> T:
    db = Database(config)
    try:
        return await _run(db, work)
    finally:
        await db.close()


async def upgrade_db(db: Database, revision: str = "head") -> None:
    await _run(db, lambda conn: command.upgrade(alembic_config(conn), revision))


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def verify_head(db: Database) -> None:
    """Raise SchemaOutOfDate unless the database is at this code's head revision."""
    head = head_revision()
    try:
        rows = await db.fetch(text("SELECT version_num FROM alembic_version"))
    except SchemaOutOfDate as exc:
        raise SchemaOutOfDate(
            f"{db.backend} at {db.errors.url} has no ohf_persistence schema (expected revision "
            f"{head}); {db.errors.migrate_hint()}"
        ) from exc
    found = sorted(str(row[0]) for row in rows)
    if found != [head]:
        at = ", ".join(found) or "none"
        raise SchemaOutOfDate(
            f"{db.backend} at {db.errors.url} has schema revision {at}, this code needs {head}; "
            f"{db.errors.migrate_hint()}"
        )


async def migrate(config: StoreConfig, revision: str = "head") -> None:
    await _with_db(config, lambda conn: command.upgrade(alembic_config(conn), revision))


async def downgrade(config: StoreConfig, revision: str = "-1") -> None:
    await _with_db(config, lambda conn: command.downgrade(alembic_config(conn), revision))


async def current(config: StoreConfig) -> str | None:
    return await _with_db(config, _current)


def _differences(conn: Connection) -> list[str]:
    found: list[str] = []
    revision, head = _current(conn), head_revision()
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
    return await _with_db(config, _differences)


async def history(config: StoreConfig | None = None) -> list[str]:
    """Revisions, newest first: ``"<id> (head): <message>"``."""
    lines = []
    for script in _scripts().walk_revisions():
        mark = " (head)" if script.is_head else ""
        doc = (script.doc or "").strip().splitlines()[0] if script.doc else ""
        lines.append(f"{script.revision}{mark}: {doc}")
    return lines
