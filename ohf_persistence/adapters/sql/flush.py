"""Writing a unit of work's staged rows inside the commit transaction.

Every write carries its own guard, so nothing is read-then-written unguarded:
- new rows: ``INSERT ... ON CONFLICT (key) DO NOTHING`` (RETURNING the keys written for bulk
  inserts); a key not written was taken -> AlreadyExists. DO NOTHING instead of catching the
  unique violation keeps a PostgreSQL transaction usable for the follow-up lookup.
- updates: ``UPDATE ... WHERE key = :k AND version = :expected``; one row checks its row count,
  several rows are first locked and checked with one ``SELECT ... FOR UPDATE`` (SQLite already
  holds the database write lock from ``BEGIN IMMEDIATE``) and then written with executemany,
  because asyncpg reports no per-row counts for executemany.
The first failure in staging order is raised, like the memory reference; the caller's
transaction then rolls back, so nothing of the unit is written.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from ...domain import AlreadyExists, ConcurrencyConflict, PersistenceError
from ...staging import ANY_VERSION, Staged
from .statements import KEY_CHUNK, Codec, chunks


async def flush(conn: AsyncConnection, codec: Codec[Any], staged: Staged) -> None:
    if len(staged) == 1:
        key, (expected, row) = next(iter(staged.items()))
        await _flush_one(conn, codec, key, expected, row)
        return
    etype = codec.entity.ENTITY_TYPE
    failures: dict[str, PersistenceError] = {}
    checked = {k: e for k, (e, _row) in staged.items() if e is not None and e != ANY_VERSION}
    absent = [k for k, (e, row) in staged.items() if e is None and row is None]
    if checked or absent:
        actual: dict[str, int] = {}
        lock = codec.dialect == "postgresql"
        for chunk in chunks([*checked, *absent], KEY_CHUNK):
            result = await conn.execute(codec.versions_of(chunk, lock))
            actual.update({key: version for key, version in result.all()})
        for key, expected in checked.items():
            if actual.get(key) != expected:
                failures[key] = ConcurrencyConflict(etype, key, expected, actual.get(key))
        for key in absent:
            if key in actual:
                failures[key] = AlreadyExists(etype, key, actual[key])
    inserts = [row for _k, (e, row) in staged.items() if e is None and row is not None]
    for chunk in chunks(inserts, codec.rows_per_insert):
        result = await conn.execute(codec.insert_new_returning, [codec.params(r) for r in chunk])
        written = set(result.scalars().all())
        for row in chunk:
            key = row[codec.entity.KEY]
            if key not in written:
                failures[key] = AlreadyExists(etype, key, await _version(conn, codec, key))
    if failures:
        position = {key: index for index, key in enumerate(staged)}
        raise failures[min(failures, key=position.__getitem__)]
    updates = [
        codec.update_params(row, e)
        for _k, (e, row) in staged.items()
        if e is not None and e != ANY_VERSION and row is not None
    ]
    if updates:
        result = await conn.execute(codec.update_versioned, updates)
        if codec.dialect == "sqlite" and result.rowcount != len(updates):
            raise ConcurrencyConflict(etype, "", None, None, f"{etype}: rows changed during commit")
    deletes = [k for k, (_e, row) in staged.items() if row is None and k not in absent]
    for chunk in chunks(deletes, KEY_CHUNK):
        await conn.execute(codec.delete_keys, {"keys": list(chunk)})
    upserts = [codec.params(row) for _k, (e, row) in staged.items() if e == ANY_VERSION and row]
    if upserts:
        await conn.execute(codec.upsert, upserts)


async def _version(conn: AsyncConnection, codec: Codec[Any], key: str) -> int | None:
    version: int | None = (await conn.execute(codec.version_of, {"k": key})).scalar()
    return version


async def _flush_one(
    conn: AsyncConnection,
    codec: Codec[Any],
    key: str,
    expected: int | None,
    row: dict[str, Any] | None,
) -> None:
    etype = codec.entity.ENTITY_TYPE
    if expected == ANY_VERSION:
        if row is None:
            await conn.execute(codec.delete_one, {"k": key})
        else:
            await conn.execute(codec.upsert, codec.params(row))
    elif expected is None:
        if row is None:
            version = await _version(conn, codec, key)
            if version is not None:
                raise AlreadyExists(etype, key, version)
        elif (await conn.execute(codec.insert_new, codec.params(row))).rowcount != 1:
            raise AlreadyExists(etype, key, await _version(conn, codec, key))
    elif row is None:
        statement = delete(codec.table).where(codec.key == key, codec.version == expected)
        if (await conn.execute(statement)).rowcount != 1:
            raise ConcurrencyConflict(etype, key, expected, await _version(conn, codec, key))
    elif (
        await conn.execute(codec.update_versioned, codec.update_params(row, expected))
    ).rowcount != 1:
        raise ConcurrencyConflict(etype, key, expected, await _version(conn, codec, key))
