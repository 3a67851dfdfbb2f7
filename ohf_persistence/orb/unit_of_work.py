"""ORB's unit of work = one of ours: commit on a clean exit, a real rollback on an exception."""

from __future__ import annotations

from typing import Any

from orb.infrastructure.storage.base.unit_of_work import BaseUnitOfWork
from orb.infrastructure.storage.repositories.machine_repository import MachineRepositoryImpl
from orb.infrastructure.storage.repositories.request_repository import RequestRepositoryImpl
from orb.infrastructure.storage.repositories.template_repository import TemplateRepositoryImpl

from .. import sync
from .session import Session
from .strategy import OhfStorageStrategy


class RepositoryNames:
    """The short names ORB's handlers use for a unit of work's repositories (``uow.requests``
    for ``uow.request_repository``), for every unit of work ORB gets from us."""

    machine_repository: Any
    request_repository: Any
    template_repository: Any

    @property
    def machines(self) -> Any:
        return self.machine_repository

    @property
    def requests(self) -> Any:
        return self.request_repository

    @property
    def templates(self) -> Any:
        return self.template_repository


class OhfUnitOfWork(RepositoryNames, BaseUnitOfWork):  # type: ignore[misc]  # ORB's class is untyped
    """ORB's own repositories over ``ohf`` strategies sharing one session (one unit of ours).

    ``with uow_factory.create_unit_of_work() as uow:`` begins our unit of work; leaving the
    block normally commits it (all or nothing), leaving it by an exception rolls it back so
    nothing of it is written.

    ORB builds a unit of work per operation and most operations use one repository, so each
    ORB repository is built on first use (building all three cost more than a saved row).
    """

    def __init__(self, store: sync.SyncStore) -> None:
        super().__init__()
        self.session = Session(store)
        self._machines: MachineRepositoryImpl | None = None
        self._requests: RequestRepositoryImpl | None = None
        self._templates: TemplateRepositoryImpl | None = None

    @property
    def machine_repository(self) -> Any:
        if self._machines is None:
            self._machines = MachineRepositoryImpl(OhfStorageStrategy(self.session, "machines"))
        return self._machines

    @property
    def request_repository(self) -> Any:
        if self._requests is None:
            self._requests = RequestRepositoryImpl(OhfStorageStrategy(self.session, "requests"))
        return self._requests

    @property
    def template_repository(self) -> Any:
        if self._templates is None:
            self._templates = TemplateRepositoryImpl(OhfStorageStrategy(self.session, "templates"))
        return self._templates

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
