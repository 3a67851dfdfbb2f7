"""Every private library detail the SQL adapter relies on, in one place.

Each accessor is used for speed (skipping per-call work SQLAlchemy or ``json`` would repeat) or
because no public API exposes the fact. tests/test_sql_internals.py exercises each one, so an
upgrade that changes them fails there, loudly, instead of somewhere in a repository.
"""

from __future__ import annotations

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


# The C scanner behind ``json.loads`` without its wrapper (type checks, whitespace skipping).
_SCAN: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def json_scan(text: str) -> tuple[Any, int]:
    """``(value, end)`` of the JSON document starting at ``text[0]``."""
    result: tuple[Any, int] = _SCAN(text, 0)
    return result
