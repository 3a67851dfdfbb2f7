"""A process that never read some rows saves them in one ORB unit of work (what ORB's machine
sync does in each ``orb requests status`` process): the unit commits on every backend,
including DynamoDB, whose unit only buffers writes until commit."""

from __future__ import annotations

from typing import Any

import pytest

from ohf_persistence import sync
from tests.orb_support import ohf_factory, sample
from tests.test_interop_support import persistent_backends


@pytest.fixture(params=persistent_backends())
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_saving_rows_this_process_never_read_in_one_orb_unit(
    backend: str, url_factory: Any
) -> None:
    url: str = sync.run(url_factory())
    machines = sample()["machines"][:3]
    # another process wrote them
    with sync.open_store(url) as first, ohf_factory(first).create_unit_of_work() as uow:
        uow.machines.save_batch(machines)
    changed = [m.model_copy(update={"status_reason": f"sync {n}"}) for n, m in enumerate(machines)]
    with sync.open_store(url) as fresh:  # a new process: no version known for any row
        with ohf_factory(fresh).create_unit_of_work() as uow:
            for machine in changed:
                uow.machines.save(machine)
        with ohf_factory(fresh).create_unit_of_work() as uow:
            stored = [uow.machines.find_by_id(m.machine_id) for m in machines]
    assert [m.status_reason for m in stored] == ["sync 0", "sync 1", "sync 2"]
