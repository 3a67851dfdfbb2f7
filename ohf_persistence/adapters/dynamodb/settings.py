"""DynamoDB store settings from a ``StoreConfig`` (URL query or the seed's config dict).

Options (all optional):

* ``region``: AWS region; default ``$AWS_REGION``, ``$AWS_DEFAULT_REGION``, then ``us-east-1``.
* ``profile``: a named profile from the AWS config files; its credentials are resolved once
  when the store opens (default: botocore's usual chain: environment, files, instance role).
* ``endpoint_url``: e.g. ``http://127.0.0.1:8000`` for DynamoDB Local or moto.
* ``table_prefix``: default ``ohf_``, giving tables ``ohf_templates``, ``ohf_requests`` and
  ``ohf_machines``.
* ``templates_table`` / ``requests_table`` / ``machines_table``: explicit table names
  (they win over the prefix).
* ``timeout``: seconds one API call may take, retries included, before it fails with
  ``BackendUnavailable`` (default 4).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...config import ConfigError, StoreConfig, mask_url

DEFAULT_REGION = "us-east-1"
DEFAULT_PREFIX = "ohf_"
# A dead endpoint must fail within seconds (BackendUnavailable), never hang: short connect
# timeout, bounded retries (botocore "standard" mode, which also backs off on throttling).
# An endpoint that accepts connections and then goes silent is cut off by the per-call
# deadline (the ``timeout`` option). The socket read timeout equals it: a slow but healthy
# answer is never abandoned and retried inside the budget (moto, unlike DynamoDB, does not
# honour the idempotency token of a retried TransactWriteItems).
CONNECT_TIMEOUT_SECONDS = 2.0
MAX_RETRY_ATTEMPTS = 2
CALL_TIMEOUT_SECONDS = 4.0
# One worker thread per pooled HTTP connection: more threads would only wait for a connection.
MAX_POOL_CONNECTIONS = 16

_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True)
class DynamoSettings:
    region: str
    endpoint_url: str | None
    profile: str | None
    templates_table: str
    requests_table: str
    machines_table: str
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS
    read_timeout: float = CALL_TIMEOUT_SECONDS
    max_retry_attempts: int = MAX_RETRY_ATTEMPTS
    call_timeout: float = CALL_TIMEOUT_SECONDS
    max_pool_connections: int = MAX_POOL_CONNECTIONS

    @property
    def tables(self) -> tuple[str, str, str]:
        return (self.templates_table, self.requests_table, self.machines_table)


def settings_from_config(config: StoreConfig) -> DynamoSettings:
    options = config.options
    region = (
        options.get("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    endpoint = options.get("endpoint_url") or None
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"DynamoDB endpoint_url must be an http(s) URL, got {mask_url(endpoint)!r}"
            )
        if "@" in parts.netloc:
            # DynamoDB signs requests with AWS credentials; a user:password here would only
            # travel into botocore's messages and logs, which print the endpoint as given
            raise ConfigError(
                "DynamoDB endpoint_url must not hold a user or password (requests are signed "
                f"with AWS credentials), got {mask_url(endpoint)!r}"
            )
    prefix = options.get("table_prefix", DEFAULT_PREFIX)
    names = {
        kind: options.get(f"{kind}_table") or f"{prefix}{kind}"
        for kind in ("templates", "requests", "machines")
    }
    for kind, name in names.items():
        if not _TABLE_NAME.match(name):
            raise ConfigError(
                f"DynamoDB {kind} table name {name!r} is invalid "
                "(3-255 characters of letters, digits, '_', '-' and '.')"
            )
    if len(set(names.values())) != 3:
        raise ConfigError("the templates, requests and machines tables must have distinct names")
    timeout = options.get("timeout") or str(CALL_TIMEOUT_SECONDS)
    try:
        call_timeout = float(timeout)
    except ValueError:
        call_timeout = 0.0
    if not 0 < call_timeout <= 3600:
        raise ConfigError(f"DynamoDB timeout must be seconds between 0 and 3600, got {timeout!r}")
    return DynamoSettings(
        call_timeout=call_timeout,
        read_timeout=call_timeout,
        region=region,
        endpoint_url=endpoint,
        profile=options.get("profile") or None,
        templates_table=names["templates"],
        requests_table=names["requests"],
        machines_table=names["machines"],
    )
