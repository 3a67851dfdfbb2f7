"""The contract suite, shipped so any backend (yours too) can be checked against DESIGN.md.

Subclass ``StoreContract`` in a pytest module and provide an async fixture ``store`` that
yields a fresh, empty, migrated ``Store`` per test (pytest-asyncio, ``asyncio_mode = "auto"``
or the class-level ``asyncio`` mark these classes carry)::

    import pytest
    from ohf_persistence import open_store
    from ohf_persistence.testing import StoreContract

    class TestMyDatabase(StoreContract):
        @pytest.fixture
        async def store(self):
            async with open_store("postgresql+asyncpg://me@db/scratch") as store:
                yield store   # empty it first
"""

from .builders import make_machine, make_request, make_template, snapshot
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

CONTRACTS = (
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
)

__all__ = [
    "CONTRACTS",
    "FilterContract",
    "MachineQueriesContract",
    "PagingContract",
    "RepositoryContract",
    "RequestQueriesContract",
    "StatusContract",
    "TemplateQueriesContract",
    "UnitOfWorkContract",
    "ValuesContract",
    "VersionContract",
    "make_machine",
    "make_request",
    "make_template",
    "snapshot",
]
