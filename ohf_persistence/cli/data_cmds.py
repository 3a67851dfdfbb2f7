"""stats, export, import, copy."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..config import StoreConfig, open_store, sqlite_file
from ..domain import MachineStatus, RequestStatus, RequestType, SchemaNewerThanCode
from ..interop import FORMATS, ImportRefused, copy_store, export_store, import_file
from ..interop.exporter import ExportTargetError
from ..interop.orb import SECTIONS
from ..ports import Store
from ..query import MAX_PAGE_SIZE
from ..text import table
from .common import (
    common_options,
    emit_json,
    progress,
    shown,
    store_config,
    warn,
)


def register(sub: Any) -> None:
    with_json = common_options(json_output=True)
    p = sub.add_parser("stats", parents=[with_json], help="count templates, requests, machines")
    p.set_defaults(func=stats)

    p = sub.add_parser("export", parents=[with_json], help="write every entity to a file")
    p.add_argument("path", help="output file, a folder with --split, or - for stdout")
    p.add_argument("--format", choices=FORMATS, help="default: from the name (.jsonl / .json)")
    p.add_argument("--split", action="store_true", help="orb-json: ORB's one-file-per-section")
    p.set_defaults(func=export)

    p = sub.add_parser("import", parents=[with_json], help="load a file (all or nothing)")
    p.add_argument("path", help="a .jsonl file, ORB's request_database.json, or its folder")
    p.add_argument("--format", choices=FORMATS, help="default: from the name (.jsonl / .json)")
    p.add_argument("--merge", action="store_true", help="update records that already exist")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the valid records, report the others"
    )
    p.set_defaults(func=import_)

    copy_parent = common_options(json_output=True, url=False)
    p = sub.add_parser("copy", parents=[copy_parent], help="stream every entity to another store")
    p.add_argument("--from", "--url", dest="source", help="source URL (default: as --url)")
    p.add_argument("--to", dest="target", required=True, help="target URL")
    p.add_argument("--merge", action="store_true", help="copy into a non-empty target")
    p.add_argument(
        "--page-size",
        type=_page_size,
        default=500,
        help=f"entities per page, 1 … {MAX_PAGE_SIZE} (default 500)",
    )
    p.set_defaults(func=copy)


def _page_size(text: str) -> int:
    """--page-size: bad usage (exit 2) unless an int a page may hold."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"must be an int from 1 to {MAX_PAGE_SIZE}, got {text!r}")
    return value


def _format(path: str, fmt: str | None) -> str:
    if fmt:
        return fmt
    suffix = path.lower()  # ORB.JSON, backup.JSONL: extensions are case-insensitive
    if suffix.endswith(".jsonl"):
        return "jsonl"
    if suffix.endswith(".json") or Path(path).is_dir():
        return "orb-json"
    raise argparse.ArgumentTypeError(f"cannot tell the format of {path!r}: give --format")


async def _counts(store: Store) -> dict[str, Any]:
    templates = await store.templates.count()
    result: dict[str, Any] = {
        "templates": {
            "total": templates,
            "active": await store.templates.count({"is_active": True}),
        },
        "requests": {
            "total": await store.requests.count(),
            "by_type": {
                t.value: await store.requests.count({"request_type": t}) for t in RequestType
            },
            "by_status": {},
        },
        "machines": {"total": await store.machines.count(), "by_status": {}},
    }
    for status in RequestStatus:
        n = await store.requests.count({"status": status})
        if n:
            result["requests"]["by_status"][status.value] = n
    for mstatus in MachineStatus:
        n = await store.machines.count({"status": mstatus})
        if n:
            result["machines"]["by_status"][mstatus.value] = n
    return result


async def stats(args: argparse.Namespace) -> int:
    config = store_config(args.url, must_exist=True)
    store = await _open_for_reading(config)
    try:
        counts = await _counts(store)
    finally:
        await store.close()
    if args.json:
        emit_json({"url": shown(config), **counts})
        return 0
    t, r, m = counts["templates"], counts["requests"], counts["machines"]
    rows: list[list[Any]] = [
        ["templates", "active", t["active"]],
        ["", "inactive", t["total"] - t["active"]],
    ]
    rows += [["requests", status, n] for status, n in r["by_status"].items()]
    rows += [["machines", status, n] for status, n in m["by_status"].items()]
    print(f"{shown(config)}: {t['total']} templates, {r['total']} requests, {m['total']} machines")
    print(table(["entity", "status", "count"], rows, right=[2]))
    return 0


async def _open_for_reading(config: StoreConfig) -> Store:
    """The store for a read-only command (stats, export, copy's source). A database migrated
    by a newer package is still read — a backup must be possible before upgrading — with a
    warning; writing commands refuse it."""
    try:
        store: Store = await open_store(config)
    except SchemaNewerThanCode as exc:
        if config.backend not in ("sqlite", "postgresql"):
            raise
        from ..adapters.sql.migrations import open_newer_for_reading

        warn(f"warning: {exc}; reading the fields this version knows")
        store = await open_newer_for_reading(config)
    return store


async def export(args: argparse.Namespace) -> int:
    # bad usage first (exit 2), before the store is looked at
    if not args.path:
        raise argparse.ArgumentTypeError("PATH is empty: give a file, - for stdout, or a folder")
    fmt = _format(args.path, args.format)
    if args.split and args.path == "-":
        raise argparse.ArgumentTypeError("--split writes a folder; - (stdout) is not one")
    if args.split and fmt != "orb-json":
        raise argparse.ArgumentTypeError(
            f"--split is ORB's one-file-per-section layout: it needs --format orb-json, not {fmt}"
        )
    config = store_config(args.url, must_exist=True)
    _refuse_own_database(config, args.path, split=args.split)
    store = await _open_for_reading(config)
    try:
        result = await export_store(
            store, args.path, fmt, split=args.split, progress=progress("export")
        )
    finally:
        await store.close()
    if args.json:
        # with PATH "-" stdout carries the data: the report goes to stderr, after it
        emit_json({"url": shown(config), **result}, stderr=args.path == "-")
    elif args.path != "-":
        counts = ", ".join(f"{n} {name}s" for name, n in result["counts"].items())
        print(f"exported {counts} from {shown(config)} to {args.path} ({fmt})")
    return 0


def _refuse_own_database(config: StoreConfig, path: str, *, split: bool) -> None:
    """An export written over the SQLite file it reads (``export ohf.db --format jsonl``, also
    through a symlink or a hard link, or over its -wal / -shm / -journal file) would replace the
    database with its own export: refused before anything is opened."""
    database = sqlite_file(config)
    if database is None or path == "-":
        return
    targets = [Path(path) / f"{name}.json" for name in SECTIONS] if split else [Path(path)]
    for companion in ("", "-wal", "-shm", "-journal"):
        own = Path(f"{database}{companion}")
        for target in targets:
            if _same_file(own, target):
                raise ExportTargetError(
                    f"cannot export to {target}: it is "
                    + (
                        "the database"
                        if not companion
                        else f"the {companion[1:]} file of the database"
                    )
                    + f" being exported ({shown(config)}); nothing was changed"
                )


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:  # either is missing: the same path once resolved, or not the same file
        return os.path.realpath(one) == os.path.realpath(other)


async def import_(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    fmt = _format(args.path, args.format)
    file = sqlite_file(config)
    # A new local SQLite file is created at head (like the demo); any other store must exist.
    # The input is checked first (a dry run into memory), so a refused import creates
    # nothing: a file, once created, is never removed (another process may be using it).
    new_file = file is not None and not file.exists()
    try:
        if new_file:
            async with open_store("memory://") as dry_run:
                await import_file(dry_run, args.path, fmt, skip_invalid=args.skip_invalid)
        async with open_store(config, migrate=new_file) as store:
            report = await import_file(
                store,
                args.path,
                fmt,
                merge=args.merge,
                skip_invalid=args.skip_invalid,
                progress=progress("import"),
            )
    except ImportRefused as exc:
        if args.json:
            emit_json({"error": str(exc), "problems": [p.as_dict() for p in exc.problems]})
        for problem in exc.problems:
            warn(f"invalid: {problem}")
        raise
    for problem in report.skipped:
        warn(f"skipped: {problem}")
    for kind, key, why in report.stats.kept:
        warn(f"kept the target's {kind} {key!r}: {why}")
    if args.json:
        emit_json({"url": shown(config), "format": fmt, "path": args.path, **report.as_dict()})
        return 0
    stats = report.stats
    rows = [
        [name, report.read[name], stats.inserted[name], stats.updated[name], stats.unchanged[name]]
        for name in ("template", "request", "machine")
    ]
    print(f"imported {args.path} ({fmt}) into {shown(config)} in {report.seconds:.2f}s")
    print(table(["type", "read", "inserted", "updated", "unchanged"], rows, right=[1, 2, 3, 4]))
    if report.skipped:
        print(f"{len(report.skipped)} invalid record(s) skipped (listed on stderr)")
    return 0


async def copy(args: argparse.Namespace) -> int:
    source_config = store_config(args.source, must_exist=True)
    target_config = store_config(args.target, must_exist=True)
    if source_config.url == target_config.url and source_config.backend != "memory":
        raise argparse.ArgumentTypeError("--from and --to are the same store")
    source = await _open_for_reading(source_config)
    try:
        async with open_store(target_config) as target:
            result = await copy_store(
                source,
                target,
                merge=args.merge,
                page_size=args.page_size,
                progress=progress("copy"),
            )
    finally:
        await source.close()
    if args.json:
        emit_json({"from": shown(source_config), "to": shown(target_config), **result})
        return 0
    copied = sum(result["inserted"].values()) + sum(result["updated"].values())
    same = sum(result["unchanged"].values())
    print(
        f"copied {copied} entities from {shown(source_config)} to {shown(target_config)} "
        f"in {result['seconds']:.2f}s" + (f" ({same} already there)" if same else "")
    )
    for item in result["kept"]:
        print(f"kept the target's {item['type']} {item['id']!r}: {item['reason']}", file=sys.stderr)
    return 0
