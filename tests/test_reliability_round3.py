"""Third hostile pass over the day's changes (URL rules, import clean-up, subclass values):
each test was a reproduction of a defect; its docstring says what happens now and before.
The unit-of-work sequences of the same pass are tests/test_reliability_units_alike.py."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ohf_persistence import ConfigError, Machine, Template, ValidationError, sync
from ohf_persistence.config import resolve_config

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OHF_STORAGE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "ohf_persistence.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class _OddKey(str):
    """A str subclass whose instances are distinct dict keys even with equal text."""

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


def test_str_subclass_keys_that_collide_as_plain_str_are_refused() -> None:
    """Now: ValidationError naming the text. Before: ``{OddKey('a'): 1, OddKey('a'): 2}`` (two
    keys) was made plain as ``{'a': 2}`` on every backend, one value lost silently."""
    attrs = {_OddKey("a"): 1, _OddKey("a"): 2}
    assert len(attrs) == 2
    with pytest.raises(ValidationError, match="same text 'a'"):
        Template("t-1", provider_type="aws", attributes=attrs)


def test_an_empty_dynamodb_option_is_refused_in_a_config_dict_as_in_a_url() -> None:
    """Now: both forms refused. Before: ``dynamodb://?endpoint_url=`` was refused but the dict
    form with ``"endpoint_url": ""`` was accepted and would have talked to AWS itself."""
    with pytest.raises(ConfigError, match="'endpoint_url' is empty"):
        resolve_config("dynamodb://?endpoint_url=&region=us-east-1")
    section = {"endpoint_url": "", "region": "us-east-1"}
    with pytest.raises(ConfigError, match="'endpoint_url' is empty"):
        resolve_config({"storage": {"type": "dynamodb", "dynamodb": section}})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://u@h/db?password=s3cr&etXYZ",
        "postgresql+asyncpg://u@h/db?password=s3cr&etXYZ&ssl=require",
        "postgresql+asyncpg://u@h/db?ssl=require&password=s3cr&etXYZ",
    ],
)
def test_a_raw_ampersand_inside_a_password_option_is_never_shown(url: str) -> None:
    """Now: the URL is refused (write '&' as %26) and neither half of the password is shown.
    Before: "URL option 'etXYZ' has no value in '…?password=***&etXYZ'": the tail twice."""
    with pytest.raises(ConfigError, match="%26") as refused:
        resolve_config(url)
    assert "etXYZ" not in str(refused.value) and "s3cr" not in str(refused.value)


def test_a_refused_import_never_creates_nor_removes_a_sqlite_file(tmp_path: Path) -> None:
    """Now: the input is checked (a dry run into memory) before a new SQLite file is made, so a
    refused import creates nothing, and a file is never removed. Before: the refused import
    created the file, then deleted it with -wal/-shm — including rows another process had
    written into it meanwhile."""
    bad = tmp_path / "bad.jsonl"
    header = json.dumps({"format": "ohf-persistence-jsonl", "format_version": 1})
    record = {"type": "machine", "id": "i-1", "version": 1, "data": {"status": "pending"}}
    bad.write_text("\n".join([header, json.dumps(record), "{not json"]) + "\n")
    new = tmp_path / "new.db"
    result = _cli("import", str(bad), "--url", f"sqlite+aiosqlite:///{new}")
    assert result.returncode == 1, result.stderr
    assert not new.exists() and list(tmp_path.glob("new.db*")) == []
    existing = tmp_path / "existing.db"  # a database someone else uses
    with sync.open_store(f"sqlite+aiosqlite:///{existing}", migrate=True) as store:
        store.machines.save(Machine("i-other", request_id="req-1"))
    result = _cli("import", str(bad), "--url", f"sqlite+aiosqlite:///{existing}")
    assert result.returncode == 1, result.stderr
    with sqlite3.connect(existing) as conn:
        assert conn.execute("SELECT machine_id FROM machines").fetchall() == [("i-other",)]


def test_a_refused_import_through_a_dangling_symlink_keeps_it_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """Now: refused, the symlink kept, nothing created behind it. Before: the symlink was
    deleted and a migrated ``real/target.db`` left behind."""
    (tmp_path / "real").mkdir()
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "real" / "target.db")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{bad\n")
    result = _cli("import", str(bad), "--format", "jsonl", "--url", f"sqlite+aiosqlite:///{link}")
    assert result.returncode == 1, result.stderr
    assert list((tmp_path / "real").iterdir()) == []
    assert link.is_symlink()


def test_a_symlink_into_a_missing_folder_names_that_folder(tmp_path: Path) -> None:
    """Now: the folder the file would really go to is named, the symlink kept. Before:
    SQLite's "unable to open database file", and the failed import deleted the symlink."""
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "nodir" / "t.db")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"format": "ohf-persistence-jsonl", "format_version": 1}) + "\n")
    for argv in (["import", str(good), "--format", "jsonl"], ["migrate"]):
        result = _cli(*argv, "--url", f"sqlite+aiosqlite:///{link}")
        assert result.returncode == 1
        assert f"the folder {tmp_path / 'nodir'} of the SQLite database" in result.stderr
        assert link.is_symlink() and not (tmp_path / "nodir").exists()
