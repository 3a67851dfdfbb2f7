"""migrate, downgrade, current, check, history."""

from __future__ import annotations

import argparse
import importlib
import inspect
from typing import Any

from .. import schema
from ..config import StoreConfig
from .common import common_options, emit_json, shown, store_config

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
    p = sub.add_parser("downgrade", parents=[plain], help="downgrade the SQL schema")
    p.add_argument("--revision", default="-1", help="target revision (default: -1, one step)")
    p.set_defaults(func=downgrade)
    p = sub.add_parser("current", parents=[with_json], help="show the schema's current revision")
    p.set_defaults(func=current)
    p = sub.add_parser(
        "check", parents=[with_json], help="compare the schema with this code (exit 1 if behind)"
    )
    p.set_defaults(func=check)
    p = sub.add_parser("history", parents=[plain], help="list the schema revisions")
    p.set_defaults(func=history)


async def migrate(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    await schema.migrate(config, args.revision)
    if config.backend == "memory":
        print(f"{shown(config)}: {_NO_REVISIONS['memory']}; nothing to do")
    else:
        print(f"{shown(config)}: migrated to {args.revision}")
    return 0


async def downgrade(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    await schema.downgrade(config, args.revision)
    if config.backend == "memory":
        print(f"{shown(config)}: {_NO_REVISIONS['memory']}; nothing to do")
    else:
        print(f"{shown(config)}: downgraded to {args.revision}")
    return 0


async def current(args: argparse.Namespace) -> int:
    config = store_config(args.url)
    revision = await schema.current(config)
    if args.json:
        emit_json({"url": shown(config), "backend": config.backend, "current": revision})
    else:
        print(f"{shown(config)}: {revision or 'no schema (run `ohf-persistence migrate`)'}")
    return 0


async def check(args: argparse.Namespace) -> int:
    config = store_config(args.url)
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
        print("run `ohf-persistence migrate` to bring it up to date")
    else:
        print(f"{shown(config)}: schema is up to date")
    return 1 if differences else 0


async def history(args: argparse.Namespace) -> int:
    config = store_config(args.url)
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
