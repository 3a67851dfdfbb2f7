"""ORB's own operations, timed the way ORB runs them, on ORB's storages and on ``ohf``.

    python -m ohf_persistence.orb.bench [-n 1000] [--url URL ...] [--status-runs 5] [--json]

Part 1, in this process: ORB's ``RequestRepositoryImpl`` through ORB's ``UnitOfWorkFactory``
(built from ORB's ``ConfigurationManager`` exactly as ORB's DI container builds it), one unit
of work per operation as ORB's handlers do (``with uow_factory.create_unit_of_work() as
uow:``), after an untimed warm-up round of ``WARM_UP`` operations per phase. Phases, N
operations each: ``save`` (new requests), ``get`` (find_by_request_id),
``rmw`` (read, record a status check, save back: what status polling does) and ``delete``.
Storages:

- ``dict``: ORB's repository over a plain in-process dict strategy: the floor (ORB's own
  serialisation and bookkeeping, no storage at all);
- ``sqlite3``: the same strategy keeping each ORB record as one JSON text in one SQLite table
  through the stdlib ``sqlite3`` (the PRAGMAs ``ohf`` uses: WAL, ``synchronous=NORMAL``; one
  autocommitted statement per call): the least any SQLite storage for ORB pays, with no
  columns, indexes or versions — its ratio to ``dict`` bounds every SQLite storage's;
- ``json``: ORB's default storage (one ``request_database.json``, ORB's default backups);
- ``ohf-sqlite``: storage type ``ohf`` on a fresh SQLite file;
- ``ohf:<URL>`` for every ``--url`` (PostgreSQL, DynamoDB, …; migrated first, and the
  bench deletes what it wrote).

Part 2, child processes (needs ``moto[server,ec2]``): one ``orb requests status <id>`` process,
the call Host Factory makes every few seconds, on ORB's JSON storage and on ``ohf`` with
SQLite (and every ``--url``), against a moto EC2 server on 127.0.0.1 — dummy credentials, never
real AWS. Runs are interleaved across storages and the median is reported.

The floors live in bench_floors.py, part 2 in bench_processes.py; this module runs part 1
and the command line. Nothing here asserts a speed; the numbers are for docs/orb.md
("Performance").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import mask_url
from .bench_floors import DICT_STORAGE, SQLITE3_STORAGE, register_floor_storages
from .bench_processes import StatusResult, time_status_processes

PHASES = ("save", "get", "rmw", "delete")
WARM_UP = 100  # operations per phase run, untimed, before each storage's timed phases


@dataclass
class Phase:
    name: str
    operations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class StorageResult:
    storage: str
    phases: list[Phase] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Part 1: ORB repositories, one unit of work per operation


def orb_uow_factory(storage: dict[str, Any]) -> Any:
    """ORB's ``UnitOfWorkFactory`` for an ORB config whose ``storage`` section is ``storage``,
    built as ORB's DI container builds it (bootstrap/port_registrations.py)."""
    from orb.config.manager import ConfigurationManager
    from orb.infrastructure.adapters.logging_adapter import LoggingAdapter
    from orb.infrastructure.storage.registration import register_all_storage_types
    from orb.infrastructure.storage.registry import get_storage_registry
    from orb.infrastructure.utilities.factories.repository_factory import UnitOfWorkFactory

    from . import register

    if not get_storage_registry().is_registered("json"):
        register_all_storage_types()
    register()
    register_floor_storages()
    manager = ConfigurationManager(config_dict={"storage": storage})
    factory = UnitOfWorkFactory(manager, LoggingAdapter("unit_of_work"))
    # ORB loads its config (and opens the store) once per process, before any operation: do it
    # here so the first timed operation does not pay for it.
    with factory.create_unit_of_work():
        pass
    return factory


def new_requests(n: int) -> list[Any]:
    from orb.domain.request.aggregate import Request
    from orb.domain.request.value_objects import RequestType

    return [
        Request.create_new_request(
            RequestType.ACQUIRE,
            f"tpl-bench-{i % 4}",
            2,
            "aws",
            provider_name="aws-bench",
            provider_api="EC2Fleet",
            metadata={"bench": True, "n": i},
        )
        for i in range(n)
    ]


def run_repository_phases(
    factory: Any, n: int, progress: Callable[[str], None] = lambda _: None
) -> list[Phase]:
    """The four phases on one storage; every operation is its own ORB unit of work."""
    requests = new_requests(n)
    ids = [str(r.request_id) for r in requests]
    phases: list[Phase] = []

    def timed(name: str, operation: Callable[[int], None]) -> None:
        started = time.perf_counter()
        for i in range(n):
            operation(i)
        phases.append(Phase(name, n, time.perf_counter() - started))
        progress(name)

    def save(i: int) -> None:
        with factory.create_unit_of_work() as uow:
            uow.requests.save(requests[i])

    def get(i: int) -> None:
        with factory.create_unit_of_work() as uow:
            if uow.requests.find_by_request_id(ids[i]) is None:
                raise RuntimeError(f"request {ids[i]} was saved but is not found")

    def rmw(i: int) -> None:
        with factory.create_unit_of_work() as uow:
            request = uow.requests.find_by_request_id(ids[i])
            uow.requests.save(request.record_status_check(datetime.now(UTC)))

    def delete(i: int) -> None:
        with factory.create_unit_of_work() as uow:
            uow.requests.delete(requests[i].request_id)

    timed("save", save)
    timed("get", get)
    timed("rmw", rmw)
    timed("delete", delete)
    with factory.create_unit_of_work() as uow:  # the bench leaves nothing behind
        left = [i for i in ids[:1] + ids[-1:] if uow.requests.find_by_request_id(i)]
    if left:
        raise RuntimeError(f"delete left {left} behind")
    return phases


def storage_configs(work: Path, urls: list[str]) -> dict[str, dict[str, Any]]:
    """Label -> ORB ``storage`` config section, for every storage measured."""
    configs: dict[str, dict[str, Any]] = {
        "dict": {"strategy": DICT_STORAGE},
        "sqlite3": {"strategy": SQLITE3_STORAGE, "sqlite3": {"path": str(work / "sqlite3.db")}},
        "json": {"strategy": "json", "json_strategy": {"base_path": str(work / "json")}},
        "ohf-sqlite": {
            "strategy": "ohf",
            "ohf": {"url": f"sqlite+aiosqlite:///{work / 'ohf' / 'ohf.db'}"},
        },
    }
    for url in urls:
        configs[f"ohf:{mask_url(url)}"] = {"strategy": "ohf", "ohf": {"url": url}}
    return configs


def migrate_urls(urls: list[str]) -> None:
    from .. import migrate, sync

    for url in urls:
        sync.run(migrate(url))


# --------------------------------------------------------------------------------------------
# Command line


@dataclass
class Report:
    n: int
    repositories: list[StorageResult]
    status: list[StatusResult]

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "repositories": [
                {
                    "storage": r.storage,
                    "phases": [{**asdict(p), "per_second": p.per_second} for p in r.phases],
                }
                for r in self.repositories
            ],
            "status": [
                {"storage": s.storage, "seconds": s.seconds, "median": s.median}
                for s in self.status
            ],
        }

    def text(self) -> str:
        lines = [f"ORB repositories, one unit of work per operation, N={self.n} (ops/s)"]
        header = f"{'storage':<28}" + "".join(f"{name:>10}" for name in PHASES)
        lines.append(header)
        for result in self.repositories:
            rates = {p.name: p.per_second for p in result.phases}
            lines.append(
                f"{result.storage:<28}" + "".join(f"{rates[name]:>10.0f}" for name in PHASES)
            )
        floor = next((r for r in self.repositories if r.storage == "dict"), None)
        if floor is not None:
            base = {p.name: p.per_second for p in floor.phases}
            for result in self.repositories:
                if result is floor:
                    continue
                ratios = "  ".join(
                    f"{p.name} {p.per_second / base[p.name]:.2f}x" for p in result.phases
                )
                lines.append(f"  {result.storage} vs dict: {ratios}")
        if self.status:
            lines.append("one `orb requests status` process (seconds, median of the runs)")
            for status in self.status:
                runs = ", ".join(f"{s:.2f}" for s in status.seconds)
                lines.append(f"{status.storage:<28}{status.median:>8.2f}   ({runs})")
        return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ohf_persistence.orb.bench",
        description="ORB operations through ORB's repositories and one `orb requests status` "
        "process, on ORB's JSON storage, a dict floor and storage type 'ohf'.",
    )
    parser.add_argument("-n", type=int, default=1000, help="operations per phase (1000)")
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="also measure 'ohf' on this store URL (migrated first; repeatable)",
    )
    parser.add_argument(
        "--status-runs", type=int, default=5, help="orb requests status runs per storage (5)"
    )
    parser.add_argument(
        "--skip-status", action="store_true", help="skip the ORB process timing (needs moto)"
    )
    parser.add_argument(
        "--storages",
        default="dict,sqlite3,json,ohf-sqlite",
        help="in-process storages to measure (dict,sqlite3,json,ohf-sqlite); --url adds more",
    )
    parser.add_argument("--work-dir", type=Path, help="keep the files here (default: a tmp dir)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.n < 1 or args.status_runs < 1:
        parser.error("-n and --status-runs must be at least 1")
    return args


def run(args: argparse.Namespace, work: Path) -> Report:
    def say(message: str) -> None:  # progress; stderr when stdout carries the JSON report
        print(message, file=sys.stderr if args.json else sys.stdout, flush=True)

    wanted = [s for s in args.storages.split(",") if s]
    configs = storage_configs(work, args.url)
    unknown = set(wanted) - set(configs)
    if unknown:
        raise SystemExit(f"unknown storage(s) {sorted(unknown)}: choose from {','.join(configs)}")
    selected = {k: v for k, v in configs.items() if k in wanted or k.startswith("ohf:")}
    migrate_urls(args.url)
    repositories = []
    for label, storage in selected.items():
        say(f"{label}: {', '.join(PHASES)} …")
        factory = orb_uow_factory(storage)
        # A warm-up round of its own requests first: the first storage measured must not pay
        # for ORB's code paths running for the first time in this process.
        run_repository_phases(factory, min(args.n, WARM_UP))
        phases = run_repository_phases(factory, args.n)
        repositories.append(StorageResult(label, phases))
    status: list[StatusResult] = []
    if not args.skip_status:
        say("orb requests status processes …")
        process_storages: dict[str, dict[str, Any] | None] = {"json": None}
        process_storages["ohf-sqlite"] = {
            "strategy": "ohf",
            "ohf": {"url": f"sqlite+aiosqlite:///{work / 'status-ohf.db'}"},
        }
        for url in args.url:
            process_storages[f"ohf:{mask_url(url)}"] = {"strategy": "ohf", "ohf": {"url": url}}
        status = time_status_processes(work, process_storages, args.status_runs)
    return Report(args.n, repositories, status)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        report = run(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="ohf-orb-bench-") as tmp:
            report = run(args, Path(tmp))
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
