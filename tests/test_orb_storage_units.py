"""What ORB's own storage gets wrong, right on ``ohf``: rollback, lost updates, big units."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path
from typing import Any

import pytest
from orb.application.services.admin.cleanup_database import CleanupDatabaseService
from orb.domain.base.exceptions import ConcurrencyError
from orb.domain.machine.machine_identifiers import MachineId
from orb.domain.machine.value_objects import MachineStatus
from orb.domain.request.value_objects import RequestId, RequestStatus

from ohf_persistence import sync
from tests.orb_support import (
    as_record,
    backend,
    json_factory,
    ohf_factory,
    ohf_store,
    ohf_url,
    rmw_worker,
    sample,
)
from tests.test_interop_support import persistent_backends

__all__ = ["backend", "ohf_store", "ohf_url"]


class Boom(Exception):
    pass


def _everything(factory: Any) -> Any:
    with factory.create_unit_of_work() as uow:
        return [
            as_record(uow.templates.find_all()),
            as_record(uow.requests.find_all()),
            as_record(uow.machines.find_all()),
        ]


def test_an_exception_inside_orbs_unit_of_work_leaves_nothing_written(
    backend: str, ohf_store: sync.SyncStore, tmp_path: Path
) -> None:
    data = sample()
    factories = {"json": json_factory(tmp_path / "json"), "ohf": ohf_factory(ohf_store)}
    for factory in factories.values():
        with factory.create_unit_of_work() as uow:
            uow.requests.save(data["requests"][0])
    before = {name: _everything(f) for name, f in factories.items()}
    assert before["json"] == before["ohf"]
    for factory in factories.values():
        with pytest.raises(Boom), factory.create_unit_of_work() as uow:
            uow.templates.save(data["templates"][0])
            uow.machines.save_batch(data["machines"][:5])
            changed = uow.requests.find_by_request_id(str(data["requests"][0].request_id))
            uow.requests.save(changed.update_status(RequestStatus.IN_PROGRESS, "half done"))
            uow.requests.delete(data["requests"][0].request_id)
            raise Boom
    assert _everything(factories["ohf"]) == before["ohf"]  # ours: a real rollback
    assert ohf_store.machines.count() == 0 and ohf_store.templates.count() == 0
    # ORB's JSON storage has no rollback: the same block left its writes behind
    assert _everything(factories["json"]) != before["json"]


def test_a_failed_commit_writes_nothing_and_is_orbs_concurrency_error(
    backend: str, ohf_store: sync.SyncStore
) -> None:
    data = sample()
    factory = ohf_factory(ohf_store)
    request = data["requests"][0]
    with factory.create_unit_of_work() as uow:
        uow.requests.save(request)
    before = _everything(factory)
    with pytest.raises(ConcurrencyError), factory.create_unit_of_work() as uow:
        loaded = uow.requests.find_by_request_id(str(request.request_id))
        uow.machines.save_batch(data["machines"][:3])
        # someone else changes the request after our read
        assert ohf_store.requests.update_status(str(request.request_id), "in_progress")
        uow.requests.save(loaded.update_status(RequestStatus.CANCELLED, "stale"))
    after = _everything(factory)
    assert after[2] == before[2] == []  # the machines of the failed unit are not there
    assert after[1][0]["status"] == "in_progress"  # the other writer's change survived


@pytest.mark.parametrize("kind", persistent_backends())
def test_two_processes_read_modify_write_lose_no_update(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url: str = sync.run(request.getfixturevalue(f"{kind}_url_factory")())
    original = sample()["requests"][0]
    with sync.open_store(url) as store, ohf_factory(store).create_unit_of_work() as uow:
        uow.requests.save(original)
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(
            target=rmw_worker, args=(url, str(original.request_id), label, barrier, results)
        )
        for label in ("first", "second")
    ]
    for worker in workers:
        worker.start()
    outcomes = sorted(results.get(timeout=120) for _ in workers)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert sum(conflicts for _, _, conflicts in outcomes) == 1  # exactly one had to retry
    assert sorted(attempts for _, attempts, _ in outcomes) == [1, 2]
    with sync.open_store(url) as store, ohf_factory(store).create_unit_of_work() as uow:
        final = uow.requests.find_by_request_id(str(original.request_id))
    assert {"first", "second"} <= set(final.metadata)  # neither update was lost


def _many(data: dict[str, list[Any]], count: int) -> tuple[list[Any], list[Any]]:
    """``count`` complete requests, one machine each, made from the sample's aggregates."""
    base_request = data["requests"][0]
    base_machine = data["machines"][0]
    requests, machines = [], []
    for n in range(count):
        rid = f"req-{uuid.uuid4()}"
        requests.append(
            base_request.model_copy(
                update={"request_id": RequestId(value=rid), "status": RequestStatus.COMPLETED}
            )
        )
        machines.append(
            base_machine.model_copy(
                update={
                    "machine_id": MachineId(value=f"i-{n:017x}"),
                    "request_id": rid,
                    "status": MachineStatus.TERMINATED,
                }
            )
        )
    return requests, machines


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
def test_orb_cleanup_larger_than_one_dynamodb_transaction(
    backend: str, ohf_store: sync.SyncStore
) -> None:
    factory = ohf_factory(ohf_store)
    requests, machines = _many(sample(), 130)
    with factory.create_unit_of_work() as uow:  # 260 writes: three chunks
        for request in requests:
            uow.requests.save(request)
        uow.machines.save_batch(machines)
    assert ohf_store.requests.count() == 130 and ohf_store.machines.count() == 130
    outcome = CleanupDatabaseService(factory).bulk_cleanup(["complete"])  # type: ignore[arg-type]
    assert (outcome.requests_deleted, outcome.machines_deleted) == (130, 130)
    assert ohf_store.requests.count() == 0 and ohf_store.machines.count() == 0


@pytest.mark.parametrize("backend", ["dynamodb"], indirect=True)
def test_a_failing_chunk_undoes_the_chunks_already_committed(
    backend: str, ohf_store: sync.SyncStore
) -> None:
    factory = ohf_factory(ohf_store)
    _, machines = _many(sample(), 150)
    with factory.create_unit_of_work() as uow:
        uow.machines.save_batch(machines)
    before = _everything(factory)
    last = str(machines[-1].machine_id.value)  # staged last: in the second chunk
    with pytest.raises(ConcurrencyError), factory.create_unit_of_work() as uow:
        for machine in uow.machines.find_all():
            uow.machines.save(machine.update_status(MachineStatus.RETURNED, "bulk"))
        assert ohf_store.machines.update_status(last, "returned", "someone else")
    after = _everything(factory)
    assert len(after[2]) == 150
    by_id = {m["machine_id"]: m for m in after[2]}
    assert by_id[last]["status_reason"] == "someone else"
    expected = {m["machine_id"]: m for m in before[2]}
    assert all(by_id[k] == expected[k] for k in expected if k != last)  # first chunk undone


def test_a_units_repositories_are_built_once_and_share_its_session(tmp_path: Path) -> None:
    # ORB's repositories are built on first use (ORB makes a unit per operation, most use
    # one): each must still be one object per unit, on the unit's one session.
    from ohf_persistence.orb.unit_of_work import OhfUnitOfWork

    with sync.open_store(f"sqlite+aiosqlite:///{tmp_path / 'u.db'}", migrate=True) as store:
        uow = OhfUnitOfWork(store)
        assert uow.requests is uow.request_repository is uow.requests
        assert uow.machines is uow.machine_repository
        assert uow.templates is uow.template_repository
        strategies = [r.storage_strategy for r in (uow.requests, uow.machines, uow.templates)]
        assert {id(s.session) for s in strategies} == {id(uow.session)}
        assert [s.entity_type for s in strategies] == ["requests", "machines", "templates"]
        data = sample()
        with pytest.raises(Boom), uow:
            uow.requests.save(data["requests"][0])
            uow.machines.save(data["machines"][0])
            raise Boom
        assert store.requests.count() == 0 and store.machines.count() == 0
