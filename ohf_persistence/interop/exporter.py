"""``export``: stream every entity, page by page, as our JSON Lines or ORB's JSON."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ..domain.entities import ENTITY_TYPES as ORDER
from ..domain.entities import Entity
from ..ports import Store
from .codec import FORMAT_HEADER, TYPE_NAMES, entity_to_record
from .orb import SECTION_OF, to_orb
from .progress import Progress
from .writer import repo_for

PAGE = 1000


async def iter_entities(
    store: Store, cls: type[Entity], page_size: int = PAGE
) -> AsyncIterator[list[Entity]]:
    """Every entity of one type, one key-ordered page at a time (bounded memory)."""
    repo = repo_for(store, cls)
    cursor: str | None = None
    while True:
        page = await repo.page(limit=page_size, cursor=cursor)
        if page.items:
            yield list(page.items)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@contextmanager
def _output(path: str | Path) -> Iterator[TextIO]:
    """A file written in full or not at all (temp file, then rename); "-" is stdout."""
    import sys

    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


async def export_store(
    store: Store,
    path: str | Path,
    fmt: str,
    *,
    split: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    bar = progress or Progress("export", enabled=False)
    counts: Counter[str] = Counter()
    if fmt == "jsonl":
        with _output(path) as out:
            out.write(json.dumps(FORMAT_HEADER) + "\n")
            for cls in ORDER:
                async for items in iter_entities(store, cls):
                    for entity in items:
                        record = entity_to_record(entity)
                        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                    counts[TYPE_NAMES[cls]] += len(items)
                    bar.update(len(items), f"export {TYPE_NAMES[cls]}s")
    elif split:
        folder = Path(path)
        for cls in ORDER:
            with _output(folder / f"{SECTION_OF[cls]}.json") as out:
                out.write("{\n")
                counts[TYPE_NAMES[cls]] = await _write_section(store, cls, out, bar, last=True)
                out.write("}\n")
    else:
        with _output(path) as out:
            out.write("{\n")
            for cls in ORDER:
                last = cls is ORDER[-1]
                counts[TYPE_NAMES[cls]] = await _write_section(store, cls, out, bar, last=last)
            out.write("}\n")
    bar.close()
    return {"format": fmt, "path": str(path), "counts": dict(counts), "seconds": bar.elapsed}


async def _write_section(
    store: Store, cls: type[Entity], out: TextIO, bar: Progress, *, last: bool
) -> int:
    """One ORB section, ``"machines": {id: record, …}``, written as it streams (indent 2 like
    ORB's own writer)."""
    out.write(f'  "{SECTION_OF[cls]}": {{')
    count = 0
    async for items in iter_entities(store, cls):
        for entity in items:
            body = json.dumps(to_orb(entity), indent=2, ensure_ascii=False).replace("\n", "\n    ")
            sep = "," if count else ""
            out.write(f"{sep}\n    {json.dumps(entity.key, ensure_ascii=False)}: {body}")
            count += 1
        bar.update(len(items), f"export {TYPE_NAMES[cls]}s")
    out.write("\n  }" if count else "}")
    out.write("\n" if last else ",\n")
    return count
