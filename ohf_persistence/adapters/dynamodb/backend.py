"""One store's connection to DynamoDB: its model classes and its worker threads.

PynamoDB is synchronous, so every call runs in a bounded thread pool (one thread per pooled
HTTP connection) and the event loop never blocks; concurrent calls really overlap. Every driver
exception is translated here (``errors.translate``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ...domain.entities import Entity
from ...domain.errors import BackendUnavailable, PersistenceError, StoreClosed
from .errors import DRIVER_ERRORS, translate
from .models import EntityModel, build_models
from .settings import DynamoSettings

T = TypeVar("T")


# botocore sessions per profile, shared by every store of the process: a session caches the
# parsed service model, which makes creating a client ~30x cheaper than in a fresh session.
# Creating clients from one session is not thread-safe, hence the lock.
_SESSIONS: dict[str | None, Any] = {}
_SESSION_LOCK = threading.Lock()


def create_client(settings: DynamoSettings) -> Any:
    """One botocore client per store, shared by its three PynamoDB connections."""
    from botocore.config import Config
    from botocore.session import Session, get_session

    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_pool_connections,
        retries={"total_max_attempts": 1 + settings.max_retry_attempts, "mode": "standard"},
        parameter_validation=False,  # as PynamoDB does; requests are built by it
    )
    with _SESSION_LOCK:
        session = _SESSIONS.get(settings.profile)
        if session is None:
            session = Session(profile=settings.profile) if settings.profile else get_session()
            _SESSIONS[settings.profile] = session
        return session.create_client(
            "dynamodb",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )


class Backend:
    def __init__(
        self,
        settings: DynamoSettings,
        models: dict[type[Entity], EntityModel],
        pool: ThreadPoolExecutor,
        logger: Any,
    ) -> None:
        self.settings = settings
        self.models = models
        self.logger = logger or logging.getLogger("ohf_persistence")
        self._pool = pool
        self._closed = False
        self._client: Any = None

    @classmethod
    async def open(cls, settings: DynamoSettings, logger: Any = None) -> Backend:
        pool = ThreadPoolExecutor(
            max_workers=settings.max_pool_connections, thread_name_prefix="ohf-dynamodb"
        )
        backend = cls(settings, {}, pool, logger)
        try:
            backend.models = build_models(settings)
            backend._client = await backend.call("connect", create_client, settings)
            for em in backend.models.values():
                # PynamoDB would create one client per model, lazily and not thread-safely:
                # hand every connection the store's client instead (one pool, one set of hooks).
                em.model._get_connection().connection._client = backend._client
        except BaseException:
            pool.shutdown(wait=False)
            raise
        return backend

    @property
    def client(self) -> Any:
        """The store's botocore client (e.g. to register event hooks that count calls)."""
        return self._client

    def connection(self, entity: type[Entity]) -> Any:
        """The PynamoDB ``Connection`` used for ``entity``'s table."""
        return self.models[entity].model._get_connection().connection

    async def call(self, operation: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a worker thread; driver exceptions become package errors."""
        if self._closed:
            raise StoreClosed("the dynamodb store is closed")
        loop = asyncio.get_running_loop()
        self.logger.debug("dynamodb %s", operation)
        work = loop.run_in_executor(self._pool, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(work, self.settings.call_timeout)
        except asyncio.CancelledError:
            # close() cancels the calls still queued: theirs is a closed store, not a cancelled
            # task (a CancelledError the caller did not ask for would stop its task)
            task = asyncio.current_task()
            if self._closed and work.cancelled() and not (task and task.cancelling()):
                raise StoreClosed(f"the dynamodb store was closed before {operation} ran") from None
            raise
        except TimeoutError as exc:
            # The worker thread ends on botocore's own timeouts; the caller does not wait.
            raise BackendUnavailable(
                f"DynamoDB {operation} got no answer within {self.settings.call_timeout:g} s"
            ) from exc
        except PersistenceError:
            raise
        except DRIVER_ERRORS as exc:
            raise translate(exc, operation, self.settings.tables) from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Calls still running are ones the caller stopped waiting for (a deadline passed):
        # do not wait for botocore's own timeouts; queued calls are cancelled.
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
