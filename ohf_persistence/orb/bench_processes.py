"""Part 2 of the ORB bench: one ``orb requests status`` process, as Host Factory runs it.

An isolated ORB installation per storage (own root, HOME and dummy AWS files), one process
per call, against moto's EC2 server on 127.0.0.1 (needs ``moto[server,ec2]``; dummy
credentials, never real AWS). Runs are interleaved across storages; the median is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class StatusResult:
    storage: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


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
