"""Helpers shared by the SQL-specific tests (PostgreSQL databases, skip/fail rules)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from tests.backends.postgres import _admin, postgres_base_url, unavailable


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new empty PostgreSQL database (URL), dropped afterwards."""
    base = postgres_base_url()
    name = f"ohf_scratch_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server: skip locally, fail on CI
        unavailable(f"cannot create a database on the test server ({type(exc).__name__}: {exc})")
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
