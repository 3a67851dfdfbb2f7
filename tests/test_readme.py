"""The README's Python examples run as written (in a scratch directory), and run again on the
same database (a quick-start example must not collide with its own earlier run)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_readme_example(marker: str, folder: Path, times: int) -> list[str]:
    """The README's first ```python block containing ``marker``, run ``times`` times in
    ``folder`` as a script; returns each run's standard output (each must exit 0)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    script = folder / "example.py"
    script.write_text(next(b for b in blocks if marker in b))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    outputs = []
    for _ in range(times):
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    return outputs


def test_readme_library_example_runs_any_number_of_times(tmp_path: Path) -> None:
    outputs = run_readme_example("asyncio.run(main", tmp_path, 3)
    assert all(out.count("Machine(") == 2 for out in outputs), outputs
    assert (tmp_path / "ohf.db").exists()
    assert len(set(outputs)) == 3  # each run made its own request and machines


def test_readme_sync_example_runs_as_written(tmp_path: Path) -> None:
    outputs = run_readme_example("sync.open_store(", tmp_path, 2)  # again on the same database
    assert all(out.count("Machine(") == 1 and "running" in out for out in outputs), outputs
