"""Cold start: what one short process pays to open an existing SQLite store and answer a call.

Host Factory runs its provider as one process per call. The bench prepares a SQLite store (a
workload of its own, removed afterwards), then runs, in fresh subprocesses of the same Python,
alternately (A B, B A, ...):

- ours: ``import ohf_persistence``, ``open_store(url)`` (with its schema-version check),
  ``requests.get_by_id`` and ``machines.get_by_request_id`` of one request;
- the floor: Python plus only what that call needs (``import sqlalchemy`` — SQLAlchemy Core —
  and ``aiosqlite``), one aiosqlite connection with the store's pragmas, the schema-version
  query (``SELECT version_num FROM alembic_version``) and the same two SELECTs, JSON columns
  decoded into Python objects.

Each subprocess is timed by the parent from spawn to exit, in wall-clock time and in CPU time
(the kernel's account of the waited-for child); the ratio is the median over rounds of ours /
floor CPU time (target <= 1.3), the wall-clock ratio is reported beside it. The children
also report their own import / open / calls split and which heavy modules they imported.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import open_store, resolve_config
from ..domain import Machine, Request
from ..text import table
from .report import quartiles
from .runner import SAVE_CHUNKS, cleanup_step
from .workload import build

COLD_TARGET = 1.3  # DESIGN.md: <= 1.3x the floor
HEAVY_MODULES = (
    "alembic",
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "sqlalchemy.dialects.postgresql",
    "asyncpg",
    "pynamodb",
    "botocore",
)

# The child programs. Both print one JSON line: their own timings, what they found, and which
# of HEAVY_MODULES got imported.
_OURS = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
from ohf_persistence import open_store
t1 = time.perf_counter()
spec = json.loads(sys.argv[1])

async def main():
    async with open_store(spec["url"]) as store:
        t2 = time.perf_counter()
        request = await store.requests.get_by_id(spec["request_id"])
        machines = await store.machines.get_by_request_id(spec["request_id"])
        t3 = time.perf_counter()
    return t2, t3, request is not None, len(machines)

t2, t3, found, rows = asyncio.run(main())
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "calls": t3 - t2, "found": found,
    "rows": rows, "modules": len(sys.modules),
    "heavy": [m for m in spec["heavy"] if m in sys.modules]}))
"""

_FLOOR = """
import time
t0 = time.perf_counter()
import asyncio, json, sys
import sqlalchemy  # SQLAlchemy Core: what the adapter really needs
import aiosqlite
t1 = time.perf_counter()
spec = json.loads(sys.argv[1])

def decoded(row, names, json_columns):
    values = dict(zip(names, row))
    for name in json_columns:
        if values[name] is not None:
            values[name] = json.loads(values[name])
    return values

async def main():
    conn = await aiosqlite.connect(spec["path"], isolation_level=None, timeout=5.0)
    try:
        for pragma in spec["pragmas"]:
            await conn.execute(pragma)
        version = await conn.execute_fetchall("SELECT version_num FROM alembic_version")
        assert version, "no schema version"
        t2 = time.perf_counter()
        rid = (spec["request_id"],)
        req = await conn.execute_fetchall(spec["request_sql"], rid)
        request = [decoded(r, spec["request_columns"], spec["request_json"]) for r in req]
        rows = await conn.execute_fetchall(spec["machines_sql"], rid)
        machines = [decoded(r, spec["machine_columns"], spec["machine_json"]) for r in rows]
        t3 = time.perf_counter()
    finally:
        await conn.close()
    return t2, t3, bool(request), len(machines)

t2, t3, found, rows = asyncio.run(main())
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "calls": t3 - t2, "found": found,
    "rows": rows, "modules": len(sys.modules),
    "heavy": [m for m in spec["heavy"] if m in sys.modules]}))
"""

# The adapter's connection pragmas (adapters/sql/engine.py), so the floor opens the same way.
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


def _json_columns(entity: type[Any]) -> list[str]:
    """Fields stored as JSON: the dict and list ones."""
    return [f.name for f in dataclasses.fields(entity) if str(f.type).startswith(("dict", "list"))]


def _columns(entity: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(entity)]


@dataclass
class ColdSide:
    """One side's samples: wall seconds per process and each child's own report."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)

    def median(self, key: str) -> float:
        if key in ("wall", "cpu"):
            values = self.wall if key == "wall" else self.cpu
        else:
            values = [c[key] for c in self.children]
        return quartiles(values)[1]

    def to_json(self) -> dict[str, Any]:
        last = self.children[-1] if self.children else {}
        return {
            "wall_seconds": self.wall,
            "median_wall": self.median("wall"),
            "cpu_seconds": self.cpu,
            "median_cpu": self.median("cpu"),
            "median_import": self.median("import"),
            "median_open": self.median("open"),
            "median_calls": self.median("calls"),
            "rows": last.get("rows"),
            "modules": last.get("modules"),
            "heavy_modules": last.get("heavy", []),
        }


@dataclass
class ColdStartReport:
    url: str
    machines: int
    ours: ColdSide = field(default_factory=ColdSide)
    floor: ColdSide = field(default_factory=ColdSide)

    @property
    def round_ratios(self) -> list[float]:
        """Per round: our process's CPU time / the floor's."""
        return [o / f for o, f in zip(self.ours.cpu, self.floor.cpu, strict=True) if f > 0]

    @property
    def wall_ratios(self) -> list[float]:
        return [o / f for o, f in zip(self.ours.wall, self.floor.wall, strict=True) if f > 0]

    @property
    def spread(self) -> tuple[float, float, float, float, float]:
        return _spread(self.round_ratios)

    @property
    def wall_spread(self) -> tuple[float, float, float, float, float]:
        return _spread(self.wall_ratios)

    @property
    def ratio(self) -> float:
        return self.spread[2]

    def to_json(self) -> dict[str, Any]:
        lo, q1, median, q3, hi = self.spread
        return {
            "mode": "cold_start",
            "backend": "sqlite",
            "machines": self.machines,
            "rounds": len(self.ours.wall),
            "ours": self.ours.to_json(),
            "floor": self.floor.to_json(),
            "ratio": median,
            "ratio_min": lo,
            "ratio_q1": q1,
            "ratio_q3": q3,
            "ratio_max": hi,
            "wall_ratio": self.wall_spread[2],
            "wall_ratio_q1": self.wall_spread[1],
            "wall_ratio_q3": self.wall_spread[3],
            "target_ratio": COLD_TARGET,
        }

    def text(self) -> str:
        rows = []
        for label, side in (("ours", self.ours), ("floor", self.floor)):
            rows.append(
                [
                    label,
                    f"{side.median('wall') * 1e3:.0f}",
                    f"{side.median('cpu') * 1e3:.0f}",
                    f"{side.median('import') * 1e3:.0f}",
                    f"{side.median('open') * 1e3:.0f}",
                    f"{side.median('calls') * 1e3:.1f}",
                    str(side.children[-1]["modules"] if side.children else "-"),
                    ", ".join(side.children[-1]["heavy"]) if side.children else "",
                ]
            )
        headers = [
            "process",
            "wall ms",
            "cpu ms",
            "import ms",
            "open ms",
            "calls ms",
            "modules",
            "heavy",
        ]
        lo, q1, median, q3, hi = self.spread
        verdict = "met" if median <= COLD_TARGET else "missed"
        return "\n".join(
            [
                f"cold start, SQLite, {self.machines:,} machines stored, "
                f"{len(self.ours.wall)} rounds (medians)",
                table(headers, rows, right=(1, 2, 3, 4, 5, 6)),
                f"ratio ours/floor (median over rounds of process CPU time): {median:.2f} "
                f"(q1-q3 {q1:.2f}-{q3:.2f}, min-max {lo:.2f}-{hi:.2f}); wall-clock ratio "
                f"{self.wall_spread[2]:.2f}; target <= {COLD_TARGET}: {verdict}",
            ]
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _spread(ratios: list[float]) -> tuple[float, float, float, float, float]:
    q1, median, q3 = quartiles(ratios)
    return min(ratios), q1, median, q3, max(ratios)


def _child(program: str, spec: dict[str, Any]) -> tuple[float, float, dict[str, Any]]:
    """Run one child to completion: its wall time from spawn to exit, its CPU time (user +
    system, from the kernel's accounting of waited-for children) and its report."""
    began_cpu = _children_cpu()
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", program, json.dumps(spec)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "OHF_STORAGE_URL"},
        check=False,
    )
    wall = time.perf_counter() - began
    cpu = _children_cpu() - began_cpu
    if done.returncode != 0:
        raise RuntimeError(f"cold-start child failed: {done.stderr.strip()[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu, report


def sqlite_file(url: str) -> str:
    """The database file of a SQLite URL; a cold start needs one that outlives a process."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise ValueError("--cold-start needs a SQLite file URL (sqlite+aiosqlite:///path.db)")
    return path


async def run_cold_start(url: str, machines: int = 10_000, rounds: int = 20) -> ColdStartReport:
    config = resolve_config(url)
    if config.backend != "sqlite":
        raise ValueError("--cold-start runs on SQLite (sqlite+aiosqlite:///path.db)")
    path = sqlite_file(config.url)
    w = build(machines)
    report = ColdStartReport(config.url, machines)
    async with open_store(config, migrate=True) as store:
        await store.templates.save_many(w.templates)
        await store.requests.save_many(w.requests)
        chunk = SAVE_CHUNKS["sqlite"]
        for start in range(0, w.size, chunk):
            await store.machines.save_many(w.machines[start : start + chunk])
    try:
        request = w.requests[len(w.requests) // 2]
        spec = _spec(config.url, path, request.request_id)
        # One untimed run of each first: byte-code caches written, files in the page cache.
        _child(_OURS, spec)
        _child(_FLOOR, spec)
        for k in range(rounds):
            order = [("ours", _OURS), ("floor", _FLOOR)]
            for label, program in order if k % 2 == 0 else order[::-1]:
                wall, cpu, child = _child(program, spec)
                side = report.ours if label == "ours" else report.floor
                side.wall.append(wall)
                side.cpu.append(cpu)
                side.children.append(child)
        for side in (report.ours, report.floor):
            if any(c["rows"] != len(request.machine_ids) or not c["found"] for c in side.children):
                raise RuntimeError("a cold-start child did not find the bench's request")
    finally:
        async with open_store(config) as store:
            with cleanup_step("cold-start workload"):
                for machine in w.machines:
                    await store.machines.delete(machine.machine_id)
                for r in w.requests:
                    await store.requests.delete(r.request_id)
                for t in w.templates:
                    await store.templates.delete(t.template_id)
    return report


def _spec(url: str, path: str, request_id: str) -> dict[str, Any]:
    from ..adapters.sql.models import TABLES

    request_columns, machine_columns = _columns(Request), _columns(Machine)
    requests, machines = TABLES[Request].name, TABLES[Machine].name
    return {
        "url": url,
        "path": path,
        "request_id": request_id,
        "heavy": list(HEAVY_MODULES),
        "pragmas": list(_PRAGMAS),
        "request_columns": request_columns,
        "request_json": _json_columns(Request),
        "request_sql": f"SELECT {', '.join(request_columns)} FROM {requests} WHERE request_id = ?",
        "machine_columns": machine_columns,
        "machine_json": _json_columns(Machine),
        "machines_sql": f"SELECT {', '.join(machine_columns)} FROM {machines} "
        "WHERE request_id = ? ORDER BY machine_id",
    }
