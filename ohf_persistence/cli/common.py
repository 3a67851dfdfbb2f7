"""Pieces every command shares: the --url/--json/--debug options, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import (
    ENV_URL,
    ConfigError,
    StoreConfig,
    mask_text,
    mask_url,
    resolve_config,
    sqlite_file,
)
from ..domain import PersistenceError, SchemaOutOfDate
from ..interop import Progress


class CommandRefused(PersistenceError):
    """A command declined to run (e.g. a destructive one without confirmation)."""


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


def store_config(url: str | None, *, must_exist: bool = False) -> StoreConfig:
    """The store's config. Only ``migrate``, ``demo`` and ``import`` (and ``bench``, which
    makes its own data) may create a database: the others pass ``must_exist=True`` and
    refuse a SQLite file that does not exist rather than leave an empty file at a mistyped
    path."""
    config = resolve_config(url)
    path = sqlite_file(config)
    if path is not None and path.exists() and not path.is_file():
        # a folder, a FIFO, a device: SQLite would fail with "disk I/O error" after leaving a
        # "-journal" file beside it (``/dev/null-journal``)
        raise ConfigError(
            f"{path} is not a regular file, so it cannot be a SQLite database (nothing was "
            "changed); give the path of a database file"
        )
    if must_exist and path is not None and not path.exists():
        raise SchemaOutOfDate(
            f"no SQLite database at {path} (nothing was created); check the path, or create "
            f"it with `ohf-persistence migrate --url {mask_url(config.url)}`"
        )
    if path is not None and not path.exists() and not path.resolve().parent.is_dir():
        # SQLite would say only "unable to open database file"; resolved: a symlink's target
        # folder is where the file would go
        folder = path.resolve().parent
        raise ConfigError(
            f"the folder {folder} of the SQLite database {path.name} does not exist "
            "(nothing was created); create the folder first, or fix the path"
        )
    return config


def shown(config: StoreConfig) -> str:
    return mask_url(config.url)


def emit_json(value: Any, *, stderr: bool = False) -> None:
    print(
        json.dumps(value, indent=2, sort_keys=True, default=str),
        file=sys.stderr if stderr else sys.stdout,
    )


def progress(label: str) -> Progress:
    return Progress(label, stream=sys.stderr)


def warn(message: str) -> None:
    print(mask_text(message), file=sys.stderr)
