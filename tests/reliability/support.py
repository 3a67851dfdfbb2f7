"""Shared pieces of the reliability tests: child processes and SQL store URLs."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ohf_persistence import open_store
from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
SQL_BACKENDS = [name for name in ("sqlite", "postgres") if name in BACKENDS]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OHF_STORAGE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def spawn(module: str, *args: str) -> subprocess.Popen[str]:
    """``python -m tests.reliability.<module> args…`` with stdout piped (text, line-buffered)."""
    return subprocess.Popen(
        [sys.executable, "-m", f"tests.reliability.{module}", *args],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated SQLite file or PostgreSQL database (tables emptied).

    Synchronous on purpose: the session fixtures it builds on call ``asyncio.run``."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template_db")
        path = tmp_path / "shared.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    in_thread(lambda: _empty(url))
    return url


async def _empty(url: str) -> None:
    from tests.backends.postgres import empty_tables

    async with open_store(url) as store:
        await empty_tables(store)


def in_thread(work: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to completion whether or not this thread has an event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(work())).result()  # type: ignore[arg-type]
