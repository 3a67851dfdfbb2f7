"""Pieces every command shares: the --url/--json/--debug options, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ..config import ENV_URL, StoreConfig, mask_url, resolve_config
from ..interop import Progress


def common_options(*, json_output: bool = False, url: bool = True) -> argparse.ArgumentParser:
    """A parent parser: every subcommand takes these (``--debug`` also works before it)."""
    parent = argparse.ArgumentParser(add_help=False)
    if url:
        parent.add_argument(
            "--url",
            help=f"store URL (default: ${ENV_URL}, then sqlite+aiosqlite:///ohf.db)",
        )
    if json_output:
        parent.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parent.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and DEBUG logs",
    )
    return parent


def store_config(url: str | None) -> StoreConfig:
    return resolve_config(url)


def shown(config: StoreConfig) -> str:
    return mask_url(config.url)


def emit_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain text table; columns whose index is in ``right`` are right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def progress(label: str) -> Progress:
    return Progress(label, stream=sys.stderr)


def warn(message: str) -> None:
    print(mask_url(message), file=sys.stderr)
