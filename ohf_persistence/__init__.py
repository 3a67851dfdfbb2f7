"""ohf_persistence: async persistence for Open Host Factory / Open Resource Broker.

async with open_store("sqlite+aiosqlite:///ohf.db") as store:
    async with store.unit_of_work() as uow:
        await uow.requests.save(request)
        await uow.commit()
"""

from .config import DEFAULT_URL, StoreConfig, mask_text, mask_url, open_store
from .domain import (
    ACTIVE_REQUEST_STATUSES,
    Machine,
    MachineStatus,
    Request,
    RequestStatus,
    RequestType,
    Template,
    new_request_id,
)
from .errors import *  # noqa: F403
from .errors import __all__ as _error_names
from .ports import (
    MachineRepository,
    Page,
    Repository,
    RequestRepository,
    Store,
    TemplateRepository,
    UnitOfWork,
)
from .schema import check, current, downgrade, migrate

__version__ = "0.1.0"

__all__ = [
    "ACTIVE_REQUEST_STATUSES",
    "DEFAULT_URL",
    "Machine",
    "MachineRepository",
    "MachineStatus",
    "Page",
    "Repository",
    "Request",
    "RequestRepository",
    "RequestStatus",
    "RequestType",
    "Store",
    "StoreConfig",
    "Template",
    "TemplateRepository",
    "UnitOfWork",
    "check",
    "current",
    "downgrade",
    "mask_text",
    "mask_url",
    "migrate",
    "new_request_id",
    "open_store",
    *_error_names,
]
