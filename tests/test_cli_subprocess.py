"""The real entry point in a child process: ``python -m ohf_persistence.cli``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "OHF_STORAGE_URL"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "ohf_persistence.cli", *argv],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_demo_on_the_default_sqlite_file_twice(tmp_path: Path) -> None:
    for _ in range(2):
        done = run("demo", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "sqlite+aiosqlite:///ohf.db" in done.stdout
        assert "24 machines acquired, 8 returned, 16 still running" in done.stdout
    assert (tmp_path / "ohf.db").is_file()
    stats = run("stats", "--json", cwd=tmp_path)
    assert json.loads(stats.stdout)["machines"]["by_status"] == {"running": 32, "returned": 16}
    check = run("check", cwd=tmp_path)
    assert check.returncode == 0 and "up to date" in check.stdout


def test_environment_url_export_to_stdout_and_exit_codes(tmp_path: Path) -> None:
    env = {"OHF_STORAGE_URL": f"sqlite+aiosqlite:///{tmp_path}/env.db"}
    assert run("migrate", cwd=tmp_path, env=env).returncode == 0
    fixture = ROOT / "tests" / "fixtures" / "orb-json" / "request_database.json"
    done = run("import", str(fixture), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    done = run("export", "-", "--format", "orb-json", cwd=tmp_path, env=env)
    assert done.returncode == 0 and json.loads(done.stdout) == json.loads(fixture.read_text())
    bad = run("stats", "--url", "postgresql+asyncpg://postgres:pw9@127.0.0.1:1/x", cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "pw9" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    usage = run("copy", cwd=tmp_path)
    assert usage.returncode == 2 and "--to" in usage.stderr
