"""The ``ohf-persistence`` command line.

Exit codes: 0 success, 1 failure (one line on stderr, a traceback only with --debug),
2 bad usage. Passwords in URLs are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from ..config import mask_url
from ..domain import PersistenceError
from . import bench_cmd, data_cmds, demo, schema_cmds

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ohf-persistence",
        description="Migrations, a demo, import/export (incl. ORB's JSON), copy and statistics "
        "for ohf_persistence stores. Every command takes --url (default: $OHF_STORAGE_URL, "
        "then sqlite+aiosqlite:///ohf.db).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and DEBUG logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    schema_cmds.register(sub)
    demo.register(sub)
    data_cmds.register(sub)
    bench_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    handler: Handler = args.func
    try:
        return asyncio.run(handler(args))
    except argparse.ArgumentTypeError as exc:
        parser.print_usage(sys.stderr)
        print(f"ohf-persistence {args.command}: error: {exc}", file=sys.stderr)
        return 2
    # User errors: one line, no traceback. Anything else is a bug and shows its traceback.
    except (PersistenceError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        message = "; ".join(str(exc).splitlines()) or type(exc).__name__
        print(f"ohf-persistence {args.command}: error: {mask_url(message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
