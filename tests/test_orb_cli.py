"""A real Host Factory cycle through ORB's own command line, one process per call, with EC2
simulated by moto's server on 127.0.0.1 (tests/orb_cli/). This file checks the harness on
ORB's default JSON storage: the cycle really happens, and two runs are equal once ids and
times are normalised — which is what makes comparing storages meaningful."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orb_cli.harness import OrbInstall, RoundTrip, run_round_trip
from tests.orb_cli.moto_ec2 import MotoServer
from tests.orb_cli.normalise import differences

pytestmark = pytest.mark.slow


def round_trip(root: Path, storage: dict[str, object] | None = None) -> RoundTrip:
    root.mkdir(parents=True)
    with MotoServer(root / "moto.log") as moto:
        install = OrbInstall(root, moto, moto.create_network(), storage)
        done = run_round_trip(install)
    print(f"\nORB CLI round trip on {storage or 'json'}: {done.seconds:.1f} s")
    return done


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    return round_trip(tmp_path_factory.mktemp("orb") / "json")


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
    again = round_trip(tmp_path / "json-again")
    assert again.request_ids != json_run.request_ids  # fresh ids, fresh instances
    assert differences(again.normalised(), json_run.normalised()) == []
