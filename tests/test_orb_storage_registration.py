"""How ORB finds and configures the ``ohf`` storage type, and what it reports when it cannot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from orb.config.managers.configuration_manager import ConfigurationManager
from orb.config.schemas.storage_schema import StorageConfig
from orb.domain.base.exceptions import ConfigurationError
from orb.infrastructure.storage.exceptions import DataIntegrityError
from orb.infrastructure.storage.registry import get_storage_registry
from orb.infrastructure.storage.repositories.request_repository import RequestRepositoryImpl
from orb.infrastructure.storage.repositories.template_repository import TemplateRepositoryImpl
from orb.providers.registration import discover_provider_plugins

import ohf_persistence.orb as ohf_orb
from ohf_persistence import sync
from ohf_persistence.orb import registration
from ohf_persistence.orb.session import Session
from ohf_persistence.orb.strategy import OhfStorageStrategy
from tests.orb_support import as_record, sample


def test_orbs_entry_point_discovery_registers_ohf() -> None:
    assert "ohf" in discover_provider_plugins()
    registry = get_storage_registry()
    assert registry.is_registered("ohf")
    assert StorageConfig(strategy="ohf").strategy == "ohf"  # ORB's config now accepts it
    assert ohf_orb.register() is True  # idempotent
    assert ohf_orb.register() is True


def test_the_entry_point_never_raises_into_orb(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> bool:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(ohf_orb, "register", broken)
    with caplog.at_level(logging.ERROR, logger="ohf_persistence.orb"):
        assert ohf_orb.plugin() is None
    assert "registry exploded" in caplog.text


def test_url_comes_from_orb_config_then_environment_then_the_work_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OHF_STORAGE_URL", raising=False)
    storage = {"ohf": {"url": "memory://"}, "json_strategy": {"base_path": str(tmp_path)}}
    assert registration.resolve_url(storage) == "memory://"
    monkeypatch.setenv("OHF_STORAGE_URL", "postgresql+asyncpg://u@h/db")
    assert registration.resolve_url(storage) == "memory://"
    assert registration.resolve_url({"json_strategy": {"base_path": str(tmp_path)}}) == (
        "postgresql+asyncpg://u@h/db"
    )
    monkeypatch.delenv("OHF_STORAGE_URL")
    assert registration.resolve_url({"json_strategy": {"base_path": str(tmp_path)}}) == (
        f"sqlite+aiosqlite:///{tmp_path / 'ohf.db'}"
    )


def test_orb_configuration_manager_with_the_ohf_section(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'folders' / 'orb.db'}"
    manager = ConfigurationManager(
        config_dict={"storage": {"strategy": "ohf", "ohf": {"url": url}}}
    )
    assert manager.get_storage_strategy() == "ohf"
    uow = registration.create_unit_of_work(manager)
    assert (tmp_path / "nested" / "folders" / "orb.db").exists()  # folders made, migrated
    request = sample()["requests"][0]
    with uow:
        uow.requests.save(request)
    again = registration.create_unit_of_work(manager)
    assert again.session.store is uow.session.store  # one store per process
    with again:
        assert as_record(again.requests.find_by_id(str(request.request_id))) == as_record(request)


def test_default_is_a_sqlite_file_under_orbs_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OHF_STORAGE_URL", raising=False)
    base = tmp_path / "work" / "data"
    config = {"storage": {"strategy": "ohf", "json_strategy": {"base_path": str(base)}}}
    strategy = registration.create_strategy(config)
    assert (base / "ohf.db").exists()
    assert strategy.session.store.backend == "sqlite"


def test_unmigrated_remote_store_names_the_migrate_command(moto_endpoint: str) -> None:
    from tests.backends.dynamodb import dynamodb_url, fresh_prefix

    url = dynamodb_url(moto_endpoint, fresh_prefix())
    with pytest.raises(ConfigurationError, match="ohf-persistence migrate"):
        registration.process_store(url)


def _memory_strategy() -> tuple[OhfStorageStrategy, sync.SyncStore]:
    store = sync.open_store("memory://")
    return OhfStorageStrategy(Session(store)), store


def test_factory_strategies_learn_their_entity_type_from_the_orb_repository() -> None:
    # ORB's factory gives a strategy no entity hint; only MachineRepositoryImpl sets one.
    data = sample()
    requests_strategy, store = _memory_strategy()
    templates_strategy = OhfStorageStrategy(requests_strategy.session)
    requests = RequestRepositoryImpl(requests_strategy)
    templates = TemplateRepositoryImpl(templates_strategy)
    requests.save(data["requests"][0])
    templates.save(data["templates"][0])
    assert (requests_strategy.entity_type, templates_strategy.entity_type) == (
        "requests",
        "templates",
    )
    assert store.requests.count() == 1 and store.templates.count() == 1
    assert requests.find_by_request_id(str(data["requests"][0].request_id)) is not None
    store.close()


def test_a_strategy_used_outside_orbs_repositories_must_be_told_its_type() -> None:
    from orb.infrastructure.storage.exceptions import StorageError

    strategy, store = _memory_strategy()
    with pytest.raises(StorageError, match="entity type"):
        strategy.find_all()
    strategy.entity_type = "machines"
    assert strategy.find_all() == {}
    store.close()


def test_our_errors_become_orbs_storage_errors() -> None:  # with a readable message
    strategy, store = _memory_strategy()
    strategy.entity_type = "machines"
    bad: dict[str, Any] = {"machine_id": "i-1", "status": "exploded"}
    with pytest.raises(DataIntegrityError) as raised:
        strategy.save("i-1", bad)
    assert raised.value.__cause__ is not None  # ours, kept as the cause
    assert "exploded" in str(raised.value)
    assert store.machines.count() == 0
    store.close()


def test_health_probe_reports_and_never_raises(tmp_path: Path) -> None:
    store = sync.open_store(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", migrate=True)
    strategy = OhfStorageStrategy(Session(store), "requests")
    healthy, details = strategy.is_healthy()
    assert healthy and details["backend"] == "sqlite"
    store.close()
    healthy, details = strategy.is_healthy()  # a closed store: reported, not raised
    assert not healthy and details["reason"]


def test_criteria_orb_uses_and_count_by_column() -> None:
    strategy, store = _memory_strategy()
    strategy.entity_type = "machines"
    machines = sample()["machines"]
    from orb.infrastructure.storage.repositories.machine_repository import MachineSerializer

    serializer = MachineSerializer()
    strategy.save_batch({str(m.machine_id.value): serializer.to_dict(m) for m in machines})
    records = [serializer.to_dict(m) for m in machines]
    for criteria in (
        {"status": "running"},
        {"request_id": records[0]["request_id"]},
        {"template_id": records[0]["template_id"], "status": "pending"},
        {"security_group_ids": "sg-0123"},  # a list field matches by membership
        {"tags.Name": "host-3"},  # dotted: into dicts
        {"status": {"$in": ["running", "stopped"]}},
        {"machine_id": records[4]["machine_id"]},
        {"status": "no-such-status"},
    ):
        got = sorted(r["machine_id"] for r in strategy.find_by_criteria(criteria))
        want = sorted(r["machine_id"] for r in records if _orb_match(r, criteria))
        assert got == want, criteria
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    assert strategy.count_by_column("status") == counts
    assert strategy.count() == len(records)
    store.close()


def _orb_match(record: dict[str, Any], criteria: dict[str, Any]) -> bool:
    from orb.infrastructure.storage.base.strategy import BaseStorageStrategy
    from orb.infrastructure.storage.json.strategy import JSONStorageStrategy

    for name, value in criteria.items():
        one = {name: value}
        if isinstance(value, dict):  # ``$in`` is the JSON strategy's
            if not JSONStorageStrategy._matches_criteria(None, record, one):  # type: ignore[arg-type]
                return False
        elif not BaseStorageStrategy._matches_criteria(None, record, one):  # type: ignore[arg-type]
            return False
    return True
