"""Test wiring: the ``store`` fixture is parametrized over every backend in tests/backends/.

A backend is one module ``tests/backends/<name>.py`` defining an async fixture ``<name>_store``
that yields a fresh, empty, migrated store. Adding a backend means adding that module; no test
changes. ``OHF_TEST_BACKENDS=memory,sqlite`` restricts the backend-parametrized tests (the
contract suite, the differential test) of a local run; every backend module stays loaded so
backend-specific tests keep their fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ORDER = ["memory", "sqlite", "postgres", "dynamodb"]
_found = {p.stem for p in (Path(__file__).parent / "backends").glob("*.py")} - {"__init__"}
ALL_BACKENDS = [name for name in ORDER if name in _found] + sorted(_found - set(ORDER))
BACKENDS = ALL_BACKENDS
if os.environ.get("OHF_TEST_BACKENDS"):
    BACKENDS = [b for b in BACKENDS if b in os.environ["OHF_TEST_BACKENDS"].split(",")]

pytest_plugins = [f"tests.backends.{name}" for name in ALL_BACKENDS]
# URL factories (fresh SQLite files, PostgreSQL databases, DynamoDB prefixes) for the CLI and
# interop tests.
pytest_plugins.append("tests.test_interop_support")


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def store(request: pytest.FixtureRequest, backend_name: str) -> object:
    return request.getfixturevalue(f"{backend_name}_store")


@pytest.fixture
def orb_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An ORB installation rooted in tmp_path (ORB_ROOT_DIR), no OHF_STORAGE_URL, the storage
    type ``ohf`` registered (ORB's tests only: needs orb-py)."""
    from ohf_persistence import orb as ohf_orb

    monkeypatch.delenv("OHF_STORAGE_URL", raising=False)
    monkeypatch.setenv("ORB_ROOT_DIR", str(tmp_path / "orb"))
    monkeypatch.chdir(tmp_path)
    ohf_orb.register()
    return tmp_path
