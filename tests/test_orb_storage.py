"""ORB's own repositories and services on ``ohf`` against ORB's own JSON storage.

The same sequence of operations (saves, finds by criteria, status changes, deletes, ORB's
cleanup service) runs through ORB's JSON unit of work and through ours, one unit of work per
operation as ORB does it; every result must be equal, on every backend.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from orb.application.services.admin.cleanup_database import CleanupDatabaseService
from orb.domain.machine.value_objects import MachineStatus
from orb.domain.request.value_objects import RequestStatus, RequestType

from ohf_persistence import sync
from tests.orb_support import (
    as_record,
    backend,
    json_factory,
    ohf_factory,
    ohf_store,
    ohf_url,
    sample,
)
from tests.test_interop_support import (
    FIXTURE_FILE,
    assert_orb_equal,
    cli,
    load,
    persistent_backends,
)

__all__ = ["backend", "ohf_store", "ohf_url"]  # fixtures used by the tests below


class Twin:
    """Runs each operation on ORB's JSON storage and on ours and checks the results agree."""

    def __init__(self, json_dir: Path, store: sync.SyncStore) -> None:
        self.json = json_factory(json_dir)
        self.ohf = ohf_factory(store)
        self.compared = 0

    def run(self, op: Callable[[Any], Any]) -> Any:
        with self.json.create_unit_of_work() as uow:
            expected = op(uow)
        with self.ohf.create_unit_of_work() as uow:
            got = op(uow)
        assert as_record(got) == as_record(expected)
        self.compared += 1
        return expected

    def write(self, op: Callable[[Any], Any]) -> None:
        """A write: the same aggregates go to both sides (each in its own unit of work)."""
        for factory in (self.json, self.ohf):
            with factory.create_unit_of_work() as uow:
                op(uow)


def _reads(twin: Twin, data: dict[str, list[Any]]) -> None:
    """Every read ORB's repositories offer, on the state both sides hold."""
    requests, machines, templates = data["requests"], data["machines"], data["templates"]
    twin.run(lambda u: u.requests.find_all())
    twin.run(lambda u: u.machines.find_all())
    twin.run(lambda u: u.templates.find_all())
    for status in RequestStatus:
        twin.run(lambda u, s=status: u.requests.find_by_status(s))
    for status in MachineStatus:
        twin.run(lambda u, s=status: u.machines.find_by_status(s))
    for kind in RequestType:
        twin.run(lambda u, k=kind: u.requests.find_by_type(k))
    twin.run(lambda u: u.requests.find_active_requests())
    twin.run(lambda u: u.machines.find_active_machines())
    twin.run(lambda u: u.templates.find_active_templates())
    twin.run(lambda u: u.requests.count_by_status())
    twin.run(lambda u: u.machines.count_by_status())
    twin.run(
        lambda u: u.requests.find_by_ids(
            [str(r.request_id) for r in requests] + ["req-00000000-0000-4000-8000-000000000000"]
        )
    )
    for request in requests:
        rid = str(request.request_id)
        twin.run(lambda u, r=rid: u.requests.find_by_request_id(r))
        twin.run(lambda u, r=rid: u.requests.exists(r))
        twin.run(lambda u, r=rid: u.machines.find_by_request_id(r))
        twin.run(lambda u, r=rid: u.machines.find_by_return_request_id(r))
    for template in templates:
        tid = str(template.template_id)
        twin.run(lambda u, t=tid: u.requests.find_by_template_id(t))
        twin.run(lambda u, t=tid: u.machines.find_by_template_id(t))
        twin.run(lambda u, t=tid: u.templates.find_by_template_id(t))
        twin.run(lambda u, t=template: u.templates.find_by_name(t.name))
        twin.run(lambda u, t=template: u.templates.find_by_provider_api(t.provider_api))
        twin.run(lambda u, t=template: u.templates.search_templates({"image_id": t.machine_image}))
    for machine in machines[:8]:
        twin.run(lambda u, m=machine: u.machines.get_by_id(m.machine_id))
        twin.run(lambda u, m=machine: u.machines.find_by_machine_id(m.machine_id))
    twin.run(lambda u: u.machines.find_by_ids([str(m.machine_id.value) for m in machines[:5]]))
    twin.run(lambda u: u.machines.get_by_id("i-unknown"))
    twin.run(lambda u: u.requests.find_by_request_id("req-00000000-0000-4000-8000-000000000001"))


def test_orb_repositories_agree_with_orb_json_storage(
    backend: str, ohf_store: sync.SyncStore, tmp_path: Path
) -> None:
    twin = Twin(tmp_path / "json", ohf_store)
    data = sample()
    requests, machines, templates = data["requests"], data["machines"], data["templates"]

    # saves, one unit of work per operation (templates one by one, machines as a batch)
    for template in templates:
        twin.write(lambda u, t=template: u.templates.save(t))
    for request in requests:
        twin.write(lambda u, r=request: u.requests.save(r))
    twin.write(lambda u: u.machines.save_batch(machines))
    _reads(twin, data)

    # status changes: read on both sides (equal), change once, save the same aggregate
    pending = [r for r in requests if r.status == RequestStatus.PENDING]
    for request in pending:
        rid = str(request.request_id)
        loaded = twin.run(lambda u, r=rid: u.requests.find_by_request_id(r))
        changed = loaded.update_status(RequestStatus.IN_PROGRESS, "provisioning")
        twin.write(lambda u, c=changed: u.requests.save(c))
    for machine in machines[:10]:
        loaded = twin.run(lambda u, m=machine: u.machines.get_by_id(m.machine_id))
        target = MachineStatus.RUNNING if loaded.status != MachineStatus.RUNNING else "stopped"
        changed = loaded.update_status(MachineStatus(target), "observed")
        twin.write(lambda u, c=changed: u.machines.save(c))
    _reads(twin, data)

    # deletes, then ORB's own cleanup service (an application-level operation)
    for machine in machines[10:14]:
        twin.write(lambda u, m=machine: u.machines.delete(m.machine_id))
    finished = next(r for r in requests if r.status.value in ("complete", "failed"))
    twin.run(
        lambda u, r=str(finished.request_id): CleanupDatabaseService(_Single(u)).delete_request(r)
    )
    twin.run(
        lambda u: CleanupDatabaseService(_Single(u)).bulk_cleanup(["failed", "cancelled"]).__dict__
    )
    _reads(twin, data)
    assert twin.compared > 150


class _Single:
    """A factory handing out one given unit of work (the twin already opened it)."""

    def __init__(self, uow: Any) -> None:
        self._uow = uow

    def create_unit_of_work(self) -> Any:
        return _Reentered(self._uow)


class _Reentered:
    """ORB's services ``with`` the unit of work themselves; the twin's unit is already open."""

    def __init__(self, uow: Any) -> None:
        self._uow = uow

    def __enter__(self) -> Any:
        return self._uow

    def __exit__(self, *exc: object) -> None:
        return None


def test_orb_services_through_their_own_factory(
    backend: str, ohf_store: sync.SyncStore, tmp_path: Path
) -> None:
    """ORB's cleanup service given the factories themselves (its own unit of work per call)."""
    data = sample()
    results = []
    for factory in (json_factory(tmp_path / "json"), ohf_factory(ohf_store)):
        with factory.create_unit_of_work() as uow:
            for request in data["requests"]:
                uow.requests.save(request)
            uow.machines.save_batch(data["machines"])
        service = CleanupDatabaseService(factory)  # type: ignore[arg-type]
        outcome = service.bulk_cleanup(["complete", "partial"], include_machines=True)
        with factory.create_unit_of_work() as uow:
            left = as_record(uow.requests.find_all()), as_record(uow.machines.find_all())
        results.append((outcome.requests_deleted, outcome.machines_deleted, left))
    assert results[0] == results[1]
    assert results[1][0] == 2  # the sample holds one complete and one partial request


@pytest.mark.parametrize("backend", persistent_backends(), indirect=True)
def test_an_imported_orb_file_reads_and_exports_the_same_through_orb(
    backend: str, ohf_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Moving an ORB install over (``import``) and back (``export --format orb-json``)."""
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    shutil.copyfile(FIXTURE_FILE, json_dir / "request_database.json")
    code, _out, err = cli(
        capsys, "import", str(json_dir / "request_database.json"), "--url", ohf_url
    )
    assert code == 0, err
    with sync.open_store(ohf_url) as store:
        twin = Twin(json_dir, store)
        data = sample()
        _reads(twin, data)
        pending = next(r for r in data["requests"] if r.status == RequestStatus.PENDING)
        loaded = twin.run(lambda u: u.requests.find_by_request_id(str(pending.request_id)))
        changed = loaded.update_status(RequestStatus.IN_PROGRESS, "moved to ohf")
        twin.write(lambda u: u.requests.save(changed))
    out = tmp_path / "back.json"
    code, _out, err = cli(capsys, "export", "--format", "orb-json", "--url", ohf_url, str(out))
    assert code == 0, err
    assert_orb_equal(load(json_dir / "request_database.json"), load(out))
