"""The contract suite, shipped so any backend (yours too) can be checked against DESIGN.md.

Subclass ``StoreContract`` (every contract below in one class) in a pytest module and give it
a fixture ``store`` that yields a fresh, empty, migrated ``Store`` per test. The tests carry
pytest-asyncio's ``asyncio`` mark, so they run under its default *strict* mode; in strict mode
an async fixture must be declared with ``pytest_asyncio.fixture`` (``asyncio_mode = "auto"``
also accepts ``pytest.fixture``)::

    import pytest_asyncio
    from ohf_persistence import open_store
    from ohf_persistence.testing import StoreContract

    class TestMyDatabase(StoreContract):
        @pytest_asyncio.fixture
        async def store(self):
            async with open_store("sqlite+aiosqlite:///:memory:") as store:
                yield store   # a shared database: empty it first

The contracts can also be subclassed one by one (``RepositoryContract``, ``VersionContract``,
…) to run part of the suite. Needs ``pytest`` and ``pytest-asyncio`` (the ``dev`` extra).
"""

import pytest

from .builders import make_machine, make_request, make_template, snapshot
from .lifetime import ClosedStoreContract
from .queries import FilterContract, PagingContract
from .repositories import (
    MachineQueriesContract,
    RepositoryContract,
    RequestQueriesContract,
    TemplateQueriesContract,
)
from .unit_of_work import UnitOfWorkContract
from .values import ValuesContract
from .versions import StatusContract, VersionContract


class StoreContract(
    RepositoryContract,
    TemplateQueriesContract,
    RequestQueriesContract,
    MachineQueriesContract,
    FilterContract,
    PagingContract,
    VersionContract,
    StatusContract,
    UnitOfWorkContract,
    ValuesContract,
):
    """Every contract of the suite; subclass it and provide the ``store`` fixture."""

    pytestmark = pytest.mark.asyncio


__all__ = [
    "ClosedStoreContract",
    "FilterContract",
    "MachineQueriesContract",
    "PagingContract",
    "RepositoryContract",
    "RequestQueriesContract",
    "StatusContract",
    "StoreContract",
    "TemplateQueriesContract",
    "UnitOfWorkContract",
    "ValuesContract",
    "VersionContract",
    "make_machine",
    "make_request",
    "make_template",
    "snapshot",
]
