"""Shared helpers of the ORB storage tests: ORB aggregates from ORB's own sample file, the two
unit-of-work factories (ORB's JSON one and ours) and a normal form of ORB's results."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import sync
from tests.test_interop_support import FIXTURE_FILE, store_backends

pytest.importorskip("orb", reason="ORB tests need orb-py (the test extra installs it)")

from orb.infrastructure.storage.json.unit_of_work import JSONUnitOfWork
from orb.infrastructure.storage.repositories.machine_repository import (
    MachineSerializer,
)
from orb.infrastructure.storage.repositories.request_repository import (
    RequestSerializer,
)
from orb.infrastructure.storage.repositories.template_repository import (
    TemplateSerializer,
)

from ohf_persistence.orb.unit_of_work import OhfUnitOfWork

SERIALIZERS: dict[str, Any] = {
    "templates": TemplateSerializer(),
    "requests": RequestSerializer(),
    "machines": MachineSerializer(),
}
_SORT_KEYS = ("machine_id", "request_id", "template_id")


def sample() -> dict[str, list[Any]]:
    """ORB aggregates of ORB's own sample file, per section."""
    document = json.loads(Path(FIXTURE_FILE).read_text())
    return {
        section: [SERIALIZERS[section].from_dict(r) for r in document[section].values()]
        for section in SERIALIZERS
    }


def as_record(value: Any) -> Any:
    """ORB aggregates as ORB's own storage dicts; lists of them sorted by id."""
    for section, serializer in SERIALIZERS.items():
        cls_name = section[:-1].capitalize()
        if type(value).__name__ == cls_name:
            return serializer.to_dict(value)
    if isinstance(value, list):
        records = [as_record(v) for v in value]
        if records and isinstance(records[0], dict):
            # machines carry request_id and template_id too: the most specific key first
            key = next((k for k in _SORT_KEYS if k in records[0]), None)
            if key is not None:
                records.sort(key=lambda r: str(r[key]))
        return records
    return value


class UowFactory:
    """ORB's ``UnitOfWorkFactory`` shape: ``create_unit_of_work()``."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make

    def create_unit_of_work(self) -> Any:
        return self._make()

    create = create_unit_of_work


def json_factory(folder: Path) -> UowFactory:
    """ORB's default storage: one ``request_database.json`` for every section."""

    def make() -> Any:
        return JSONUnitOfWork(  # type: ignore[abstract]
            data_dir=str(folder),
            machine_file="request_database.json",
            request_file="request_database.json",
            template_file="request_database.json",
            backup_enabled=False,
        )

    return UowFactory(make)


def ohf_factory(store: sync.SyncStore) -> UowFactory:
    return UowFactory(lambda: OhfUnitOfWork(store))


@pytest.fixture(params=store_backends())
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def ohf_url(url_factory: Callable[[], Any]) -> str:
    """A fresh, migrated store URL of the parametrized backend."""
    url: str = sync.run(url_factory())
    return url


@pytest.fixture
def ohf_store(ohf_url: str) -> Iterator[sync.SyncStore]:
    with sync.open_store(ohf_url) as store:
        yield store


def rmw_worker(url: str, request_id: str, label: str, barrier: Any, results: Any) -> None:
    """One process of the lost-update test: read the request in an ORB unit of work, wait for
    the other process to have read it too, add ``label`` to its metadata, save; on ORB's
    ConcurrencyError re-read and retry (what ORB's handlers do)."""
    from orb.domain.base.exceptions import ConcurrencyError

    attempts = conflicts = 0
    with sync.open_store(url) as store:
        factory = ohf_factory(store)
        while True:
            attempts += 1
            try:
                with factory.create_unit_of_work() as uow:
                    request = uow.requests.find_by_request_id(request_id)
                    if attempts == 1:
                        barrier.wait(60)  # both processes hold the same version now
                    metadata = {**request.metadata, label: attempts}
                    uow.requests.save(request.model_copy(update={"metadata": metadata}))
                break
            except ConcurrencyError:
                conflicts += 1
                if attempts > 5:
                    raise
    results.put((label, attempts, conflicts))


def orb_manager(storage: dict[str, Any]) -> Any:
    """ORB's ConfigurationManager for a config whose ``storage`` section is ``storage``."""
    from orb.config.managers.configuration_manager import ConfigurationManager

    return ConfigurationManager(config_dict={"storage": storage})


def default_db(root: Path) -> Path:
    """Where ``ohf`` keeps its SQLite file by default under the ORB root of ``orb_env``."""
    return root / "orb" / "work" / "data" / "ohf.db"
