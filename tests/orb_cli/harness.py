"""One isolated ORB installation driven through ORB's own command line, one process per call,
against a moto EC2 server on 127.0.0.1 — the way Host Factory runs ORB.

Everything ORB touches lives under one temporary root: its root/config/work/log dirs
(``ORB_ROOT_DIR``), ``HOME`` (ORB falls back to ``~/.orb``) and the AWS shared credentials and
config files (dummy keys, ``[default]`` profile). No variable of the caller's AWS, ORB or
ohf_persistence environment leaks into the child processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.orb_cli.moto_ec2 import REGION, MotoServer, Network
from tests.orb_cli.normalise import Normaliser

# ORB's CLI as its console script runs it (``python -m orb`` drops the exit code).
ORB_MAIN = "import sys; from orb.run import cli_main; sys.exit(cli_main())"
OHF_MAIN = "import sys; from ohf_persistence.cli import main; sys.exit(main())"
CALL_TIMEOUT = 180


@dataclass
class Call:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    def check(self) -> Call:
        assert self.returncode == 0, f"{self.argv} exited {self.returncode}:\n{self.stderr}"
        return self


def clean_environ() -> dict[str, str]:
    """The caller's environment minus anything that could steer ORB, boto or our store."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ORB_", "OHF_", "BOTO"))
    }


@dataclass
class OrbInstall:
    root: Path
    moto: MotoServer
    network: Network
    # ORB's config.json "storage" section; None keeps ORB's default (JSON file).
    storage: dict[str, Any] | None = None
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        aws = self.root / "aws"
        aws.mkdir(exist_ok=True)
        (aws / "credentials").write_text(
            "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        )
        (aws / "config").write_text(f"[default]\nregion = {REGION}\n")
        self.env = clean_environ()
        self.env.update(
            HOME=str(self.root / "home"),
            ORB_ROOT_DIR=str(self.root / "orb"),
            AWS_ENDPOINT_URL=self.moto.endpoint,
            AWS_SHARED_CREDENTIALS_FILE=str(aws / "credentials"),
            AWS_CONFIG_FILE=str(aws / "config"),
            AWS_EC2_METADATA_DISABLED="true",
        )

    @property
    def orb_root(self) -> Path:
        return self.root / "orb"

    @property
    def config_file(self) -> Path:
        return self.orb_root / "config" / "config.json"

    @property
    def json_database(self) -> Path:
        return self.orb_root / "work" / "data" / "request_database.json"

    def _run(self, code: str, argv: list[str]) -> Call:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *argv],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT,
            check=False,
        )
        return Call(argv, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)

    def orb(self, *argv: str) -> Call:
        call = self._run(ORB_MAIN, list(argv))
        self.calls.append(call)
        return call

    def ohf(self, *argv: str) -> Call:
        return self._run(OHF_MAIN, list(argv))

    def init(self) -> Call:
        call = self.orb(
            "init",
            "--non-interactive",
            "--scheduler",
            "hostfactory",
            "--provider-type",
            "aws",
            "--subnet-ids",
            ",".join(self.network.subnet_ids),
            "--security-group-ids",
            self.network.security_group_id,
            "--aws-region",
            REGION,
            "--aws-profile",
            "default",
        ).check()
        if self.storage is not None:
            config = json.loads(self.config_file.read_text())
            config["storage"] = self.storage
            self.config_file.write_text(json.dumps(config, indent=2))
        return call

    @property
    def default_ohf_file(self) -> Path:
        """Where ``ohf`` keeps its store when ORB's config names no URL (docs/orb.md)."""
        return self.orb_root / "work" / "data" / "ohf.db"

    @property
    def ohf_url(self) -> str:
        url = ((self.storage or {}).get("ohf") or {}).get("url")
        return str(url) if url else f"sqlite+aiosqlite:///{self.default_ohf_file}"

    def persisted(self) -> dict[str, Any]:
        """ORB's stored requests and machines (and templates, when the storage holds any) in
        ORB's JSON layout: the JSON file itself, or ``ohf-persistence export --format orb-json``
        of the ohf store."""
        if self.storage is None or self.storage.get("strategy") == "json":
            data: dict[str, Any] = json.loads(self.json_database.read_text())
        else:
            data = self.ohf("export", "-", "--format", "orb-json", "--url", self.ohf_url)
            data = data.check().json
        # An empty section and a missing one say the same: nothing of that kind is stored.
        return {section: records for section, records in data.items() if records}

    def normaliser(self) -> Normaliser:
        norm = Normaliser({str(self.root): "<root>"})
        # The simulated network exists before ORB runs: name it first, identically each run.
        norm.name(self.network.vpc_id)
        for subnet in self.network.subnet_ids:
            norm.name(subnet)
        norm.name(self.network.security_group_id)
        return norm


# The Host Factory cycle: an EC2 Fleet (instant) request of 4 units (2 x t3.medium, weight 2)
# and a RunInstances request of 2 units (1 instance), status of both, return of one machine of
# each (ORB makes one return request per provider API), status of the return, the scheduler's
# list of returns, status of both acquisitions again.
FLEET_TEMPLATE = "EC2Fleet-Instant-OnDemand"
RUN_TEMPLATE = "RunInstances-OnDemand"


def creation_key(request: dict[str, Any]) -> tuple[datetime, str]:
    """Requests in creation order; ties (same microsecond) by what they are, not by id."""
    created = datetime.fromisoformat(request["created_at"])
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created, json.dumps([request["request_type"], request["provider_api"]])


@dataclass
class RoundTrip:
    install: OrbInstall
    request_ids: list[str]
    returned_ids: list[str]
    return_id: str
    instance_states: dict[str, str]
    persisted: dict[str, Any]
    seconds: float

    def normalised(self) -> dict[str, Any]:
        """Every call (argv, exit code, parsed output), the persisted state and EC2's view of
        the instances, normalised with one id mapping (see tests/orb_cli/normalise.py)."""
        norm = self.install.normaliser()
        for instance_id in self.instance_states:  # EC2's launch order
            norm.name(instance_id)
        requests = self.persisted.get("requests", {})
        for request_id in sorted(requests, key=lambda r: creation_key(requests[r])):
            norm.name(request_id)
        transcript = []
        for call in self.install.calls:
            try:
                output: Any = call.json
            except ValueError:
                output = call.stdout  # init and generate print text
            transcript.append(
                {"argv": norm.value(call.argv), "rc": call.returncode, "out": norm.value(output)}
            )
        # Records in the order of their (already stable) names, so ids seen only inside them
        # (network interfaces, volumes) get the same numbers whatever order storage lists them.
        persisted = {
            section: dict(sorted(((norm.text(key), record) for key, record in records.items())))
            for section, records in sorted(self.persisted.items())
        }
        return {
            "transcript": transcript,
            "persisted": norm.value(persisted),
            "ec2": norm.value(self.instance_states),
        }


def run_round_trip(install: OrbInstall) -> RoundTrip:
    started = time.perf_counter()
    install.init()
    install.orb("templates", "generate").check()
    fleet = install.orb("machines", "request", FLEET_TEMPLATE, "4").check().json["requestId"]
    single = install.orb("machines", "request", RUN_TEMPLATE, "2").check().json["requestId"]
    status = install.orb("requests", "status", fleet, single).check().json
    by_request = {
        r["requestId"]: [m["machineId"] for m in r["machines"]] for r in status["requests"]
    }
    assert len(by_request[fleet]) == 2 and len(by_request[single]) == 1, status
    # One fleet machine (the fleet stays: returning all of it makes ORB delete the fleet, which
    # moto refuses for instant fleets and ORB retries for seconds) and the single machine. The
    # fleet machine is the first EC2 launched, not the first ORB lists: listing order is the
    # storage's (insertion order on JSON, key order on a database).
    launched = list(install.moto.instance_states())
    first = min(by_request[fleet], key=launched.index)
    returned = [first, by_request[single][0]]
    return_id = install.orb("machines", "return", *returned).check().json["requestId"]
    install.orb("requests", "status", return_id).check()
    install.orb("requests", "list-returns").check()
    install.orb("requests", "status", fleet, single).check()
    return RoundTrip(
        install,
        [fleet, single],
        returned,
        return_id,
        install.moto.instance_states(),
        install.persisted(),
        time.perf_counter() - started,
    )
