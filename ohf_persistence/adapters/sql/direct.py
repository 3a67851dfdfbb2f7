"""Autocommitted writes that are one statement: no transaction, one round trip.

A single INSERT / UPDATE / DELETE is atomic by itself, so ``BEGIN``/``COMMIT`` around it only
add round trips. The guard is in the statement (``ON CONFLICT DO NOTHING``, ``WHERE version``,
``WHERE status IN (allowed sources)``); a follow-up read after a refused write only decides
which error or answer to give.
"""

from __future__ import annotations

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
from ...staging import ANY_VERSION, Row
from .engine import Database
from .flush import flush
from .statements import Codec


async def _version(db: Database, codec: Codec[Any], key: str) -> int | None:
    rows = await db.run_fetch(codec.fast.version_of, {"k": key})
    return int(rows[0][0]) if rows else None


async def write_one(
    db: Database, codec: Codec[Any], key: str, expected: int | None, row: Row | None
) -> None:
    """A unit of work's only staged write."""
    etype = codec.entity.ENTITY_TYPE
    fast = codec.fast
    if row is not None and expected is None:
        if await db.run_execute(fast.insert_new, codec.params(row), etype) != 1:
            raise AlreadyExists(etype, key, await _version(db, codec, key))
    elif row is not None and expected != ANY_VERSION:
        values = codec.update_params(row, expected or 0)
        if await db.run_execute(fast.update_versioned, values, etype) != 1:
            raise ConcurrencyConflict(etype, key, expected, await _version(db, codec, key))
    else:  # deletes and upserts: rare here, the general path handles them
        async with db.autocommit(etype) as conn:
            await flush(conn, codec, {key: (expected, row)})


async def delete(db: Database, codec: Codec[Any], key: str) -> bool:
    etype = codec.entity.ENTITY_TYPE
    return await db.run_execute(codec.fast.delete_one, {"k": key}, etype) > 0


async def set_status(
    db: Database, codec: Codec[Any], key: str, target: Any, sources: Any, note: tuple[str, Any]
) -> bool:
    """One conditional UPDATE: the transition rule is part of the WHERE clause."""
    allowed = sorted(s.value for s in sources)
    compiled, names = codec.fast.set_status(allowed, note[0] if note[1] is not None else None)
    values: dict[str, Any] = {"b_status": target.value, "b_now": utcnow(), "b_key": key}
    values.update(zip(names, allowed, strict=True))
    if note[1] is not None:
        values["b_note"] = note[1]
    etype = codec.entity.ENTITY_TYPE
    if await db.run_execute(compiled, values, etype) == 1:
        return True
    rows = await db.run_fetch(codec.fast.by_key, {"k": key})
    if not rows:
        return False
    current = codec.fast.entity(rows[0]).status
    enum = RequestStatus if codec.entity is Request else MachineStatus
    raise InvalidStatusTransition(etype, key, enum(current), target)
