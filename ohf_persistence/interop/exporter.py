"""``export``: stream every entity, page by page, as our JSON Lines or ORB's JSON."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from ..domain import PersistenceError
from ..domain.entities import ENTITY_TYPES, Entity
from ..ports import Store
from .orb import SECTION_OF, to_orb
from .progress import Progress
from .records import FORMAT_HEADER, TYPE_NAMES, entity_to_record
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


class ExportTargetError(PersistenceError):
    """The output path is something an export must not write to (a folder, a block device…)."""


@contextmanager
def _output(path: str | Path) -> Iterator[TextIO]:
    """Where an export writes, chosen by what ``path`` is (DESIGN: output files are never
    replaced by something else):

    - ``-``: stdout;
    - a regular file (also a symlink's regular target): replaced atomically — a temp file in the
      same folder, given the old file's mode (and owner when we may), renamed over it; the
      symlink stays a symlink. A failed export leaves the old content;
    - nothing yet: created the same way, with the usual mode (0666 minus the umask), in an
      existing folder (a missing folder is refused: it is a typo more often than not);
    - a FIFO, a character device (``/dev/null``, ``/dev/stdout``, a terminal) or a magic
      ``/proc`` link: written through, never replaced (not atomic: a reader sees it stream);
    - anything else (a folder, a block device, a socket): refused with ExportTargetError.
    """
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        info: os.stat_result | None = target.stat()  # follows symlinks
    except FileNotFoundError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        if stat.S_ISFIFO(info.st_mode) or stat.S_ISCHR(info.st_mode):
            with (
                _phrased(path, "the output may be incomplete"),
                target.open("w", encoding="utf-8") as through,
            ):
                yield through
            return
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file, FIFO or device"
        raise ExportTargetError(f"cannot export to {path}: it is {kind}")
    real = Path(os.path.realpath(target)) if target.is_symlink() else target
    if real.parts[:2] == ("/", "proc"):  # /dev/stdout → /proc/self/fd/1 → a file: write through
        with (
            _phrased(path, "the output may be incomplete"),
            target.open("w", encoding="utf-8") as through,
        ):
            yield through
        return
    if info is None and not real.parent.is_dir():
        # a mistyped folder is refused, as import and stats refuse mistyped paths
        raise ExportTargetError(
            f"cannot export to {path}: the folder {real.parent} does not exist; nothing was created"
        )
    tmp = real.parent / f".{real.name}.{secrets.token_hex(6)}.tmp"
    with _phrased(path, "nothing was changed"):
        # 0o666: the kernel applies the umask, as for any new file; an existing file's mode below
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                if info is not None:
                    os.fchmod(fd, stat.S_IMODE(info.st_mode))
                    if (info.st_uid, info.st_gid) != (os.getuid(), os.getgid()):
                        with suppress(PermissionError):  # only root may give a file away
                            os.fchown(fd, info.st_uid, info.st_gid)
                yield handle
            os.replace(tmp, real)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


@contextmanager
def _phrased(path: str | Path, outcome: str) -> Iterator[None]:
    """An OS error while writing ``path`` as one line naming it and what it left behind."""
    try:
        yield
    except OSError as exc:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise ExportTargetError(f"cannot export to {path}: {reason}; {outcome}") from exc


def _split_folder(path: str | Path) -> Path:
    """The folder of a ``--split`` export: an existing folder, or a new one in an existing
    folder (a mistyped parent is refused, nothing is created)."""
    folder = Path(path)
    if folder.is_dir():
        return folder
    if folder.exists():
        raise ExportTargetError(
            f"cannot export to {path}: it is not a folder (--split writes one file per "
            "section into a folder); nothing was changed"
        )
    if not folder.parent.is_dir():
        raise ExportTargetError(
            f"cannot export to {path}: the folder {folder.parent} does not exist; "
            "nothing was created"
        )
    with _phrased(path, "nothing was created"):
        folder.mkdir()
    return folder


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
            for cls in ENTITY_TYPES:
                async for items in iter_entities(store, cls):
                    for entity in items:
                        record = entity_to_record(entity)
                        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                    counts[TYPE_NAMES[cls]] += len(items)
                    bar.update(len(items), f"export {TYPE_NAMES[cls]}s")
    elif split:
        folder = _split_folder(path)
        written: list[str] = []
        for cls in ENTITY_TYPES:
            name = f"{SECTION_OF[cls]}.json"
            try:
                with _output(folder / name) as out:
                    out.write("{\n")
                    counts[TYPE_NAMES[cls]] = await _write_section(store, cls, out, bar, last=True)
                    out.write("}\n")
            except ExportTargetError as exc:
                if not written:
                    raise
                raise ExportTargetError(
                    f"{exc} in it, but {', '.join(written)} already hold the new export"
                ) from exc
            written.append(name)
    else:
        with _output(path) as out:
            out.write("{\n")
            for cls in ENTITY_TYPES:
                last = cls is ENTITY_TYPES[-1]
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
            # sorted keys: JSONB does not keep key order, and exports of one content are identical
            body = json.dumps(to_orb(entity), indent=2, ensure_ascii=False, sort_keys=True)
            body = body.replace("\n", "\n    ")
            sep = "," if count else ""
            out.write(f"{sep}\n    {json.dumps(entity.key, ensure_ascii=False)}: {body}")
            count += 1
        bar.update(len(items), f"export {TYPE_NAMES[cls]}s")
    out.write("\n  }" if count else "}")
    out.write("\n" if last else ",\n")
    return count
