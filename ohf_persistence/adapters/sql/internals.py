"""Every private library detail the SQL adapter relies on, in one place.

Each accessor is used for speed (skipping per-call work SQLAlchemy or ``json`` would repeat) or
because no public API exposes the fact. tests/test_sql_internals.py exercises each one, so an
upgrade that changes them fails there, loudly, instead of somewhere in a repository.
"""

from __future__ import annotations

import asyncio
import functools
import json
import json.scanner
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


def bind_processors(compiled: SQLCompiler) -> dict[str, Processor]:
    """Parameter name -> SQLAlchemy's bind conversion for it (only names that convert)."""
    processors: dict[str, Processor] = compiled._bind_processors  # type: ignore[assignment]
    return processors


def result_processor(kind: Any, dialect: Dialect) -> Processor | None:
    """SQLAlchemy's cached result conversion of a column type on a dialect."""
    processor: Processor | None = kind._cached_result_processor(dialect, None)
    return processor


def ddl_if_dialect(index: Any) -> str | None:
    """The dialect an ``Index(...).ddl_if(dialect=...)`` is limited to (None: every dialect)."""
    return getattr(getattr(index, "_ddl_if", None), "dialect", None)


# The C scanner behind ``json.loads`` without its wrapper (type checks, whitespace skipping):
# ``JSON_SCAN(text, 0)`` is ``json_scan(text)`` without the Python call around it.
JSON_SCAN: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def json_scan(text: str) -> tuple[Any, int]:
    """``(value, end)`` of the JSON document starting at ``text[0]``."""
    result: tuple[Any, int] = JSON_SCAN(text, 0)
    return result


def json_dumps(item_separator: str, key_separator: str) -> Callable[[Any], str]:
    """``json.dumps(value, separators=(item_separator, key_separator))`` for acyclic values
    (every validated entity field is: nesting is capped), with the C encoder built once
    instead of on every call (``dumps`` rebuilds it, most of its cost on a small document)."""
    import json.encoder

    c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return functools.partial(json.dumps, separators=(item_separator, key_separator))
    default = json.JSONEncoder().default  # the TypeError json.dumps raises
    encode = c_make_encoder(
        None, default, json.encoder.encode_basestring_ascii, None, key_separator, item_separator,
        False, False, True,
    )  # fmt: skip

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


def sqlite_connection(path: str, **kwargs: Any) -> Any:
    """An unstarted ``aiosqlite.Connection`` (await it to connect) whose worker thread is a
    daemon: a store the caller never closed must not keep the interpreter from exiting
    (threading joins non-daemon threads at exit, before any atexit hook could close them)."""
    import aiosqlite

    conn = aiosqlite.connect(path, **kwargs)
    conn._thread.daemon = True
    return conn


async def sqlite_worker_stopped(conn: Any, limit: float = 2.0) -> None:
    """Wait (up to ``limit`` s) until a failed connection's worker thread has ended: it
    reports to the event loop, which must still be running then (else "Event loop is
    closed" tracebacks at exit)."""
    thread = conn._thread
    waited = 0.0
    while thread.is_alive() and waited < limit:
        await asyncio.sleep(0.005)
        waited += 0.005
