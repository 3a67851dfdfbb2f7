"""A plain ``pip install ohf-persistence[orb]`` (our wheel) in a fresh venv: ORB finds ``ohf``.

Slow (about a minute: pip installs ORB and its dependencies, from pip's cache when warm).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent(
    """
    import sys
    from orb.config.managers.configuration_manager import ConfigurationManager
    from orb.infrastructure.storage.registry import get_storage_registry
    from orb.providers.registration import discover_provider_plugins

    assert "ohf" in discover_provider_plugins(), "entry point not found"
    registry = get_storage_registry()
    assert registry.is_registered("ohf")
    url = "sqlite+aiosqlite:///" + sys.argv[1]
    manager = ConfigurationManager(
        config_dict={"storage": {"strategy": "ohf", "ohf": {"url": url}}}
    )
    uow = registry.create_unit_of_work(manager.get_storage_strategy(), manager)
    with uow:  # a new SQLite file: migrated with the revisions inside the wheel
        found = uow.requests.find_all()
    print("ohf ok", type(uow).__name__, len(found))
    """
)


@pytest.mark.slow
def test_orb_finds_ohf_after_a_plain_pip_install(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        env=env,
        timeout=600,
    )
    (wheel,) = wheels.glob("ohf_persistence-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{wheel}[orb]"],
        check=True,
        env=env,
        timeout=900,
    )
    done = subprocess.run(
        [str(python), "-c", CHECK, str(tmp_path / "data" / "ohf.db")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ohf ok OhfUnitOfWork 0" in done.stdout
