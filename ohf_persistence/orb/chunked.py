"""ORB units of work larger than one DynamoDB transaction (ORB's cleanup of old requests).

Our DynamoDB unit of work commits one TransactWriteItems (at most 100 writes, 4 MB) and
refuses a larger one before sending anything. ORB does not know that limit: its bulk cleanup
deletes every old request and machine in one unit. For ORB, such a unit is committed in atomic
chunks of up to 100 writes, each write still conditional on the version the unit read, with an
undo journal (as ``ohf-persistence import`` does): if a chunk fails, the chunks already
committed are compensated, newest first (inserted items deleted, updated and deleted items put
back with their old version), each undo conditional on nobody having changed the item since.
Between chunks, other readers can see part of the unit; a crash between chunks leaves the
committed chunks in place (the same as ORB's JSON storage, which writes each call at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain import PersistenceError, TransactionTooLarge
from ..domain.entities import Entity
from ..interop.writer import repo_for
from ..ports import Store, UnitOfWork
from ..repository import BackendUnitOfWork

CHUNK = 100  # TransactWriteItems' limit


@dataclass
class _Write:
    cls: type[Entity]
    key: str
    expected: int | None  # None: must not exist; an int: the version read; -1: not checked
    row: dict[str, Any] | None  # None: delete


@dataclass
class _Done:
    cls: type[Entity]
    key: str
    old: Entity | None  # before the chunk
    written: int | None  # the version the chunk stored; None: deleted


async def commit_in_chunks(store: Store, uow: UnitOfWork) -> None:
    """Commit ``uow``'s staged writes in chunks (the unit itself is rolled back first)."""
    if not isinstance(uow, BackendUnitOfWork):
        raise TransactionTooLarge("this unit of work is too large for one transaction")
    writes = [_Write(w.entity, w.key, w.expected, w.row) for w in uow.writes()]
    await uow.rollback()  # nothing was sent; the staged writes now live in ``writes``
    journal: list[_Done] = []
    try:
        for start in range(0, len(writes), CHUNK):
            await _commit_chunk(store, writes[start : start + CHUNK], journal)
    except BaseException:
        await _undo(store, journal)
        raise


async def _commit_chunk(store: Store, chunk: list[_Write], journal: list[_Done]) -> None:
    done: list[_Done] = []
    try:
        async with store.unit_of_work() as unit:
            for write in chunk:
                done.append(await _stage(unit, write))
            await unit.commit()
    except TransactionTooLarge:
        if len(chunk) < 2:
            raise
        half = len(chunk) // 2  # over 4 MB: nothing was sent, split it
        await _commit_chunk(store, chunk[:half], journal)
        await _commit_chunk(store, chunk[half:], journal)
        return
    journal.extend(done)


async def _stage(unit: UnitOfWork, write: _Write) -> _Done:
    repo = repo_for(unit, write.cls)
    old = await repo.get_by_id(write.key)
    if write.row is None:
        await repo.delete(write.key)
        return _Done(write.cls, write.key, old, None)
    entity = write.cls.restore(write.row)  # with the version the unit gave it
    if write.expected is None:
        base = 0
    elif write.expected >= 0:
        base = write.expected
    else:
        base = old.version if old is not None else 0
    await unit.restore(entity, replaces=base)
    return _Done(write.cls, write.key, old, entity.version)


async def _undo(store: Store, journal: list[_Done]) -> None:
    failed: list[str] = []
    while journal:
        done = journal.pop()
        try:
            async with store.unit_of_work() as unit:
                repo = repo_for(unit, done.cls)
                current = await repo.get_by_id(done.key)
                now = None if current is None else current.version
                if now != done.written:
                    raise PersistenceError("changed by someone else since")
                if done.old is None:
                    if current is not None:
                        await repo.delete(done.key)
                else:
                    await unit.restore(done.old.copy(), replaces=done.written or 0)
                await unit.commit()
        except PersistenceError as exc:
            failed.append(f"{done.cls.ENTITY_TYPE} {done.key!r}: {exc}")
    if failed:
        raise PersistenceError(
            f"a chunked commit failed and {len(failed)} committed writes could not be undone "
            f"(first: {failed[0]})"
        )
