"""Alembic environment of ohf_persistence (async SQLAlchemy; SQLite and PostgreSQL).

Two ways in:
- library code (``ohf_persistence.migrate``, the CLI, ``open_store(..., migrate=True)``) hands a
  synchronous connection in ``config.attributes["connection"]`` from inside its own event loop,
  so no nested ``asyncio.run`` happens;
- the ``alembic`` command from the repository root: the URL comes from ``-x url=...``, then
  ``$OHF_STORAGE_URL``, then ``sqlalchemy.url`` in alembic.ini, and this file runs its own loop.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from ohf_persistence.adapters.sql.migrations import lock_for_migration
from ohf_persistence.adapters.sql.models import include_object_for, metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or os.environ.get("OHF_STORAGE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL: pass -x url=..., set OHF_STORAGE_URL or alembic.ini")
    return url


def _configure(**kwargs: object) -> None:
    dialect = kwargs.pop("dialect_name")
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies the table
        compare_type=True,
        include_object=include_object_for(str(dialect)),
        **kwargs,  # type: ignore[arg-type]
    )


def do_run_migrations(connection: Connection) -> None:
    # PostgreSQL: concurrent migrations wait here (an advisory lock held until this
    # transaction ends) instead of racing on CREATE TABLE; the later ones then find the head.
    lock_for_migration(connection)
    _configure(connection=connection, dialect_name=connection.dialect.name)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from ohf_persistence.adapters.sql.engine import Database
    from ohf_persistence.config import resolve_config

    db = Database(resolve_config(url))
    try:
        async with db.transaction() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await db.close()


def run_migrations_offline() -> None:
    from ohf_persistence.config import resolve_config

    url = resolve_config(_url()).url
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        dialect_name=url.split("+")[0].split(":")[0],
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    asyncio.run(_run_async(_url()))


if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
