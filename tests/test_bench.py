"""``ohf-persistence bench`` end to end on small workloads: shape and consistency of the report.

Speed itself is measured by running the bench (docs/performance.md), never asserted here: every
check below is about structure (phases, rounds, JSON keys) and about the reported figures being
computed from the measured ones.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import open_store
from ohf_persistence.benchmark.phases import NAMES, READS, Outcome
from ohf_persistence.benchmark.raw_sql import open_driver, plain_rows
from ohf_persistence.benchmark.report import AGREEMENT, TARGET_RATIO, PhaseResult, quartiles
from ohf_persistence.benchmark.runner import MAX_PASSES, MIN_ROUNDS, measure
from ohf_persistence.benchmark.scale import run_scale
from ohf_persistence.benchmark.workload import (
    MACHINES_PER_REQUEST,
    RARE_STATUS,
    SINGLE_EVERY,
    build,
)
from ohf_persistence.cli import main
from ohf_persistence.domain import MachineStatus
from tests.conftest import BACKENDS

N = 200
PHASE_KEYS = {
    "name",
    "ops",
    "rows",
    "seconds",
    "ops_per_s",
    "baseline_seconds",
    "baseline_ops_per_s",
    "ratio",
    "ratio_min",
    "ratio_q1",
    "ratio_q3",
    "ratio_max",
    "wall_ratio",
    "wall_ratio_q1",
    "wall_ratio_q3",
    "rounds",
    "round_calls",
    "round_seconds",
    "round_cpu_seconds",
    "api_calls",
    "min_api_calls",
}


def bench_json(capsys: pytest.CaptureFixture[str], url: str, *extra: str) -> dict[str, Any]:
    args = ["bench", "--url", url, "--json", *extra]
    if "--machines" not in extra:
        args += ["--machines", str(N)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar when stderr is not a terminal
    report: dict[str, Any] = json.loads(out)
    return report


def natural_calls(machines: int, save_chunk: int) -> dict[str, int]:
    """Calls of each phase in one pass (save_many: machines written)."""
    singles = machines // SINGLE_EVERY
    return {
        "save_many": machines - singles,
        "save_new": singles,
        "save_changed": machines,
        "get_by_id": machines,
        "get_by_request_id": math.ceil(machines / MACHINES_PER_REQUEST),
        "get_by_status": len(MachineStatus),
        "get_by_instance_ids": math.ceil(machines / 1000),
        "update_status": machines,
        "page": math.ceil(machines / 100),
        "delete": machines,
    }


def check_report(
    report: dict[str, Any], backend: str, baseline: bool, machines: int = N, chunk: int = 500
) -> None:
    assert set(report) == {"backend", "machines", "target_ratio", "phases", "notes"}
    assert (report["backend"], report["machines"]) == (backend, machines)
    assert report["target_ratio"] == TARGET_RATIO
    assert not [n for n in report["notes"] if n.startswith("warning")]  # raw did the same work
    names = [p["name"] for p in report["phases"]]
    assert [n for n in names if n in NAMES] == list(NAMES)
    phases = {p["name"]: p for p in report["phases"]}
    for name, ops in natural_calls(machines, chunk).items():
        phase = phases[name]
        if baseline and name in READS:
            # Reads repeat whole or partial passes until they have enough rounds.
            assert ops <= phase["ops"] <= max(ops * MAX_PASSES, MIN_ROUNDS), name
            assert phase["rounds"] >= MIN_ROUNDS or phase["ops"] == ops * MAX_PASSES, name
        else:
            assert phase["ops"] == ops, name
    for phase in report["phases"]:
        check_phase(phase, backend, baseline and phase["name"] in NAMES)


def check_phase(phase: dict[str, Any], backend: str, with_baseline: bool) -> None:
    assert set(phase) == PHASE_KEYS
    assert phase["seconds"] > 0
    assert phase["ops_per_s"] == pytest.approx(phase["ops"] / phase["seconds"])
    if not with_baseline:
        for key in ("baseline_seconds", "baseline_ops_per_s", "ratio", "wall_ratio"):
            assert phase[key] is None, key
        assert phase["round_seconds"] == [] and phase["rounds"] == 0
    else:
        rounds, cpu = phase["round_seconds"], phase["round_cpu_seconds"]
        assert phase["rounds"] == len(rounds) == len(cpu) == len(phase["round_calls"]) > 0
        # Totals are the sums of the rounds; ops/s come from the totals.
        assert phase["seconds"] == pytest.approx(sum(o for o, _ in rounds))
        assert phase["baseline_seconds"] == pytest.approx(sum(r for _, r in rounds))
        assert phase["baseline_ops_per_s"] == pytest.approx(
            phase["ops"] / phase["baseline_seconds"]
        )
        if phase["name"] != "save_many":  # save_many counts machines, rounds count calls
            assert sum(phase["round_calls"]) == phase["ops"]
        # The ratio is the median of the per-round CPU ratios, its spread their quartiles.
        ratios = [r / o for o, r in cpu if o > 0 and r > 0]
        q1, median, q3 = quartiles(ratios)
        assert phase["ratio"] == pytest.approx(median)
        assert (phase["ratio_q1"], phase["ratio_q3"]) == (pytest.approx(q1), pytest.approx(q3))
        assert (phase["ratio_min"], phase["ratio_max"]) == (
            pytest.approx(min(ratios)),
            pytest.approx(max(ratios)),
        )
        assert phase["ratio_min"] <= phase["ratio_q1"] <= phase["ratio"] <= phase["ratio_q3"]
        assert phase["ratio_q3"] <= phase["ratio_max"]
        wall = [r / o for o, r in rounds]
        assert phase["wall_ratio"] == pytest.approx(statistics.median(wall))
    if backend != "dynamodb":
        assert phase["api_calls"] is None and phase["min_api_calls"] is None


def test_bench_memory(capsys: pytest.CaptureFixture[str]) -> None:
    check_report(bench_json(capsys, "memory://"), "memory", baseline=False, chunk=1000)


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
    # The raw baseline's own database file is gone too.
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("bench_raw")]


def test_bench_text_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["bench", "--url", "memory://", "--machines", "45"]) == 0
    out = capsys.readouterr().out
    assert "backend memory, 45 machines" in out
    for name in NAMES:
        assert name in out
    url = f"sqlite+aiosqlite:///{tmp_path / 'text.db'}"
    assert main(["bench", "--url", url, "--machines", "45"]) == 0
    out = capsys.readouterr().out
    assert "wall ratio" in out and "q1-q3" in out and f"Target >= {TARGET_RATIO}" in out


def test_bench_runs_agreement(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    report = bench_json(capsys, url, "--machines", "60", "--runs", "2")
    assert set(report) == {
        "backend",
        "machines",
        "target_ratio",
        "agreement_within",
        "runs",
        "agreement",
    }
    assert report["agreement_within"] == AGREEMENT
    assert len(report["runs"]) == 2
    for run in report["runs"]:
        check_report(run, "sqlite", baseline=True, machines=60)
    assert list(report["agreement"]) == list(NAMES)
    for name, agreement in report["agreement"].items():
        ratios = [
            next(p for p in r["phases"] if p["name"] == name)["ratio"] for r in report["runs"]
        ]
        assert agreement["ratios"] == pytest.approx(ratios)
        median = statistics.median(ratios)
        assert agreement["median"] == pytest.approx(median)
        assert agreement["range"] == pytest.approx(max(ratios) - min(ratios))
        assert agreement["agree"] == all(abs(r - median) <= AGREEMENT for r in ratios)


def test_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--url", "memory://", "--machines", "0"]) == 2
    assert main(["bench", "--url", "memory://", "--scale", "--scale-machines", "10"]) == 2
    assert main(["bench", "--url", "memory://", "--cold-start"]) == 2
    assert main(["bench", "--url", "sqlite+aiosqlite:///:memory:", "--cold-start"]) == 2
    capsys.readouterr()


def test_measure_interleaves_rounds() -> None:
    """Rounds alternate ours-first and raw-first, run the same calls on both sides, and cover
    every call of a write phase exactly once."""
    log: list[tuple[str, int, int]] = []

    def side(label: str) -> Any:
        async def run(start: int, stop: int) -> Outcome:
            log.append((label, start, stop))
            await asyncio.sleep(0)
            return Outcome(stop - start, stop - start)

        return run

    result, ours, raw = asyncio.run(
        measure("update_status", side("ours"), side("raw"), 250, lambda *_: _NullBar())
    )
    assert raw is not None and ours.ops == raw.ops == 250 == result.ops
    pairs = [log[i : i + 2] for i in range(0, len(log), 2)]
    assert len(pairs) == len(result.rounds) == len(result.round_calls)
    for k, (first, second) in enumerate(pairs):
        assert first[1:] == second[1:]  # the same slice on both sides
        assert (first[0], second[0]) == (("ours", "raw") if k % 2 == 0 else ("raw", "ours"))
    covered = [i for _, start, stop in log if _ == "ours" for i in range(start, stop)]
    assert covered == list(range(250))


def test_measure_repeats_reads_for_enough_rounds() -> None:
    async def run(start: int, stop: int) -> Outcome:
        return Outcome(stop - start, 0)

    result, _, _ = asyncio.run(
        measure("get_by_status", run, run, 10, lambda *_: _NullBar(), repeatable=True)
    )
    # Few calls: one call per round, whole passes, at least MIN_ROUNDS rounds.
    assert len(result.rounds) == result.ops == 10 * math.ceil(MIN_ROUNDS / 10)
    assert set(result.round_calls) == {1}
    many, _, _ = asyncio.run(
        measure("get_by_id", run, run, MIN_ROUNDS * 3, lambda *_: _NullBar(), repeatable=True)
    )
    assert len(many.rounds) >= MIN_ROUNDS
    assert MIN_ROUNDS * 3 <= many.ops <= MIN_ROUNDS * 3 * MAX_PASSES
    # Without a baseline a read phase runs its calls once.
    alone, _, none = asyncio.run(
        measure("get_by_status", run, None, 10, lambda *_: _NullBar(), repeatable=True)
    )
    assert (alone.ops, alone.rounds, none) == (10, [], None)


class _NullBar:
    def update(self, count: int, label: str | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def test_raw_per_call_writes_are_guarded(tmp_path: Path) -> None:
    """The raw baseline's per-call statements refuse what ours refuses: a second insert of a
    key, an update from a stale version."""
    w = build(3, prefix="bench-guard-")
    rows = plain_rows(w)

    async def scenario() -> list[bool]:
        raw = open_driver("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", "bench_raw_g")
        await raw.open()
        try:
            await raw.create()
            row = dict(rows[0])
            first, again = await raw.insert_one(row), await raw.insert_one(row)
            row["version"] = 2
            updated = await raw.update_versioned(row, 1)
            stale = await raw.update_versioned(row, 1)
            stored = await raw.get(row["machine_id"])
            return [first, again, updated, stale, stored is not None and stored["version"] == 2]
        finally:
            await raw.close()

    assert asyncio.run(scenario()) == [True, False, True, False, True]


def test_benchmark_does_not_import_the_cli() -> None:
    """The bench is a library module; the command line imports it, never the other way."""
    code = (
        "import sys\n"
        "import ohf_persistence.benchmark, ohf_persistence.benchmark.runner\n"
        "import ohf_persistence.benchmark.scale, ohf_persistence.benchmark.cold_start\n"
        "from ohf_persistence.benchmark.report import Report, PhaseResult\n"
        "from ohf_persistence.benchmark.scale import ScaleReport, ScalePhase\n"
        "r = Report('sqlite', 1, [PhaseResult('get_by_id', 1, 1.0, 1, 1.0, [(1.0, 1.0)],"
        " [(1.0, 1.0)], [1])])\n"
        "r.text(); ScaleReport('memory', 1, 2, 1.0, [ScalePhase('page', 1, 1.0, 1.0)]).text()\n"
        "print(sorted(m for m in sys.modules if m.startswith('ohf_persistence.cli')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_cold_start_mode(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cold.db'}"
    report = bench_json(capsys, url, "--cold-start", "--machines", "40", "--rounds", "2")
    assert report["mode"] == "cold_start" and report["backend"] == "sqlite"
    assert report["rounds"] == 2
    ours, floor = report["ours"], report["floor"]
    for side in (ours, floor):
        assert len(side["wall_seconds"]) == 2
        assert side["median_wall"] == pytest.approx(statistics.median(side["wall_seconds"]))
        assert side["rows"] == MACHINES_PER_REQUEST  # both answered the same call
        # A child's own split fits inside the wall time its parent measured.
        assert 0 < side["median_import"] + side["median_open"] < side["median_wall"]
    # The floor imports nothing heavy; ours reports what it imported.
    assert floor["heavy_modules"] == []
    assert isinstance(ours["heavy_modules"], list)
    ratios = [o / f for o, f in zip(ours["cpu_seconds"], floor["cpu_seconds"], strict=True)]
    assert report["ratio"] == pytest.approx(statistics.median(ratios))
    assert report["ratio_min"] == pytest.approx(min(ratios))
    assert report["ratio_max"] == pytest.approx(max(ratios))
    walls = [o / f for o, f in zip(ours["wall_seconds"], floor["wall_seconds"], strict=True)]
    assert report["wall_ratio"] == pytest.approx(statistics.median(walls))
    for side in (ours, floor):
        assert side["median_cpu"] == pytest.approx(statistics.median(side["cpu_seconds"]))
        assert all(cpu > 0 for cpu in side["cpu_seconds"])

    async def counts() -> tuple[int, int]:
        async with open_store(url) as store:
            return await store.machines.count(), await store.requests.count()

    assert asyncio.run(counts()) == (0, 0)  # the bench's own rows are gone


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled")
def test_bench_postgres(capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("postgres_url")
    check_report(bench_json(capsys, url), "postgresql", baseline=True)


@pytest.mark.skipif("postgres" not in BACKENDS, reason="PostgreSQL tests disabled")
def test_postgres_cpu_meters_see_both_sides(request: pytest.FixtureRequest) -> None:
    """On a local server the CPU of each side includes its own backends, and only those."""
    url: str = request.getfixturevalue("postgres_url")

    async def scenario() -> tuple[list[int], list[int], float, float]:
        async with open_store(url) as store:
            await store.machines.count()  # the store has a connection open now
            raw = open_driver("postgresql", url, "bench_raw_meters")
            await raw.open()
            try:
                ours_cpu, raw_cpu, refresh = await raw.meters()
                assert refresh is not None
                await refresh()
                backends = refresh.__self__  # type: ignore[attr-defined]
                return backends.ours, backends.raw, ours_cpu(), raw_cpu()
            finally:
                await raw.close()

    ours, raw, ours_cpu, raw_cpu = asyncio.run(scenario())
    assert len(raw) == 1 and raw[0] not in ours and ours
    assert ours_cpu > 0 and raw_cpu > 0


@pytest.mark.skipif("dynamodb" not in BACKENDS, reason="DynamoDB tests disabled")
def test_bench_dynamodb_counts_calls(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest
) -> None:
    from tests.backends.dynamodb import dynamodb_url, fresh_prefix

    endpoint: str = request.getfixturevalue("moto_endpoint")
    machines = 100
    report = bench_json(capsys, dynamodb_url(endpoint, fresh_prefix()), "--machines", "100")
    check_report(report, "dynamodb", baseline=False, machines=machines, chunk=100)
    phases = {p["name"]: p for p in report["phases"]}
    singles = machines // SINGLE_EVERY
    minimum = {
        "save_many": 1,  # one TransactWriteItems per 100 machines
        "save_new": singles,  # one call each
        "save_changed": machines,
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
        assert phase["cpu_seconds_small"] > 0 and phase["cpu_seconds_large"] > 0
        assert phase["wall_ratio"] == pytest.approx(phase["seconds_large"] / phase["seconds_small"])
        # Memory and SQLite do all their work in this process: the ratio is by CPU time.
        assert phase["ratio_by"] == "cpu"
        assert phase["ratio"] == pytest.approx(
            phase["cpu_seconds_large"] / phase["cpu_seconds_small"]
        )
    if backend == "sqlite":
        with sqlite3.connect(tmp_path / "s.db") as conn:
            assert conn.execute("SELECT count(*) FROM machines").fetchone() == (0,)


def test_phase_result_ratio_is_the_round_median() -> None:
    p = PhaseResult("get_by_id", 30, 3.0, 30, 2.0, [(1.0, 0.5), (1.0, 1.0), (1.0, 0.5)])
    p.cpu_rounds = [(1.0, 0.9), (1.0, 0.5), (2.0, 1.0)]
    assert p.ratio == pytest.approx(0.5)  # median of 0.9, 0.5, 0.5
    assert p.spread == (0.5, 0.5, 0.5, 0.7, 0.9)
    assert p.wall_spread is not None and p.wall_spread[2] == pytest.approx(0.5)
    assert p.ops_per_s == 10 and p.baseline_ops_per_s == 15


def test_workload_shape() -> None:
    w = build(45, prefix="bench-x-")
    assert len(w.machines) == 45 and len(w.requests) == 3
    assert sorted(w.lookup_order) == [m.machine_id for m in w.machines]
    assert [len(chunk) for chunk in w.instance_id_chunks()] == [45]
    low, high = w.key_range
    assert all(low <= m.machine_id < high for m in w.machines)
    assert sum(len(r.machine_ids) for r in w.requests) == 45
    assert sum(w.status_counts().values()) == 45
    assert w.bulk + w.singles == w.machines and len(w.singles) == 45 // SINGLE_EVERY
