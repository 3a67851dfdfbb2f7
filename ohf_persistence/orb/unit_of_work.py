"""ORB's unit of work = one of ours: commit on a clean exit, a real rollback on an exception."""

from __future__ import annotations

from typing import Any

from orb.infrastructure.storage.base.unit_of_work import BaseUnitOfWork
from orb.infrastructure.storage.repositories.machine_repository import MachineRepositoryImpl
from orb.infrastructure.storage.repositories.request_repository import RequestRepositoryImpl
from orb.infrastructure.storage.repositories.template_repository import TemplateRepositoryImpl

from .. import sync
from .strategy import OhfStorageStrategy, Session


class OhfUnitOfWork(BaseUnitOfWork):  # type: ignore[misc]  # ORB's class is untyped
    """ORB's own repositories over ``ohf`` strategies sharing one session (one unit of ours).

    ``with uow_factory.create_unit_of_work() as uow:`` begins our unit of work; leaving the
    block normally commits it (all or nothing), leaving it by an exception rolls it back so
    nothing of it is written.
    """

    def __init__(self, store: sync.SyncStore) -> None:
        super().__init__()
        self.session = Session(store)
        self.machine_repository = MachineRepositoryImpl(
            OhfStorageStrategy(self.session, "machines")
        )
        self.request_repository = RequestRepositoryImpl(
            OhfStorageStrategy(self.session, "requests")
        )
        self.template_repository = TemplateRepositoryImpl(
            OhfStorageStrategy(self.session, "templates")
        )

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
        self.session.begin()

    def _commit_transaction(self) -> None:
        try:
            self.session.commit()
        finally:
            # Our unit is finished either way (a failed commit wrote nothing and was rolled
            # back): ORB's flag must not claim a transaction is still open.
            self._in_transaction = False

    def _rollback_transaction(self) -> None:
        self.session.rollback()
