"""Alembic: round trips on SQLite and PostgreSQL, data across revisions, the wheel's copy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ohf_persistence
from ohf_persistence import Machine, SchemaOutOfDate, Template, open_store
from ohf_persistence.adapters.sql.migrations import _scripts, head_revision, history
from tests.sql_support import scratch_postgres_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    else:
        with scratch_postgres_database() as url:
            yield url


def _alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_round_trip_upgrade_check_downgrade_upgrade(empty_url: str) -> None:
    assert await ohf_persistence.current(empty_url) is None
    await ohf_persistence.migrate(empty_url)
    assert await ohf_persistence.current(empty_url) == head_revision()
    assert await ohf_persistence.check(empty_url) == []
    await ohf_persistence.downgrade(empty_url, "base")
    assert await ohf_persistence.current(empty_url) is None
    with pytest.raises(SchemaOutOfDate, match="ohf-persistence migrate"):
        await open_store(empty_url)
    await ohf_persistence.migrate(empty_url)
    assert await ohf_persistence.check(empty_url) == []
    async with open_store(empty_url) as store:
        assert await store.machines.count() == 0


def test_alembic_command_line_from_the_repository_root(empty_url: str) -> None:
    upgraded = _alembic(empty_url, "upgrade", "head")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _alembic(empty_url, "check")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    down = _alembic(empty_url, "downgrade", "base")
    assert down.returncode == 0, down.stderr


def _revisions_oldest_first() -> list[tuple[str, str | None]]:
    scripts = list(_scripts().walk_revisions())
    return [(s.revision, s.down_revision) for s in reversed(scripts)]  # type: ignore[misc]


def test_revision_chain_is_linear_and_ends_at_head() -> None:
    chain = _revisions_oldest_first()
    assert chain[0][1] is None
    for (previous, _), (_, down) in itertools.pairwise(chain):
        assert down == previous
    assert chain[-1][0] == head_revision()


async def test_history_lists_every_revision() -> None:
    lines = await history()
    assert len(lines) == len(_revisions_oldest_first())
    assert lines[0].startswith(f"{head_revision()} (head):")


async def test_data_written_at_head_survives_downgrade_and_upgrade_of_later_revisions(
    empty_url: str,
) -> None:
    """For every revision after the first: downgrade below it and upgrade back, data intact.

    With only the initial revision there is nothing to step over yet; the loop then only checks
    the data at head, and covers each revision added later automatically.
    """
    await ohf_persistence.migrate(empty_url)
    template = Template("t-1", attributes={"ncpus": ["Numeric", "2"]})
    machine = Machine("i-1", request_id="req-1", tags={"a": 1.5})
    async with open_store(empty_url) as store:
        await store.templates.save(template)
        await store.machines.save(machine)
    later = [revision for revision, down in _revisions_oldest_first() if down is not None]
    for revision in reversed(later):
        down = dict(_revisions_oldest_first())[revision]
        assert down is not None
        await ohf_persistence.downgrade(empty_url, down)
        await ohf_persistence.migrate(empty_url)
    async with open_store(empty_url) as store:
        assert await store.templates.get_by_id("t-1") == template
        assert await store.machines.get_by_id("i-1") == machine
    assert await ohf_persistence.check(empty_url) == []


@pytest.mark.slow
def test_wheel_migrates_from_outside_the_repository(tmp_path: Path) -> None:
    """``pip wheel`` -> fresh venv -> ``ohf-persistence migrate`` (or the API) from elsewhere."""
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    pip = [sys.executable, "-m", "pip"]
    run = {"capture_output": True, "text": True, "timeout": 600, "check": False}
    built = subprocess.run([*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)], **run)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("ohf_persistence-*.whl"))
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], **run)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OHF_STORAGE_URL")}
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], env=env, **run
    )
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    api_db, cli_db = tmp_path / "api.db", tmp_path / "cli.db"
    code = (
        "import asyncio, ohf_persistence\n"
        f"asyncio.run(ohf_persistence.migrate('sqlite+aiosqlite:///{api_db}'))\n"
        f"print(asyncio.run(ohf_persistence.current('sqlite+aiosqlite:///{api_db}')))\n"
        "print(ohf_persistence.__file__)\n"
    )
    by_api = subprocess.run([str(python), "-c", code], cwd=elsewhere, env=env, **run)
    assert by_api.returncode == 0, by_api.stderr
    revision, location = by_api.stdout.split()
    assert revision == head_revision()
    assert str(venv) in location  # the installed copy, not this checkout
    cli = venv / "bin" / "ohf-persistence"
    if cli.exists():
        url = f"sqlite+aiosqlite:///{cli_db}"
        migrated = subprocess.run(
            [str(cli), "migrate", "--url", url], cwd=elsewhere, env=env, **run
        )
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        checked = subprocess.run([str(cli), "check", "--url", url], cwd=elsewhere, env=env, **run)
        assert checked.returncode == 0, checked.stderr + checked.stdout
