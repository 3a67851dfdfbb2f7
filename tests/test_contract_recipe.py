"""The contract-suite recipe in ``ohf_persistence.testing``'s docstring works as written for a
third party: a separate project (its own folder and pytest.ini, pytest-asyncio's default
strict mode, not this repository's ``asyncio_mode = "auto"``) runs the installed package's
suite against its own ``store`` fixture, in a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import ohf_persistence.testing as testing


def _recipe() -> str:
    doc = testing.__doc__ or ""
    block = re.search(r"::\n\n((?:    .*\n|\n)+)", doc)
    assert block is not None, "the docstring has no code block"
    return textwrap.dedent(block.group(1))


def _run_project(tmp_path: Path, test_code: str, ini: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "third_party"
    project.mkdir()
    (project / "pytest.ini").write_text(ini)
    (project / "test_my_database.py").write_text(test_code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _count(summary: str, word: str) -> int:
    found = re.search(rf"(\d+) {word}", summary)
    return int(found.group(1)) if found else 0


def test_the_documented_recipe_runs_the_whole_suite_in_strict_mode(tmp_path: Path) -> None:
    recipe = _recipe()
    assert "StoreContract" in recipe and "pytest_asyncio.fixture" in recipe
    done = _run_project(tmp_path, recipe, "[pytest]\nasyncio_mode = strict\n")
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # every contract ran (the suite has well over 100 tests) and none was skipped or errored
    assert _count(summary, "passed") >= 100, summary
    assert _count(summary, "skipped") == 0 and _count(summary, "error") == 0, summary


def test_store_contract_holds_every_contract_and_no_test_is_shadowed() -> None:
    contracts = [
        testing.RepositoryContract,
        testing.TemplateQueriesContract,
        testing.RequestQueriesContract,
        testing.MachineQueriesContract,
        testing.FilterContract,
        testing.PagingContract,
        testing.VersionContract,
        testing.StatusContract,
        testing.UnitOfWorkContract,
        testing.ValuesContract,
    ]
    assert all(issubclass(testing.StoreContract, c) for c in contracts)
    names = [n for c in contracts for n in vars(c) if n.startswith("test_")]
    assert len(names) == len(set(names))  # a repeated name would hide one contract's test
    assert not hasattr(testing, "CONTRACTS")
