"""Bad-input catalogue, part three (hostile review round 3): URLs, config dicts, JSON Lines
headers, closed standard streams, export targets and the demo's concurrent upsert.

One section per class; each case states what must happen and checks that nothing else did
(no database created, no folder created, nothing imported, no error in the data stream).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import ConfigError, open_store
from ohf_persistence.cli import demo
from ohf_persistence.config import resolve_config
from ohf_persistence.interop import ImportRefused, import_file
from ohf_persistence.interop.sources import SourceError
from tests.test_cli_commands import one_line_error
from tests.test_interop_support import (
    FIXTURE_FILE,
    UrlFactory,
    cli,
    persistent_backends,
)

CLI = [sys.executable, "-m", "ohf_persistence.cli"]
COMMANDS: dict[str, list[str]] = {
    # every command that takes --url, with arguments that make it succeed on a seeded store
    "migrate": ["migrate"],
    "current": ["current"],
    "check": ["check"],
    "history": ["history"],
    "downgrade": ["downgrade", "--revision", "base", "--yes"],
    "demo": ["demo", "--machines", "2", "--returns", "1"],
    "stats": ["stats"],
    "export-file": ["export", "OUT"],
    "export-dash": ["export", "-", "--format", "jsonl"],
    "import": ["import", str(FIXTURE_FILE), "--merge"],
    "copy": ["copy", "--from", "URL", "--to", "memory://"],
}


def _argv(name: str, url: str, out: Path) -> list[str]:
    args = [url if a == "URL" else str(out) if a == "OUT" else a for a in COMMANDS[name]]
    return args if name == "copy" else [*args, "--url", url]


async def _counts(url: str) -> tuple[int, int, int]:
    async with open_store(url) as store:
        return (
            await store.templates.count(),
            await store.requests.count(),
            await store.machines.count(),
        )


# --------------------------------------------------------------------------------------------
# 1. Mistyped and unknown URL parts, on every scheme (hostile §5 and §7)
# --------------------------------------------------------------------------------------------

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DDB = "dynamodb://?region=us-east-1&endpoint_url=http://127.0.0.1:9"
BAD_URLS: dict[str, tuple[str, str]] = {
    # name -> (URL, what the one-line error must say)
    "sqlite empty path": ("sqlite+aiosqlite:///", "sqlite+aiosqlite:///:memory:"),
    "sqlite empty path, option": ("sqlite+aiosqlite:///?mode=ro", "'mode'"),
    "sqlite mode=ro": ("sqlite+aiosqlite:///DIR/x.db?mode=ro", "unknown sqlite URL option 'mode'"),
    "sqlite unknown option": ("sqlite:///DIR/x.db?foo=bar", "unknown sqlite URL option 'foo'"),
    "memory host and path": ("memory://host/path", "memory://"),
    "memory option": ("memory://?foo=bar", "memory://"),
    "postgres unknown option": (f"{PG}?bogus=1", "unknown postgresql URL option 'bogus'"),
    "postgres repeated option": (
        f"{PG}?timeout=1&timeout=99",
        "URL option 'timeout' given 2 times",
    ),
    "dynamodb unknown option": (f"{DDB}&colour=blue", "unknown dynamodb URL option 'colour'"),
    "dynamodb repeated option": (f"{DDB}&region=eu-west-1", "URL option 'region' given 2 times"),
    "dynamodb repeated prefix": (
        f"{DDB}&table_prefix=a_&table_prefix=b_",
        "URL option 'table_prefix' given 2 times",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_URLS))
def test_bad_url_parts_are_a_config_error_in_the_library(name: str, tmp_path: Path) -> None:
    url, expected = BAD_URLS[name]
    with pytest.raises(ConfigError) as caught:
        resolve_config(url.replace("DIR", str(tmp_path)))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    if "unknown" in expected:  # the known options are listed
        assert "known:" in str(caught.value)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    "name", ["sqlite empty path", "sqlite mode=ro", "postgres unknown option", "memory option"]
)
def test_every_command_refuses_bad_url_parts_in_one_line_creating_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, name: str
) -> None:
    url, expected = BAD_URLS[name]
    url = url.replace("DIR", str(tmp_path))
    before = sorted(os.listdir(tmp_path))
    code, out, err = cli(capsys, *_argv(command, url, tmp_path / "o.jsonl"))
    # migrate reported "migrated" on sqlite:/// at f074b0f; stats gave a raw TypeError on PG
    assert code == 1, (out, err)
    assert expected in one_line_error(err)
    assert "Warning" not in err
    assert sorted(os.listdir(tmp_path)) == before  # no x.db, no o.jsonl


def test_an_option_name_from_inside_a_password_is_not_shown() -> None:
    """With "@" and "?" in a password the parser may take its tail for an option."""
    with pytest.raises(ConfigError) as caught:
        resolve_config("postgresql+asyncpg://u:ab@cd?s3cretname=1@127.0.0.1:5432/db")
    assert "s3cretname" not in str(caught.value)
    assert "inside the masked part" in str(caught.value)


def test_known_url_options_still_open(tmp_path: Path) -> None:
    assert resolve_config(f"{PG}?timeout=2&ssl=disable").backend == "postgresql"
    assert resolve_config(f"{DDB}&table_prefix=p_&timeout=3").options["table_prefix"] == "p_"
    assert resolve_config("sqlite+aiosqlite:///:memory:").backend == "sqlite"
    assert resolve_config(f"sqlite+aiosqlite:///{tmp_path}/x.db").backend == "sqlite"
    assert resolve_config("memory://").backend == "memory"


# --------------------------------------------------------------------------------------------
# 2. Config dicts: one rule for every backend (hostile §14)
# --------------------------------------------------------------------------------------------

BAD_DICTS: dict[str, tuple[dict[str, Any], str]] = {
    "sql unknown key": (
        {"storage": {"type": "sql", "sql": {"url": "sqlite+aiosqlite:///x.db", "bogus": 1}}},
        "bogus",
    ),
    "sql typo of url": ({"storage": {"type": "sql", "sql": {"ulr": "memory://"}}}, "ulr"),
    "memory unknown key": ({"storage": {"type": "memory", "memory": {"size": 1}}}, "size"),
    "dynamodb unknown key": (
        {"storage": {"type": "dynamodb", "dynamodb": {"region": "us-east-1", "bogus": 2}}},
        "bogus",
    ),
    "storage unknown key": ({"storage": {"type": "memory", "typ": "sql"}}, "typ"),
    "other section unknown key": (
        {"storage": {"type": "memory", "sql": {"url": "sqlite+aiosqlite:///x.db", "x": 1}}},
        "config['storage']['sql']: x;",
    ),
    "type sql with a memory URL": (
        {"storage": {"type": "sql", "sql": {"url": "memory://"}}},
        "type 'sql' with a memory URL",
    ),
    "type sql with a dynamodb URL": (
        {"storage": {"type": "sql", "sql": {"url": "dynamodb://?region=us-east-1"}}},
        "type 'sql' with a dynamodb URL",
    ),
    "sql URL with a bad option": (
        {"storage": {"type": "sql", "sql": {"url": "sqlite+aiosqlite:///x.db?mode=ro"}}},
        "'mode'",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_DICTS))
def test_bad_config_dicts_are_refused_naming_the_key(name: str) -> None:
    config, expected = BAD_DICTS[name]
    with pytest.raises(ConfigError) as caught:
        resolve_config(config)  # `bogus` was ignored for sql/memory, type sql gave memory
    assert expected in str(caught.value)


def test_good_config_dicts_still_resolve() -> None:
    seed = {
        "storage": {
            "type": "sql",
            "sql": {"url": "sqlite+aiosqlite:///ohf.db"},
            "dynamodb": {"region": "eu-west-1"},  # the seed's shape may hold both sections
        }
    }
    assert resolve_config(seed).backend == "sqlite"
    assert resolve_config({"storage": {"type": "memory"}}).backend == "memory"
    dyn = resolve_config({"storage": {"type": "dynamodb", "dynamodb": {"region": "eu-west-1"}}})
    assert dyn.options == {"region": "eu-west-1"}


# --------------------------------------------------------------------------------------------
# 3. Version skew in files: the JSON Lines header (hostile §2)
# --------------------------------------------------------------------------------------------

HEADER = {"format": "ohf-persistence-jsonl", "format_version": 1}
RECORD = {"type": "template", "id": "t-1", "version": 1, "data": {"name": "t"}}


def _lines(*items: Any) -> str:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)


WHOLE_FILE_REFUSALS: dict[str, tuple[str, str]] = {
    # name -> (file content, what the error must say)
    "newer format_version": (
        _lines({**HEADER, "format_version": 99}, RECORD),
        "newer ohf-persistence (format_version 99)",
    ),
    "format_version 0": (_lines({**HEADER, "format_version": 0}, RECORD), "format_version 0"),
    "format_version a string": (
        _lines({**HEADER, "format_version": "1"}, RECORD),
        'format_version "1"',
    ),
    "format_version missing": (_lines({"format": "ohf-persistence-jsonl"}, RECORD), "null"),
    "no header": (_lines(RECORD), "no header on line 1"),
    "empty file": ("", "is empty"),
    "header on line 2": (_lines(RECORD, HEADER), "no header on line 1"),
}


@pytest.mark.parametrize("name", sorted(WHOLE_FILE_REFUSALS))
def test_jsonl_header_problems_refuse_the_whole_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    content, expected = WHOLE_FILE_REFUSALS[name]
    path = tmp_path / "in.jsonl"
    path.write_text(content)
    with pytest.raises(SourceError) as caught:
        asyncio.run(_import_into_memory(path))
    assert expected in str(caught.value)
    db = tmp_path / "x.db"
    code, _, err = cli(capsys, "import", str(path), "--url", f"sqlite+aiosqlite:///{db}")
    assert code == 1 and expected in one_line_error(err)  # rc 0 "template 2 2 0 0" at f074b0f


async def _import_into_memory(path: Path) -> Any:
    async with open_store("memory://") as store:
        return await import_file(store, path, "jsonl")


def test_a_second_header_is_an_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "h2.jsonl"
    path.write_text(_lines(HEADER, RECORD, HEADER))
    with pytest.raises(ImportRefused) as caught:  # silently skipped at f074b0f
        asyncio.run(_import_into_memory(path))
    assert [p.where for p in caught.value.problems] == ["line 3"]
    assert "only valid on line 1" in str(caught.value.problems[0])
    path.write_text(_lines(HEADER, RECORD))
    report = asyncio.run(_import_into_memory(path))
    assert report.read["template"] == 1


# --------------------------------------------------------------------------------------------
# 4. Standard streams closed at start: >&-, 2>&-, <&- (hostile §12)
# --------------------------------------------------------------------------------------------


def _closing(fd: int) -> Callable[[], None]:
    def close() -> None:  # in the child, before exec: the command starts without this stream
        os.close(fd)

    return close


@pytest.fixture
def seeded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/s.db"
    code, _, err = cli(capsys, "import", str(FIXTURE_FILE), "--url", url)
    assert code == 0, err
    return url


def _run_closed(fd: int, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv],
        stdin=subprocess.DEVNULL if fd != 0 else None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=_closing(fd),
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_with_stdout_closed_does_its_work_and_exits_0(
    tmp_path: Path, seeded: str, command: str
) -> None:
    out = tmp_path / "o.jsonl"
    result = _run_closed(1, _argv(command, seeded, out))
    assert "Traceback" not in result.stderr and "Exception" not in result.stderr
    if command == "export-dash":  # its output is the data: refused before reading
        assert result.returncode == 1
        assert one_line_error(result.stderr) == (
            "ohf-persistence export: error: stdout is closed; nothing was exported"
        )
        return
    assert result.returncode == 0, result.stderr  # AttributeError traceback, rc 1 at f074b0f
    if command == "export-file":
        assert out.read_text().count("\n") == 1 + 5 + 7 + 30
    if command == "import":
        assert asyncio.run(_counts(seeded)) == (5, 7, 30)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_with_stderr_closed_never_writes_errors_to_stdout(
    tmp_path: Path, seeded: str, command: str
) -> None:
    bad = f"sqlite+aiosqlite:///{tmp_path}/s.db?mode=ro"  # every command refuses it
    result = _run_closed(2, _argv(command, bad, tmp_path / "o.jsonl"))
    assert result.returncode == 1
    assert result.stdout == ""  # the error line went to stdout at f074b0f
    result = _run_closed(2, _argv(command, seeded, tmp_path / "o.jsonl"))
    assert result.returncode == 0


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_with_stdin_closed_works_and_never_asks(
    tmp_path: Path, seeded: str, command: str
) -> None:
    result = _run_closed(0, _argv(command, seeded, tmp_path / "o.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_downgrade_with_stdin_closed_and_no_yes_is_refused(tmp_path: Path, seeded: str) -> None:
    result = _run_closed(0, ["downgrade", "--revision", "base", "--url", seeded])
    assert result.returncode == 1
    assert "--yes" in one_line_error(result.stderr)
    assert asyncio.run(_counts(seeded)) == (5, 7, 30)


# --------------------------------------------------------------------------------------------
# 5. Export targets (hostile §13)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "created"),
    [
        (["nodir/x.jsonl"], "nodir"),
        (["nodir/deeper/x.json"], "nodir"),
        (["--split", "--format", "orb-json", "nodir/split"], "nodir"),
    ],
)
def test_export_refuses_a_missing_parent_folder_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seeded: str,
    argv: list[str],
    created: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "export", *argv, "--url", seeded)
    assert code == 1  # rc 0 with a new folder at f074b0f
    line = one_line_error(err)
    assert "does not exist" in line and "nothing was created" in line
    assert not (tmp_path / created).exists()


def test_split_export_creates_its_folder_in_an_existing_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded: str
) -> None:
    folder = tmp_path / "split"
    for _ in range(2):
        code, _, err = cli(
            capsys, "export", "--split", "--format", "orb-json", str(folder), "--url", seeded
        )
        assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == [
        "machines.json",
        "requests.json",
        "templates.json",
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--split", "sx.jsonl"], "--split"),
        (["--split", "--format", "jsonl", "sx"], "--split"),
        ([""], "PATH is empty"),
        (["", "--format", "jsonl"], "PATH is empty"),
    ],
)
def test_export_bad_usage_exits_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "export", *argv, "--url", "memory://")
    assert code == 2  # --split ignored / '' taken as the cwd at f074b0f
    assert expected in err
    assert os.listdir(tmp_path) == []


def test_split_export_onto_a_regular_file_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seeded: str
) -> None:
    target = tmp_path / "f644"
    target.write_text("keep")
    code, _, err = cli(
        capsys, "export", "--split", "--format", "orb-json", str(target), "--url", seeded
    )
    assert code == 1
    line = one_line_error(err)
    assert "not a folder" in line and "Errno" not in line and "nothing was changed" in line
    assert target.read_text() == "keep"


@pytest.mark.parametrize("where", ["open", "replace"])
def test_an_os_error_while_exporting_is_one_line_naming_the_target(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seeded: str,
    where: str,
) -> None:
    """What `chattr +i` or a read-only folder give (as root they cannot be set up portably)."""
    from ohf_persistence.interop import exporter

    target = tmp_path / "ro.jsonl"
    target.write_text("old")

    def refuse(*_: Any, **__: Any) -> Any:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(exporter.os, where, refuse)
    code, _, err = cli(capsys, "export", str(target), "--url", seeded)
    monkeypatch.undo()
    assert code == 1
    line = one_line_error(err)
    assert line == (
        f"ohf-persistence export: error: cannot export to {target}: "
        "operation not permitted; nothing was changed"
    )  # "[Errno 1] Operation not permitted: '.ro.jsonl.….tmp' -> 'ro.jsonl'" at f074b0f
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --------------------------------------------------------------------------------------------
# 6. The demo's template upsert under concurrency (hostile §9)
# --------------------------------------------------------------------------------------------

demo_backends = pytest.mark.parametrize(
    "backend", [b for b in persistent_backends() if b in ("sqlite", "dynamodb")]
)


@demo_backends
async def test_concurrent_template_upserts_all_succeed(url_factory: UrlFactory) -> None:
    url = await url_factory()
    async with open_store(url) as store:
        # one loop, several upserts interleaved: each reads, then commits after the others
        await asyncio.gather(*(demo._upsert_templates(store) for _ in range(4)))
        stored = await store.templates.get_all()
    assert [t.template_id for t in stored] == sorted(t.template_id for t in demo.SAMPLE_TEMPLATES)
    assert all(t.is_active for t in stored)


@demo_backends
def test_concurrent_demo_processes_on_one_database_all_succeed(
    url_factory: UrlFactory, tmp_path: Path
) -> None:
    url = asyncio.run(url_factory())
    runs = [
        subprocess.Popen(
            [*CLI, "demo", "--machines", "2", "--returns", "1", "--url", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], errors
    templates, requests, _ = asyncio.run(_counts(url))
    assert (templates, requests) == (len(demo.SAMPLE_TEMPLATES), 3 * 2)
