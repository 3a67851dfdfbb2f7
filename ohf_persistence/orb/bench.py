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

Nothing here asserts a speed; the numbers are for docs/orb.md ("Performance").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import mask_url

PHASES = ("save", "get", "rmw", "delete")
WARM_UP = 100  # operations per phase run, untimed, before each storage's timed phases
DICT_STORAGE = "ohf-bench-dict"  # registered in this process only, for the floor
SQLITE3_STORAGE = "ohf-bench-sqlite3"  # the same strategy over stdlib sqlite3


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


@dataclass
class StatusResult:
    storage: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


# --------------------------------------------------------------------------------------------
# Part 1: ORB repositories, one unit of work per operation


class SqliteRows(MutableMapping[str, dict[str, Any]]):
    """One entity type's ORB records as JSON texts in one SQLite table, each call one
    autocommitted statement (stdlib ``sqlite3``, the PRAGMAs ``ohf`` uses)."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, data TEXT)")

    def __setitem__(self, key: str, value: dict[str, Any]) -> None:
        text = json.dumps(value, default=str)
        self.conn.execute(f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?)", (key, text))

    def __getitem__(self, key: str) -> dict[str, Any]:
        row = self.conn.execute(f"SELECT data FROM {self.table} WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        record: dict[str, Any] = json.loads(row[0])
        return record

    def __delitem__(self, key: str) -> None:
        if self.conn.execute(f"DELETE FROM {self.table} WHERE id = ?", (key,)).rowcount != 1:
            raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([k for (k,) in self.conn.execute(f"SELECT id FROM {self.table}")])

    def __len__(self) -> int:
        count: int = self.conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0]
        return count


def sqlite3_tables(path: Path) -> Callable[[str], MutableMapping[str, dict[str, Any]]]:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
        conn.execute(f"PRAGMA {pragma}")
    return lambda entity_type: SqliteRows(conn, entity_type)


def _dict_storage_classes(
    rows_for: Callable[[str], MutableMapping[str, dict[str, Any]]] | None = None,
) -> tuple[Any, Any]:
    """ORB's storage port over a dict (the floor; or over ``rows_for(entity_type)``) and a
    unit of work of ORB's repositories on it; built lazily because ORB is optional."""
    from orb.infrastructure.storage.base.strategy import BaseStorageStrategy
    from orb.infrastructure.storage.base.unit_of_work import BaseUnitOfWork
    from orb.infrastructure.storage.repositories.machine_repository import (
        MachineRepositoryImpl,
    )
    from orb.infrastructure.storage.repositories.request_repository import (
        RequestRepositoryImpl,
    )
    from orb.infrastructure.storage.repositories.template_repository import (
        TemplateRepositoryImpl,
    )

    tables: dict[str, MutableMapping[str, dict[str, Any]]] = {}

    class DictStrategy(BaseStorageStrategy):  # type: ignore[misc]  # ORB is untyped
        def __init__(self, entity_type: str = "generic") -> None:
            super().__init__()
            self.entity_type = entity_type
            if entity_type not in tables:
                tables[entity_type] = {} if rows_for is None else rows_for(entity_type)
            self.rows = tables[entity_type]

        def save(self, entity_id: str, data: dict[str, Any]) -> None:
            self.rows[entity_id] = dict(data)

        def find_by_id(self, entity_id: str) -> dict[str, Any] | None:
            row = self.rows.get(entity_id)
            return dict(row) if row is not None else None

        def find_all(self) -> list[dict[str, Any]]:
            return [dict(row) for row in self.rows.values()]

        def delete(self, entity_id: str) -> None:
            self.rows.pop(entity_id, None)

        def exists(self, entity_id: str) -> bool:
            return entity_id in self.rows

        # A floor: no snapshot of every row per transaction (ORB's base class takes one).
        def begin_transaction(self) -> None:
            self._in_transaction = True

        def commit_transaction(self) -> None:
            self._in_transaction = False

        def rollback_transaction(self) -> None:
            self._in_transaction = False

    class DictUnitOfWork(BaseUnitOfWork):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.machine_repository = MachineRepositoryImpl(DictStrategy("machines"))
            self.request_repository = RequestRepositoryImpl(DictStrategy("requests"))
            self.template_repository = TemplateRepositoryImpl(DictStrategy("templates"))

        @property
        def machines(self) -> Any:
            return self.machine_repository

        @property
        def requests(self) -> Any:
            return self.request_repository

        @property
        def templates(self) -> Any:
            return self.template_repository

        def _begin_transaction(self) -> None:
            pass

        def _commit_transaction(self) -> None:
            pass

        def _rollback_transaction(self) -> None:
            pass

    return DictStrategy, DictUnitOfWork


def register_floor_storages() -> None:
    """``dict`` (one per process) and ``sqlite3`` (one file per ``path`` in its config)."""
    from orb.infrastructure.storage.registry import get_storage_registry

    registry = get_storage_registry()
    if registry.is_registered(DICT_STORAGE):
        return
    strategy_cls, uow_cls = _dict_storage_classes()
    registry.register_storage(
        storage_type=DICT_STORAGE,
        strategy_factory=lambda config: strategy_cls(),
        config_factory=lambda data: dict(data),
        unit_of_work_factory=lambda config: uow_cls(),
    )
    by_path: dict[str, tuple[Any, Any]] = {}

    def classes(config: Any) -> tuple[Any, Any]:
        path = str(config.get_raw_config()["storage"]["sqlite3"]["path"])
        if path not in by_path:
            by_path[path] = _dict_storage_classes(sqlite3_tables(Path(path)))
        return by_path[path]

    registry.register_storage(
        storage_type=SQLITE3_STORAGE,
        strategy_factory=lambda config: classes(config)[0](),
        config_factory=lambda data: dict(data),
        unit_of_work_factory=lambda config: classes(config)[1](),
    )


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
# Part 2: one `orb requests status` process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's server in a child process on 127.0.0.1 (EC2 for ORB); yields its endpoint."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"moto server did not start (see {log})") from None
                    time.sleep(0.1)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _ec2_network(endpoint: str) -> tuple[list[str], str]:
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
    ]
    group = ec2.create_security_group(GroupName="hf", Description="hf", VpcId=vpc)["GroupId"]
    return subnets, str(group)


ORB_MAIN = "import sys; from orb.run import cli_main; sys.exit(cli_main())"


class OrbProcess:
    """An isolated ORB installation (own root, HOME and dummy AWS files) run one process per
    call, as Host Factory runs it."""

    def __init__(self, root: Path, endpoint: str, storage: dict[str, Any] | None) -> None:
        self.root = root
        aws = root / "aws"
        aws.mkdir(parents=True)
        (root / "home").mkdir()
        (aws / "credentials").write_text(
            "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        )
        (aws / "config").write_text("[default]\nregion = us-east-1\n")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "ORB_", "OHF_", "BOTO"))
        }
        self.env.update(
            HOME=str(root / "home"),
            ORB_ROOT_DIR=str(root / "orb"),
            AWS_ENDPOINT_URL=endpoint,
            AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
            AWS_CONFIG_FILE=str(aws / "config"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        self.storage = storage

    def run(self, *argv: str) -> tuple[str, float]:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", ORB_MAIN, *argv],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"orb {' '.join(argv)} exited {done.returncode}: {done.stderr}")
        return done.stdout, seconds

    def prepare(self, subnets: list[str], group: str) -> str:
        """init, templates, one EC2 Fleet request; returns its request id."""
        self.run(
            "init",
            "--non-interactive",
            "--scheduler",
            "hostfactory",
            "--provider-type",
            "aws",
            "--subnet-ids",
            ",".join(subnets),
            "--security-group-ids",
            group,
            "--aws-region",
            "us-east-1",
            "--aws-profile",
            "default",
        )
        if self.storage is not None:
            config_file = self.root / "orb" / "config" / "config.json"
            config = json.loads(config_file.read_text())
            config["storage"] = self.storage
            config_file.write_text(json.dumps(config, indent=2))
        self.run("templates", "generate")
        out, _ = self.run("machines", "request", "EC2Fleet-Instant-OnDemand", "4")
        request_id: str = json.loads(out)["requestId"]
        return request_id


def time_status_processes(
    work: Path, storages: dict[str, dict[str, Any] | None], runs: int
) -> list[StatusResult]:
    """``orb requests status <id>`` ``runs`` times per storage, interleaved across storages
    so a noisy machine hurts each alike; one moto server for all."""
    with moto_server(work / "moto.log") as endpoint:
        subnets, group = _ec2_network(endpoint)
        installs: dict[str, tuple[OrbProcess, str]] = {}
        for n, (label, storage) in enumerate(storages.items()):
            orb = OrbProcess(work / f"status-{n}", endpoint, storage)
            installs[label] = (orb, orb.prepare(subnets, group))
        results = {label: StatusResult(label, []) for label in installs}
        try:
            for orb, request_id in installs.values():  # warm-up: the first status differs
                orb.run("requests", "status", request_id)
            for _ in range(runs):
                for label, (orb, request_id) in installs.items():
                    results[label].seconds.append(orb.run("requests", "status", request_id)[1])
        finally:
            for label, (orb, request_id) in installs.items():
                if label.startswith("ohf:") and orb.storage is not None:
                    forget_request(orb.storage["ohf"]["url"], request_id)
        return list(results.values())


def forget_request(url: str, request_id: str) -> None:
    """Delete what ORB stored for one request in a store the bench was given (not ours)."""
    from .. import sync

    with sync.open_store(url) as store:
        for machine in store.machines.get_by_request_id(request_id):
            store.machines.delete(machine.machine_id)
        store.requests.delete(request_id)


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
