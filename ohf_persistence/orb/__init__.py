"""ohf_persistence as an ORB (``orb-py``) storage type named ``ohf``.

Install ``ohf-persistence[orb]`` and set ORB's config to::

    {"storage": {"strategy": "ohf", "ohf": {"url": "sqlite+aiosqlite:///…/ohf.db"}}}

ORB finds the storage type through the ``orb.providers`` entry point (``plugin``, called by
ORB at start-up). Programs that build ORB's application themselves call ``register()`` before
ORB reads its storage config. See docs/orb.md.
"""

from __future__ import annotations

import logging

STORAGE_TYPE = "ohf"

_log = logging.getLogger("ohf_persistence.orb")


def register() -> bool:
    """Register the ``ohf`` storage type in ORB's storage registry (idempotent).

    Returns True when the type is registered afterwards. Raises ImportError when ORB is not
    installed.
    """
    from orb.infrastructure.storage.registry import get_storage_registry

    from .registration import create_config, create_strategy, create_unit_of_work

    registry = get_storage_registry()
    if not registry.is_registered(STORAGE_TYPE):
        registry.register_storage(
            storage_type=STORAGE_TYPE,
            strategy_factory=create_strategy,
            config_factory=create_config,
            unit_of_work_factory=create_unit_of_work,
        )
    return bool(registry.is_registered(STORAGE_TYPE))


def plugin() -> None:
    """The ``orb.providers`` entry point: zero arguments, idempotent, never raises into ORB."""
    try:
        register()
    except Exception as exc:  # ORB must boot with its own storages even if this fails
        _log.error("could not register the ORB storage type %r: %s", STORAGE_TYPE, exc)


__all__ = ["STORAGE_TYPE", "plugin", "register"]
