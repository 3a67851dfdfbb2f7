"""``ohf-persistence bench`` end to end on small workloads: shape and sanity of the report.

Speed itself is measured by running the bench (docs/performance.md), never asserted here.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import open_store
from ohf_persistence.benchmark.phases import NAMES
from ohf_persistence.benchmark.scale import run_scale
from ohf_persistence.benchmark.workload import MACHINES_PER_REQUEST, RARE_STATUS, build
from ohf_persistence.cli import main
from ohf_persistence.domain import MachineStatus
from tests.conftest import BACKENDS

N = 200
PHASE_KEYS = {
    "name",
    "ops",
    "seconds",
    "ops_per_s",
    "baseline_ops_per_s",
    "ratio",
    "api_calls",
    "min_api_calls",
}


def bench_json(capsys: pytest.CaptureFixture[str], url: str, machines: int = N) -> dict[str, Any]:
    assert main(["bench", "--url", url, "--machines", str(machines), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar when stderr is not a terminal
    report: dict[str, Any] = json.loads(out)
    return report


def expected_ops(machines: int) -> dict[str, int]:
    return {
        "save_many": machines,
        "get_by_id": machines,
        "get_by_request_id": math.ceil(machines / MACHINES_PER_REQUEST),
        "get_by_status": len(MachineStatus),
        "get_by_instance_ids": math.ceil(machines / 1000),
        "update_status": machines,
        "page": math.ceil(machines / 100),
        "delete": machines,
    }


def check_report(report: dict[str, Any], backend: str, baseline: bool, machines: int = N) -> None:
    assert set(report) == {"backend", "machines", "phases"}
    assert report["backend"] == backend
    assert report["machines"] == machines
    phases = {p["name"]: p for p in report["phases"]}
    assert list(phases)[: len(NAMES) - 1] == list(NAMES[:-1])
    assert list(phases)[-1] == "delete"
    for name, ops in expected_ops(machines).items():
        assert phases[name]["ops"] == ops, name
    for phase in report["phases"]:
        assert set(phase) == PHASE_KEYS
        assert phase["seconds"] > 0
        assert phase["ops_per_s"] == pytest.approx(phase["ops"] / phase["seconds"])
        with_baseline = baseline and phase["name"] in NAMES
        if with_baseline:
            assert phase["baseline_ops_per_s"] > 0
            assert phase["ratio"] == pytest.approx(phase["ops_per_s"] / phase["baseline_ops_per_s"])
        else:
            assert phase["baseline_ops_per_s"] is None
            assert phase["ratio"] is None
        if backend != "dynamodb":
            assert phase["api_calls"] is None
            assert phase["min_api_calls"] is None


def test_bench_memory(capsys: pytest.CaptureFixture[str]) -> None:
    check_report(bench_json(capsys, "memory://"), "memory", baseline=False)


def test_bench_sqlite_leaves_nothing_behind(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    check_report(bench_json(capsys, url), "sqlite", baseline=True)

    async def counts() -> tuple[int, int, int]:
        async with open_store(url) as store:
            return (
                await store.machines.count(),
                await store.requests.count(),
                await store.templates.count(),
            )

    assert asyncio.run(counts()) == (0, 0, 0)
    with sqlite3.connect(tmp_path / "bench.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not [t for t in tables if t.startswith("bench_raw")]


def test_bench_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--url", "memory://", "--machines", "45"]) == 0
    out = capsys.readouterr().out
    assert "backend memory, 45 machines" in out
    for name in NAMES:
        assert name in out


def test_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--url", "memory://", "--machines", "0"]) == 2
    assert main(["bench", "--url", "memory://", "--scale", "--scale-machines", "10"]) == 2
    capsys.readouterr()


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled")
def test_bench_postgres(capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("postgres_url")
    check_report(bench_json(capsys, url), "postgresql", baseline=True)


@pytest.mark.skipif("dynamodb" not in BACKENDS, reason="DynamoDB tests disabled")
def test_bench_dynamodb_counts_calls(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    from tests.backends.dynamodb import dynamodb_url, fresh_prefix

    endpoint: str = request.getfixturevalue("moto_endpoint")
    machines = 100
    report = bench_json(capsys, dynamodb_url(endpoint, fresh_prefix()), machines)
    check_report(report, "dynamodb", baseline=False, machines=machines)
    phases = {p["name"]: p for p in report["phases"]}
    minimum = {
        "save_many": 1,  # one TransactWriteItems per 100 machines
        "get_by_id": machines,
        "get_by_request_id": machines // MACHINES_PER_REQUEST,
        "get_by_status": len(MachineStatus),  # every answer is under 1 MB
        "get_by_instance_ids": 1,  # one BatchGetItem per 100 ids
        "update_status": machines,
        "page": 1,
        "delete": machines,
    }
    for name, calls in minimum.items():
        assert phases[name]["min_api_calls"] == calls, name
        assert phases[name]["api_calls"] >= calls, name
    concurrent = [p for p in report["phases"] if p["name"].startswith("get_by_id_x50")]
    assert len(concurrent) == 4
    assert all(p["ops"] == 50 and p["api_calls"] == 50 for p in concurrent)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_scale_run_shape(backend: str, tmp_path: Path) -> None:
    url = "memory://" if backend == "memory" else f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    report = asyncio.run(run_scale(url, machines=60, total=200)).to_json()
    assert report["backend"] == ("memory" if backend == "memory" else "sqlite")
    assert (report["machines"], report["scale_machines"]) == (60, 200)
    assert report["load_seconds"] > 0
    names = [p["name"] for p in report["phases"]]
    assert names == [
        "get_by_request_id",
        f"get_by_status({RARE_STATUS.value})",
        "get_by_id",
        "page",
    ]
    for phase in report["phases"]:
        assert phase["ops"] > 0
        assert phase["seconds_small"] > 0 and phase["seconds_large"] > 0
        assert phase["ratio"] == pytest.approx(phase["seconds_large"] / phase["seconds_small"])
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "s.db") as conn:
            assert conn.execute("SELECT count(*) FROM machines").fetchone() == (0,)


def test_workload_shape() -> None:
    w = build(45, prefix="bench-x-")
    assert len(w.machines) == 45 and len(w.requests) == 3
    assert sorted(w.lookup_order) == [m.machine_id for m in w.machines]
    assert [len(chunk) for chunk in w.instance_id_chunks()] == [45]
    low, high = w.key_range
    assert all(low <= m.machine_id < high for m in w.machines)
    assert sum(len(r.machine_ids) for r in w.requests) == 45
    assert sum(w.status_counts().values()) == 45
