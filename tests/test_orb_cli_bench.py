"""The ORB measurements (``python -m ohf_persistence.orb.bench``) run end to end at a small N
and report every phase of every storage: structure only, never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ohf_persistence import sync
from ohf_persistence.orb.bench import PHASES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_bench_reports_every_phase_and_leaves_a_given_store_clean(
    tmp_path: Path, postgres_url_factory: object
) -> None:
    url: str = sync.run(postgres_url_factory())  # type: ignore[operator]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OHF_"))}
    argv = ["-n", "3", "--status-runs", "2", "--url", url, "--work-dir", str(tmp_path / "work")]
    done = subprocess.run(
        [sys.executable, "-m", "ohf_persistence.orb.bench", *argv, "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 3
    ohf_url = f"ohf:{url}"
    storages = [r["storage"] for r in report["repositories"]]
    assert storages == ["dict", "sqlite3", "json", "ohf-sqlite", ohf_url]
    for result in report["repositories"]:
        assert [p["name"] for p in result["phases"]] == list(PHASES)
        for phase in result["phases"]:
            assert phase["operations"] == 3 and phase["seconds"] > 0 and phase["per_second"] > 0
    assert [s["storage"] for s in report["status"]] == ["json", "ohf-sqlite", ohf_url]
    for status in report["status"]:
        assert len(status["seconds"]) == 2 and status["median"] > 0
    # ORB really ran on each storage: the JSON file and the SQLite store exist...
    work = tmp_path / "work"
    assert (work / "json" / "request_database.json").is_file()
    assert (work / "status-ohf.db").is_file()
    assert (work / "sqlite3.db").is_file()  # the stdlib-sqlite3 floor really wrote there
    # ...and a store the bench was given gets back what it had: nothing.
    with sync.open_store(url) as store:
        assert store.requests.count() == 0 and store.machines.count() == 0


def test_bench_text_report_names_every_phase_and_the_floor(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ohf_persistence.orb.bench", "-n", "2", "--skip-status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("storage"))
    assert header.split() == ["storage", *PHASES]
    assert any(line.startswith("  ohf-sqlite vs dict: save ") for line in lines)
    assert any(line.startswith("  sqlite3 vs dict: save ") for line in lines)
    assert not any("orb requests status" in line for line in lines)  # skipped as asked
    bad = subprocess.run(
        [sys.executable, "-m", "ohf_persistence.orb.bench", "-n", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_sql_replay_script_replays_every_statement_ohf_sent(tmp_path: Path) -> None:
    """scripts/orb_sql_replay.py (docs/orb.md, Cost): one INSERT per ORB save, replayed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "orb_sql_replay.py"), "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rounds = [line for line in done.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 3
    assert all("5 statements replayed on sqlite3" in line for line in rounds), rounds
    assert all("zero-cost bridge 0." in line for line in rounds), rounds
