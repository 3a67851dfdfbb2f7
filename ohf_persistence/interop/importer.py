"""``import``: validate the whole input first, refuse conflicts, then write (see writer.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain import PersistenceError
from ..domain.entities import ENTITY_TYPES, Entity
from ..ports import Store
from .progress import Progress
from .records import TYPE_NAMES
from .sources import open_source
from .writer import BATCH, ImportConflict, Writer, WriteStats, fetch_existing, repo_for

MAX_LISTED = 20  # conflicts named in the refusal message


@dataclass(frozen=True, slots=True)
class Problem:
    where: str
    entity_type: str | None
    key: str | None
    reason: str

    def __str__(self) -> str:
        what = f"{self.entity_type or 'record'} {self.key!r}" if self.key else "record"
        return f"{self.where}: {what}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "type": self.entity_type,
            "id": self.key,
            "reason": self.reason,
        }


class ImportRefused(PersistenceError):
    """Invalid records and no --skip-invalid: nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            f"import refused: {len(problems)} invalid record(s), nothing was written "
            f"(first: {problems[0]}); fix them or use --skip-invalid"
        )


@dataclass
class ImportReport:
    read: Counter[str] = field(default_factory=Counter)
    skipped: list[Problem] = field(default_factory=list)
    stats: WriteStats = field(default_factory=WriteStats)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": dict(self.read),
            "skipped": [p.as_dict() for p in self.skipped],
            **self.stats.as_dict(),
            "seconds": round(self.seconds, 3),
        }


async def import_file(
    store: Store,
    path: str | Path,
    fmt: str,
    *,
    merge: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    source = open_source(path, fmt)
    report = ImportReport()
    keys: dict[type[Entity], set[str]] = {cls: set() for cls in ENTITY_TYPES}
    skip: set[str] = set()  # "where" of duplicate records, left out by the write pass
    for parsed in source.records():  # pass 1: validate everything, keep only the keys
        if parsed.entity is None:
            reason = parsed.error or "invalid"
            report.skipped.append(Problem(parsed.where, parsed.entity_type, parsed.key, reason))
            continue
        cls = type(parsed.entity)
        if parsed.entity.key in keys[cls]:
            problem = Problem(parsed.where, parsed.entity_type, parsed.key, "duplicate id")
            report.skipped.append(problem)
            skip.add(parsed.where)
            continue
        keys[cls].add(parsed.entity.key)
        report.read[TYPE_NAMES[cls]] += 1
    if report.skipped and not skip_invalid:
        raise ImportRefused(report.skipped)
    occupied = {cls for cls in ENTITY_TYPES if keys[cls] and await repo_for(store, cls).count() > 0}
    if not merge:
        await _refuse_existing(store, keys, occupied)
    bar = progress or Progress("import", enabled=False)
    bar.total = sum(report.read.values())
    orb = fmt == "orb-json"
    async with Writer(store, merge=merge, orb=orb, check_existing=bool(occupied)) as writer:
        for cls in ENTITY_TYPES:  # pass 2: parents first
            batch: list[Entity] = []
            for parsed in source.records(only=cls):
                if parsed.entity is None or parsed.where in skip:
                    continue
                batch.append(parsed.entity)
                if len(batch) >= BATCH:
                    await writer.write(cls, batch)
                    bar.update(len(batch), f"import {TYPE_NAMES[cls]}s")
                    batch = []
            if batch:
                await writer.write(cls, batch)
                bar.update(len(batch), f"import {TYPE_NAMES[cls]}s")
    bar.close()
    report.stats = writer.stats
    report.seconds = bar.elapsed
    return report


async def _refuse_existing(
    store: Store, keys: dict[type[Entity], set[str]], occupied: set[type[Entity]]
) -> None:
    found: list[str] = []
    total = 0
    for cls in ENTITY_TYPES:
        if cls not in occupied:
            continue
        ordered = sorted(keys[cls])
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            existing = await fetch_existing(store, cls, chunk)
            total += len(existing)
            found += [f"{TYPE_NAMES[cls]} {k!r}" for k in sorted(existing)][
                : MAX_LISTED - len(found)
            ]
    if total:
        raise ImportConflict(
            f"import refused: {total} record(s) already exist in the target (first: {found[0]}), "
            "nothing was written; use --merge to update them"
        )
