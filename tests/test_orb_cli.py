"""A real Host Factory cycle through ORB's own command line, one process per call, with EC2
simulated by moto's server on 127.0.0.1 (tests/orb_cli/), on ORB's default JSON storage and on
storage type ``ohf`` with each of our backends.

The JSON run is the reference. Its own checks show the cycle really happens (EC2 saw the
launches and terminations, the stored records link up) and that two JSON runs are equal once
ids and times are normalised — which is what makes comparing storages meaningful. Each ``ohf``
run must then give the same normalised outputs of every call and the same persisted state:
ORB's ``request_database.json`` against ``ohf-persistence export --format orb-json`` of the
store ORB wrote through ``ohf``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import sync
from tests.orb_cli.harness import OrbInstall, RoundTrip, run_round_trip
from tests.orb_cli.moto_ec2 import REGION, MotoServer
from tests.orb_cli.normalise import differences
from tests.test_interop_support import persistent_backends

pytestmark = pytest.mark.slow

StorageMaker = Callable[[MotoServer, OrbInstall], dict[str, Any]]


def round_trip(root: Path, label: str, make_storage: StorageMaker | None = None) -> RoundTrip:
    root.mkdir(parents=True)
    with MotoServer(root / "moto.log") as moto:
        install = OrbInstall(root, moto, moto.create_network())
        if make_storage is not None:
            install.storage = make_storage(moto, install)
        done = run_round_trip(install)
    # The time of each variant, for the notes (pytest -s shows it).
    print(f"\nORB CLI round trip on {label}: {done.seconds:.1f} s")
    return done


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    return round_trip(tmp_path_factory.mktemp("orb") / "json", "json")


def test_json_round_trip_is_a_real_host_factory_cycle(json_run: RoundTrip) -> None:
    assert [call.returncode for call in json_run.install.calls] == [0] * 9
    stored = json_run.persisted
    fleet, single = json_run.request_ids
    # ORB makes one return request per provider API (the CLI prints the first id).
    returns = {k: r for k, r in stored["requests"].items() if r["request_type"] == "return"}
    assert json_run.return_id in returns and len(returns) == 2
    assert set(stored["requests"]) == {fleet, single, *returns}
    assert sorted(m for r in returns.values() for m in r["machine_ids"]) == sorted(
        json_run.returned_ids
    )
    machines = stored["machines"]
    assert set(machines) == set(json_run.instance_states)  # ORB knows every instance EC2 has
    for machine_id in json_run.returned_ids:
        assert machines[machine_id]["return_request_id"] in returns
        assert json_run.instance_states[machine_id] == "terminated"  # EC2 really saw it
    assert len(json_run.install.calls[7].json["requests"]) == len(json_run.returned_ids)
    # The ids in the outputs are the ids ORB stored, and normalisation keeps them linked.
    normal = json_run.normalised()
    assert normal["transcript"][2]["out"]["requestId"] == "req-#1"
    assert set(normal["persisted"]["requests"]) == {"req-#1", "req-#2", "ret-#1", "ret-#2"}
    assert normal["persisted"]["machines"]["i-#1"]["return_request_id"] == "ret-#1"


def test_two_json_runs_are_equal_once_normalised(json_run: RoundTrip, tmp_path: Path) -> None:
    again = round_trip(tmp_path / "json-again", "json (again)")
    assert again.request_ids != json_run.request_ids  # fresh ids, fresh instances
    assert differences(again.normalised(), json_run.normalised()) == []


def ohf_storage(url: str) -> dict[str, Any]:
    return {"strategy": "ohf", "ohf": {"url": url}}


def storage_maker(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> StorageMaker:
    """ORB's ``storage`` config for ``ohf`` on ``backend``. SQLite is the default a config
    without a URL gets (a new file under ORB's work dir that ``ohf`` creates and migrates);
    PostgreSQL is a new database and DynamoDB new tables (on the run's own moto server),
    migrated first as an operator would."""
    if backend == "sqlite":
        return lambda moto, install: {"strategy": "ohf"}
    if backend == "postgres":
        url: str = sync.run(request.getfixturevalue("postgres_url_factory")())
        return lambda moto, install: ohf_storage(url)
    assert backend == "dynamodb"

    def dynamodb(moto: MotoServer, install: OrbInstall) -> dict[str, Any]:
        url = (
            f"dynamodb://?region={REGION}&endpoint_url={moto.endpoint}&table_prefix=orbcli_"
            "&timeout=30"  # moto under load: see tests/backends/dynamodb.py
        )
        install.ohf("migrate", "--url", url).check()
        return ohf_storage(url)

    return dynamodb


@pytest.mark.parametrize("backend", persistent_backends())
def test_ohf_round_trip_equals_json(
    json_run: RoundTrip, backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    run = round_trip(tmp_path / "run", f"ohf/{backend}", storage_maker(backend, request, tmp_path))
    assert not run.install.json_database.exists()  # ORB really stored through ohf
    assert run.install.default_ohf_file.exists() == (backend == "sqlite")
    assert len(run.persisted["requests"]) == 4 and len(run.persisted["machines"]) == 3
    assert differences(run.normalised(), json_run.normalised()) == []
