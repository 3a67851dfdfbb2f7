"""The SQLite backend (a WAL file per test) for the contract suite.

Alembic migrates one template database per session; each test gets a copy of that file
(cheaper than migrating again, and every test starts from an empty, migrated schema).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ohf_persistence import Store, migrate, open_store


@pytest.fixture(scope="session")
def sqlite_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
async def sqlite_store(sqlite_template_db: Path, tmp_path: Path) -> AsyncIterator[Store]:
    path = tmp_path / "ohf.db"
    shutil.copyfile(sqlite_template_db, path)
    async with open_store(f"sqlite+aiosqlite:///{path}") as store:
        yield store
