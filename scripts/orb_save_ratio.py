"""ORB repository saves through ``ohf`` (SQLite) vs the same ORB repository on a plain
in-process dict strategy, in the same run (issue 10: the bridge must reach >= 0.5x).

    python scripts/orb_save_ratio.py [N] [ROUNDS]     # default 1000 saves, 5 rounds

Two shapes, each as ORB uses it: a singleton RequestRepositoryImpl saving outside any unit of
work, and one ORB unit of work per save (``with factory.create_unit_of_work() as uow``).
Rounds alternate dict / ohf so a noisy machine hits both alike; the median ratio is printed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from orb.domain.request.value_objects import RequestId
from orb.infrastructure.storage.base.strategy import BaseStorageStrategy
from orb.infrastructure.storage.base.unit_of_work import BaseUnitOfWork
from orb.infrastructure.storage.repositories.machine_repository import MachineRepositoryImpl
from orb.infrastructure.storage.repositories.request_repository import (
    RequestRepositoryImpl,
    RequestSerializer,
)
from orb.infrastructure.storage.repositories.template_repository import TemplateRepositoryImpl

from ohf_persistence.orb.registration import process_store
from ohf_persistence.orb.strategy import OhfStorageStrategy, Session
from ohf_persistence.orb.unit_of_work import OhfUnitOfWork

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "orb-json"


class DictStrategy(BaseStorageStrategy):  # type: ignore[misc]
    """The cheapest strategy possible: a dict in this process (no copies, no I/O)."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows

    def save(self, entity_id: str, data: dict[str, Any]) -> None:
        self.rows[entity_id] = data

    def find_by_id(self, entity_id: str) -> dict[str, Any] | None:
        return self.rows.get(entity_id)

    def find_all(self) -> dict[str, dict[str, Any]]:
        return dict(self.rows)

    def delete(self, entity_id: str) -> None:
        self.rows.pop(entity_id, None)

    def exists(self, entity_id: str) -> bool:
        return entity_id in self.rows

    def begin_transaction(self) -> None:
        """No transactions: a dict."""

    def commit_transaction(self) -> None:
        """No transactions: a dict."""

    def rollback_transaction(self) -> None:
        """No transactions: a dict."""


class DictUnitOfWork(BaseUnitOfWork):  # type: ignore[misc]
    def __init__(self, tables: dict[str, dict[str, dict[str, Any]]]) -> None:
        super().__init__()
        self.machine_repository = MachineRepositoryImpl(DictStrategy(tables["machines"]))
        self.request_repository = RequestRepositoryImpl(DictStrategy(tables["requests"]))
        self.template_repository = TemplateRepositoryImpl(DictStrategy(tables["templates"]))

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


def requests(n: int) -> list[Any]:
    import json

    record = next(
        iter(json.loads((FIXTURE / "request_database.json").read_text())["requests"].values())
    )
    base = RequestSerializer().from_dict(record)
    return [
        base.model_copy(update={"request_id": RequestId(value=f"req-{uuid.uuid4()}")})
        for _ in range(n)
    ]


def rate(save: Any, items: list[Any]) -> float:
    start = time.perf_counter()
    for item in items:
        save(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    folder = Path(tempfile.mkdtemp(prefix="orb-save-ratio-"))
    store = process_store(f"sqlite+aiosqlite:///{folder / 'ohf.db'}")
    tables: dict[str, dict[str, dict[str, Any]]] = {"machines": {}, "requests": {}, "templates": {}}
    dict_repo = RequestRepositoryImpl(DictStrategy(tables["requests"]))
    ohf_repo = RequestRepositoryImpl(OhfStorageStrategy(Session(store), "requests"))

    def in_unit(make: Any) -> Any:
        def save(request: Any) -> None:
            with make() as uow:
                uow.requests.save(request)

        return save

    shapes = {
        "repository save (no unit of work)": (dict_repo.save, ohf_repo.save),
        "one unit of work per save": (
            in_unit(lambda: DictUnitOfWork(tables)),
            in_unit(lambda: OhfUnitOfWork(store)),
        ),
    }
    rate(ohf_repo.save, requests(50))  # warm up: imports, statement cache
    for shape, (plain, ohf) in shapes.items():
        ratios, plain_rates, ohf_rates = [], [], []
        for _ in range(rounds):
            p = rate(plain, requests(n))
            o = rate(ohf, requests(n))
            plain_rates.append(p)
            ohf_rates.append(o)
            ratios.append(o / p)
        print(
            f"{shape}: dict strategy {statistics.median(plain_rates):,.0f}/s, "
            f"ohf sqlite {statistics.median(ohf_rates):,.0f}/s, ratio median "
            f"{statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
