"""Backends are registered in one place (``adapters.BACKENDS``), imported only when used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ohf_persistence import adapters, open_store, schema
from ohf_persistence.config import resolve_config

URLS = {
    "memory": "memory://",
    "sqlite": "sqlite+aiosqlite:///:memory:",
    "postgresql": "postgresql+asyncpg://u@127.0.0.1/db",
    "dynamodb": "dynamodb://?region=us-east-1",
}


def test_every_backend_a_url_names_is_registered_with_an_opener_and_schema() -> None:
    assert set(adapters.BACKENDS) == set(URLS)
    for name, url in URLS.items():
        assert resolve_config(url).backend == name
        assert callable(adapters.opener(name))
        module = adapters.schema_module(name)
        if name == "memory":
            assert module is None
        else:
            assert module is not None
            assert all(callable(getattr(module, f)) for f in ("migrate", "current", "check"))


def test_a_missing_driver_names_the_registered_extra() -> None:
    error = adapters.missing_driver("dynamodb", ImportError("No module named 'pynamodb'"))
    assert "pip install 'ohf-persistence[dynamodb]'" in str(error)
    assert "pynamodb" in str(error)


async def test_memory_has_no_schema_through_the_registry() -> None:
    assert await schema.current("memory://") == "memory"
    async with open_store("memory://") as store:
        assert store.backend == "memory"


COLD = """
import asyncio, json, sys
from ohf_persistence import open_store, Machine

async def main(url):
    async with open_store(url, migrate=True) as store:
        await store.machines.save(Machine("i-1"))
        assert (await store.machines.get_by_id("i-1")) is not None
    if url.startswith("sqlite"):  # and an existing file, opened again
        async with open_store(url) as store:
            assert (await store.machines.get_by_id("i-1")) is not None
    heavy = ("pynamodb", "botocore", "boto3", "asyncpg")
    print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_opening_memory_or_sqlite_imports_no_other_backend_driver(tmp_path: Path, url: str) -> None:
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'cold.db'}"
    done = subprocess.run(
        [sys.executable, "-c", COLD, url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
