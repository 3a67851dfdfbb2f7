"""The shipped contract suite, run on every backend of tests/backends/ via the ``store`` fixture."""

import pytest

from ohf_persistence import Store
from ohf_persistence.testing import (
    ClosedStoreContract,
    FilterContract,
    MachineQueriesContract,
    PagingContract,
    RepositoryContract,
    RequestQueriesContract,
    StatusContract,
    TemplateQueriesContract,
    UnitOfWorkContract,
    ValuesContract,
    VersionContract,
)


class TestRepositories(RepositoryContract):
    pass


class TestTemplateQueries(TemplateQueriesContract):
    pass


class TestRequestQueries(RequestQueriesContract):
    pass


class TestMachineQueries(MachineQueriesContract):
    pass


class TestFilters(FilterContract):
    pass


class TestPaging(PagingContract):
    pass


class TestVersions(VersionContract):
    pass


class TestStatuses(StatusContract):
    pass


class TestUnitOfWork(UnitOfWorkContract):
    pass


class TestValues(ValuesContract):
    pass


class TestClosedStore(ClosedStoreContract):
    @pytest.fixture
    def store(self, store: Store, backend_name: str, request: pytest.FixtureRequest) -> Store:
        # Transitional: SQL's close (issue 11 item 18) is R-sql's; remove with its landing.
        if backend_name in ("sqlite", "postgres"):
            request.applymarker(pytest.mark.xfail(reason="SQL refuses use after close next"))
        return store
