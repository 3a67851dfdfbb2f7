"""``copy``: stream every entity from one store to another, a page at a time.

Memory holds one page. Each page is committed on its own (DynamoDB: in transactions of 100),
so a copy is not all-or-nothing; it refuses a non-empty target unless ``merge``, and a failed
copy is resumed with ``merge``: what is already there with the same version is skipped.
"""

from __future__ import annotations

from typing import Any

from ..domain import PersistenceError
from ..domain.entities import ENTITY_TYPES
from ..ports import Store
from .exporter import iter_entities
from .progress import Progress
from .records import TYPE_NAMES
from .writer import Writer, repo_for

PAGE = 500


class TargetNotEmpty(PersistenceError):
    """``copy`` into a store that already holds data, without --merge."""


async def copy_store(
    source: Store,
    target: Store,
    *,
    merge: bool = False,
    page_size: int = PAGE,
    progress: Progress | None = None,
) -> dict[str, Any]:
    if not merge:
        held = {TYPE_NAMES[cls]: await repo_for(target, cls).count() for cls in ENTITY_TYPES}
        if any(held.values()):
            summary = ", ".join(f"{n} {name}s" for name, n in held.items() if n)
            raise TargetNotEmpty(
                f"copy refused: the target already holds {summary}; use --merge to copy into it"
            )
    bar = progress or Progress("copy", enabled=False)
    totals = [await repo_for(source, cls).count() for cls in ENTITY_TYPES]
    bar.total = sum(totals)
    writer = Writer(target, merge=merge, orb=False, check_existing=merge, atomic=False, undo=False)
    async with writer:
        for cls in ENTITY_TYPES:
            async for items in iter_entities(source, cls, page_size):
                await writer.write(cls, items)
                bar.update(len(items), f"copy {TYPE_NAMES[cls]}s")
    bar.close()
    return {**writer.stats.as_dict(), "seconds": round(bar.elapsed, 3)}
