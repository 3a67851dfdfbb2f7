"""Every guarded write, autocommitted (one statement) or inside a unit of work's transaction.

Each write carries its own guard, so nothing is read-then-written unguarded:
- one new row: ``INSERT ... ON CONFLICT (key) DO NOTHING``; no row written -> AlreadyExists
  (DO NOTHING instead of catching the unique violation keeps a PostgreSQL transaction usable
  for the follow-up lookup);
- one changed or deleted row: ``... WHERE key = :k AND version = :expected``; no row -> conflict;
- a status change: ``UPDATE ... WHERE key = :k AND status IN (allowed sources)``;
- several rows (inside the commit transaction): the stored versions of every staged key are
  read first, row-locked on PostgreSQL (SQLite holds the database write lock since ``BEGIN
  IMMEDIATE``), so the first failure in staging order is raised, like the memory reference,
  before anything is written; then multi-row INSERTs and one executemany per other kind of
  write. A batch of inserts only skips that read: a key taken meanwhile fails the INSERT (the
  transaction is rolled back) and the taken key is looked up for the error; a batch that fits
  one INSERT needs no transaction at all.
A single statement needs no transaction; a failure in a transaction rolls all of it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...domain import (
    AlreadyExists,
    ConcurrencyConflict,
    InvalidStatusTransition,
    MachineStatus,
    Request,
    RequestStatus,
    utcnow,
)
from ...repository import Staged
from ...storage import ANY_VERSION, Row
from .codec import Codec
from .driver import Connection
from .errors import is_unique_violation
from .queries import KEY_CHUNK, Queries, chunks


async def stored_version(conn: Connection, q: Queries[Any], key: str) -> int | None:
    rows = await conn.fetch(q.version_of, {"k": key})
    return int(rows[0][0]) if rows else None


async def stored_versions(
    conn: Connection, q: Queries[Any], keys: Sequence[str], lock: bool = False
) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(keys, KEY_CHUNK):
        compiled, values = q.versions_of(chunk, lock)
        found.update((key, int(version)) for key, version in await conn.fetch(compiled, values))
    return found


async def write_one(
    conn: Connection,
    q: Queries[Any],
    codec: Codec[Any],
    key: str,
    expected: int | None,
    row: Row | None,
) -> None:
    """One staged write as one guarded statement (autocommitted, or in a transaction)."""
    etype = codec.entity.ENTITY_TYPE
    if expected == ANY_VERSION:
        if row is None:
            await conn.execute(q.delete_one, {"k": key})
        else:
            await conn.execute_many(q.upsert_rows, [row])
    elif expected is None:
        if row is None:  # saved then deleted in one unit: only "was it free?" remains
            version = await stored_version(conn, q, key)
            if version is not None:
                raise AlreadyExists(etype, key, version)
        elif await conn.execute(q.insert_new, row) != 1:
            raise AlreadyExists(etype, key, await stored_version(conn, q, key))
    elif row is None:
        guard = {"b_key": key, "b_expected": expected}
        if await conn.execute(q.delete_versioned, guard) != 1:
            raise ConcurrencyConflict(etype, key, expected, await stored_version(conn, q, key))
    elif await conn.execute(q.update_versioned, codec.update_params(row, expected)) != 1:
        raise ConcurrencyConflict(etype, key, expected, await stored_version(conn, q, key))


async def write_batch(conn: Connection, q: Queries[Any], codec: Codec[Any], staged: Staged) -> None:
    """A unit of work's staged rows of one type, inside its commit transaction."""
    if len(staged) == 1:
        key, (expected, row) = next(iter(staged.items()))
        await write_one(conn, q, codec, key, expected, row)
        return
    etype = codec.entity.ENTITY_TYPE
    checked = {k: e for k, (e, _row) in staged.items() if e is not None and e != ANY_VERSION}
    absent = [k for k, (e, row) in staged.items() if e is None and row is None]
    inserts = [row for _k, (e, row) in staged.items() if e is None and row is not None]
    if checked or absent:
        # Inserted keys are checked too, so the first failure in staging order wins.
        wanted = [k for k, (e, _row) in staged.items() if e != ANY_VERSION]
        actual = await stored_versions(conn, q, wanted, lock=not conn.sqlite)
        for key, (expected, _row) in staged.items():
            if expected == ANY_VERSION:
                continue
            if expected is None and key in actual:
                raise AlreadyExists(etype, key, actual[key])
            if expected is not None and actual.get(key) != expected:
                raise ConcurrencyConflict(etype, key, expected, actual.get(key))
    if inserts:
        await insert_rows(conn, q, codec, inserts)
    updates = [
        codec.update_params(row, e)
        for _k, (e, row) in staged.items()
        if e is not None and e != ANY_VERSION and row is not None
    ]
    if updates:
        await conn.execute_many(q.update_rows, updates)
    deletes = [k for k, (_e, row) in staged.items() if row is None and k not in absent]
    for chunk in chunks(deletes, KEY_CHUNK):
        compiled, values = q.delete_keys(chunk)
        await conn.run(compiled, values)
    upserts = [row for _k, (e, row) in staged.items() if e == ANY_VERSION and row]
    if upserts:
        await conn.execute_many(q.upsert_rows, upserts)


async def insert_rows(
    conn: Connection, q: Queries[Any], codec: Codec[Any], rows: Sequence[Row]
) -> None:
    """New rows as multi-row INSERTs (one statement when they fit: atomic on its own, in
    autocommit mode too). A taken key fails the statement: the transaction, if any, is rolled
    back and the first taken key in order is raised as AlreadyExists."""
    try:
        for chunk in chunks(rows, q.rows_per_insert):
            await conn.insert_rows(q.insert_many(len(chunk)), chunk)
    except Exception as exc:
        if not is_unique_violation(exc):
            raise
        await _taken(conn, q, codec.entity.ENTITY_TYPE, [r[codec.key_name] for r in rows], exc)


async def _taken(
    conn: Connection, q: Queries[Any], etype: str, keys: list[str], exc: Exception
) -> None:
    """An INSERT hit a key stored meanwhile: roll back, find it, raise AlreadyExists."""
    if conn.in_transaction:
        await conn.rollback()
    actual = await stored_versions(conn, q, keys)
    for key in keys:
        if key in actual:
            raise AlreadyExists(etype, key, actual[key]) from exc
    raise exc


async def delete(conn: Connection, q: Queries[Any], key: str) -> bool:
    return await conn.execute(q.delete_one, {"k": key}) > 0


async def set_status(
    conn: Connection,
    q: Queries[Any],
    codec: Codec[Any],
    key: str,
    target: Any,
    note: tuple[str, str | None],
) -> bool:
    """One conditional UPDATE: the transition rule is part of the WHERE clause."""
    note_field, text = note
    compiled, fixed = q.set_status(target, note_field if text is not None else None)
    values = {**fixed, "b_now": utcnow(), "b_key": key}
    if text is not None:
        values["b_note"] = text
    if await conn.execute(compiled, values) == 1:
        return True
    rows = await conn.fetch(q.by_key, {"k": key})
    if not rows:
        return False
    current = codec.entity_of(rows[0]).status
    enum = RequestStatus if codec.entity is Request else MachineStatus
    raise InvalidStatusTransition(codec.entity.ENTITY_TYPE, key, enum(current), target)
