"""The shipped contract suite, run on every backend of tests/backends/ via the ``store`` fixture."""

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
    pass
