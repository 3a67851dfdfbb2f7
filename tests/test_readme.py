"""The README's library example runs as written (in a scratch directory), and runs again on
the same database (a quick-start example must not collide with its own earlier run)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_library_example_runs_any_number_of_times(tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = next(b for b in blocks if "open_store(" in b and "asyncio.run" in b)
    script = tmp_path / "example.py"
    script.write_text(example)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    outputs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("Machine(") == 2, done.stdout
        outputs.append(done.stdout)
    assert (tmp_path / "ohf.db").exists()
    assert len(set(outputs)) == 3  # each run made its own request and machines
