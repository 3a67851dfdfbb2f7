"""migrate, downgrade, current, check, history."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from typing import Any

from .. import schema
from ..config import StoreConfig
from .common import CommandRefused, common_options, emit_json, shown, store_config

_NO_REVISIONS = {
    "memory": "the memory backend has no schema",
    "dynamodb": "DynamoDB has no revisions: `migrate` creates missing tables and indexes",
}


def register(sub: Any) -> None:
    plain, with_json = common_options(), common_options(json_output=True)
    p = sub.add_parser(
        "migrate",
        parents=[plain],
        help="bring the schema to a revision (SQL) or create missing tables (DynamoDB)",
    )
    p.add_argument("--revision", default="head", help="target revision (default: head)")
    p.set_defaults(func=migrate)
    p = sub.add_parser(
        "downgrade",
        parents=[plain],
        help="downgrade the schema, deleting what it drops (asks first; --yes when not "
        "interactive)",
    )
    p.add_argument(
        "--revision",
        required=True,
        help="target revision: an id, -1 for one step, or base (drops every table and all data)",
    )
    p.add_argument("--yes", action="store_true", help="confirm without asking")
    p.set_defaults(func=downgrade)
    p = sub.add_parser("current", parents=[with_json], help="show the schema's current revision")
    p.set_defaults(func=current)
    p = sub.add_parser(
        "check", parents=[with_json], help="compare the schema with this code (exit 1 if behind)"
    )
    p.set_defaults(func=check)
    p = sub.add_parser("history", parents=[plain], help="list the schema revisions")
    p.set_defaults(func=history)


def _named(revision: str | None) -> str:
    return revision or "no schema"


async def migrate(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    change = await schema.migrate(config, args.revision)
    if config.backend == "memory":
        print(f"{shown(config)}: {_NO_REVISIONS['memory']}; nothing to do")
    elif config.backend == "dynamodb" and change.changed:
        print(f"{shown(config)}: created the missing tables and indexes (now at head)")
    elif change.changed:
        print(f"{shown(config)}: migrated from {_named(change.before)} to {change.after}")
    else:
        print(f"{shown(config)}: already at {_named(change.after)}; nothing to do")
    return 0


def _confirm(question: str) -> bool:
    """Ask on the terminal. Without one (a script, a pipe, no stdin) the answer is no: a
    destructive command then needs --yes."""
    stdin = sys.stdin
    if stdin is None or stdin.closed or not stdin.isatty():
        return False
    try:
        answer = input(f"{question} Type 'yes' to continue: ")
    except EOFError:
        return False
    return answer.strip().lower() == "yes"


async def downgrade(args: argparse.Namespace) -> int:
    config = store_config(args.url, must_exist=True)
    if config.backend == "memory":
        print(f"{shown(config)}: {_NO_REVISIONS['memory']}; nothing to do")
        return 0
    before = await schema.current(config)
    if before is None and config.backend != "dynamodb":  # DynamoDB: some tables may exist
        print(f"{shown(config)}: there is no schema to downgrade; nothing to do")
        return 0
    what = (
        "drops every ohf_persistence table and ALL their data"
        if args.revision == "base" or config.backend == "dynamodb"
        else "may drop tables or columns and the data in them"
    )
    question = f"Downgrade {shown(config)} from {_named(before)} to {args.revision}: this {what}."
    if not args.yes and not _confirm(question):
        interactive = sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()
        raise CommandRefused(
            "downgrade cancelled, nothing was changed"
            if interactive
            else f"downgrade refused, nothing was changed: it {what}; pass --yes to confirm "
            "(there is no terminal to ask)"
        )
    change = await schema.downgrade(config, args.revision)
    if change.changed:
        print(f"{shown(config)}: downgraded from {change.before} to {_named(change.after)}")
    else:
        print(f"{shown(config)}: already at {_named(change.after)}; nothing to do")
    return 0


def _newer_note(config: StoreConfig, revision: str | None) -> str:
    """ " (newer than …)" when a newer package migrated the database."""
    if revision is None or config.backend not in ("sqlite", "postgresql"):
        return ""
    from ..adapters.sql import migrations

    if revision in migrations.known_revisions():
        return ""
    return (
        f" (unknown to this ohf-persistence, whose head is {migrations.head_revision()}: "
        "the database was migrated by a newer version)"
    )


async def current(args: argparse.Namespace) -> int:
    config = store_config(args.url, must_exist=True)
    revision = await schema.current(config)
    note = _newer_note(config, revision)
    if args.json:
        emit_json(
            {
                "url": shown(config),
                "backend": config.backend,
                "current": revision,
                "newer_than_package": bool(note),
            }
        )
    else:
        print(f"{shown(config)}: {revision or 'no schema (run `ohf-persistence migrate`)'}{note}")
    return 0


async def check(args: argparse.Namespace) -> int:
    config = store_config(args.url, must_exist=True)
    differences = await schema.check(config)
    if args.json:
        emit_json(
            {
                "url": shown(config),
                "backend": config.backend,
                "up_to_date": not differences,
                "differences": differences,
            }
        )
    elif differences:
        print(f"{shown(config)}: schema differs from this code:")
        for line in differences:
            print(f"  {line}")
        if not any("newer version" in line for line in differences):
            print("run `ohf-persistence migrate` to bring it up to date")
    else:
        print(f"{shown(config)}: schema is up to date")
    return 1 if differences else 0


async def history(args: argparse.Namespace) -> int:
    config = store_config(args.url)  # reads no database
    entries = await _history(config)
    if entries is None:
        print(f"{shown(config)}: {_NO_REVISIONS.get(config.backend, 'no revisions')}")
        return 0
    for entry in entries:
        print(entry)
    return 0


async def _history(config: StoreConfig) -> list[str] | None:
    if config.backend not in ("sqlite", "postgresql"):
        return None
    module = importlib.import_module("ohf_persistence.adapters.sql.migrations")
    result = module.history(config)
    if inspect.isawaitable(result):
        result = await result
    return [str(item) for item in result]
