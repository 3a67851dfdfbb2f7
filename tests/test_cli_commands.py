"""Every command through the console-script function ``ohf_persistence.cli.main``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.test_interop_support import (
    FIXTURE_FILE,
    UrlFactory,
    cli,
    export_text,
    load,
    persistent_backends,
)

COMMANDS = [
    "migrate",
    "downgrade",
    "current",
    "check",
    "history",
    "demo",
    "stats",
    "export",
    "import",
    "copy",
]
persistent = pytest.mark.parametrize("backend", persistent_backends())


def _url(factory: UrlFactory) -> str:
    return asyncio.run(factory())


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], command: str | None) -> None:
    code, out, _ = cli(capsys, *([command] if command else []), "--help")
    assert code == 0
    assert out.startswith("usage: ohf-persistence")
    if command:
        assert "--url" in out or "--from" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["copy", "--from", "memory://"],
        ["migrate", "--no-such-option"],
        ["import", "data.txt", "--url", "memory://"],
        ["demo", "--machines", "3", "--returns", "5", "--url", "memory://"],
        ["demo", "--machines", "0", "--url", "memory://"],
        ["demo", "--machines", "99999999999", "--url", "memory://"],
    ],
)
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert "usage:" in err and "Traceback" not in err
    assert "template" not in out  # refused before the demo wrote anything


@pytest.mark.parametrize(
    "command",
    ["migrate", "downgrade", "current", "check", "history", "demo", "stats", "export", "import"],
)
@pytest.mark.parametrize(
    "url",
    [
        "mysql://u:hunter2@db/x",
        "sqlite+aiosqlite://relative.db",
        "dynamodb://?colour=blue",
        "no-scheme",
    ],
)
def test_bad_url_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, url: str
) -> None:
    extra = {
        "export": [str(tmp_path / "o.jsonl")],
        "import": [str(FIXTURE_FILE)],
        "downgrade": ["--revision", "base", "--yes"],
    }.get(command, [])
    code, out, err = cli(capsys, command, *extra, "--url", url)
    assert code == 1
    line = one_line_error(err)
    assert "hunter2" not in err + out
    assert line.startswith(f"ohf-persistence {command}: error:")


def test_bad_url_in_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OHF_STORAGE_URL", "oracle://x")
    code, _, err = cli(capsys, "stats")
    assert code == 1 and "oracle" in one_line_error(err)


@pytest.mark.parametrize("command", ["stats", "migrate", "current", "check", "demo", "import"])
def test_unreachable_postgres(capsys: pytest.CaptureFixture[str], command: str) -> None:
    url = "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/x"
    extra = [str(FIXTURE_FILE)] if command == "import" else []
    start = time.monotonic()
    code, out, err = cli(capsys, command, *extra, "--url", url)
    assert time.monotonic() - start < 20
    assert code == 1
    line = one_line_error(err)
    assert "s3cret" not in err + out
    assert "127.0.0.1" in line


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "stats", "--debug", "--url", "oracle://x")
    assert code == 1 and "Traceback" in err


def test_memory_backend_commands(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in ("migrate", "history"):
        code, out, _ = cli(capsys, command, "--url", "memory://")
        assert code == 0 and "memory backend has no schema" in out
    code, out, _ = cli(capsys, "current", "--json", "--url", "memory://")
    assert code == 0 and json.loads(out)["current"] == "memory"
    code, out, _ = cli(capsys, "check", "--url", "memory://")
    assert code == 0 and "up to date" in out
    code, out, _ = cli(capsys, "demo", "--url", "memory://")
    assert code == 0 and "24 machines acquired, 8 returned" in out
    code, out, _ = cli(capsys, "stats", "--json", "--url", "memory://")
    assert code == 0 and json.loads(out)["machines"]["total"] == 0  # a new store per process
    code, out, _ = cli(capsys, "import", str(FIXTURE_FILE), "--json", "--url", "memory://")
    assert code == 0 and json.loads(out)["inserted"]["machine"] == 30
    code, out, _ = cli(capsys, "export", str(tmp_path / "e.jsonl"), "--url", "memory://")
    assert code == 0 and (tmp_path / "e.jsonl").read_text().count("\n") == 1  # header only


@persistent
def test_demo_twice_then_stats(capsys: pytest.CaptureFixture[str], url_factory: UrlFactory) -> None:
    url = _url(url_factory)
    for _ in range(2):
        code, out, err = cli(capsys, "demo", "--url", url)
        assert code == 0, err
        assert "create return request" in out and "24 machines acquired" in out
    code, out, _ = cli(capsys, "stats", "--json", "--url", url)
    counts = json.loads(out)
    assert counts["templates"]["total"] == 3
    assert counts["requests"]["by_status"] == {"complete": 4}
    assert counts["machines"]["by_status"] == {"running": 32, "returned": 16}
    code, out, _ = cli(capsys, "stats", "--url", url)
    assert code == 0 and "3 templates, 4 requests, 48 machines" in out


@persistent
def test_schema_commands(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, backend: str
) -> None:
    url = _url(url_factory)
    code, out, _ = cli(capsys, "current", "--json", "--url", url)
    head = json.loads(out)["current"]
    assert code == 0 and head
    code, out, _ = cli(capsys, "check", "--json", "--url", url)
    assert code == 0 and json.loads(out)["up_to_date"] is True
    code, out, _ = cli(capsys, "history", "--url", url)
    assert code == 0 and out.strip()
    code, out, _ = cli(capsys, "migrate", "--url", url)
    assert code == 0
    if backend == "dynamodb":
        return
    assert head in out + (cli(capsys, "history", "--url", url)[1])
    code, _, err = cli(capsys, "downgrade", "--revision", "base", "--yes", "--url", url)
    assert code == 0, err
    code, out, _ = cli(capsys, "check", "--url", url)
    assert code == 1 and "ohf-persistence migrate" in out
    code, out, err = cli(capsys, "stats", "--url", url)
    assert code == 1 and "migrate" in one_line_error(err)
    code, _, err = cli(capsys, "migrate", "--url", url)
    assert code == 0, err
    code, out, _ = cli(capsys, "current", "--url", url)
    assert head in out


@persistent
def test_import_export_and_refusals(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path
) -> None:
    url = _url(url_factory)
    code, out, err = cli(capsys, "import", str(FIXTURE_FILE), "--json", "--url", url)
    assert code == 0, err
    assert json.loads(out)["inserted"] == {"template": 5, "request": 7, "machine": 30}
    before = asyncio.run(export_text(url, tmp_path / "before.jsonl"))
    code, _, err = cli(capsys, "import", str(FIXTURE_FILE), "--url", url)
    assert code == 1 and "--merge" in one_line_error(err)
    code, out, err = cli(capsys, "import", str(FIXTURE_FILE), "--merge", "--url", url)
    assert code == 0 and "unchanged" in out
    assert asyncio.run(export_text(url, tmp_path / "after.jsonl")) == before
    orb_out = tmp_path / "orb.json"
    code, out, _ = cli(capsys, "export", str(orb_out), "--json", "--url", url)
    assert code == 0 and json.loads(out)["counts"]["machine"] == 30
    assert load(orb_out) == load(FIXTURE_FILE)
    code, out, _ = cli(capsys, "export", "-", "--format", "jsonl", "--url", url)
    assert code == 0 and out == before


@persistent
@pytest.mark.parametrize("case", ["bad json", "missing key", "wrong type", "unknown status"])
def test_malformed_import_leaves_target_unchanged(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path, case: str
) -> None:
    from tests.test_interop_import import _bad_files

    url = _url(url_factory)
    assert cli(capsys, "demo", "--url", url)[0] == 0
    before = asyncio.run(export_text(url, tmp_path / "before.jsonl"))
    path, _, message = _bad_files(tmp_path)[case]
    code, out, err = cli(capsys, "import", str(path), "--url", url)
    assert code == 1 and "Traceback" not in err
    assert message in err
    assert asyncio.run(export_text(url, tmp_path / "after.jsonl")) == before
    if case != "bad json":  # a record-level problem: --skip-invalid imports the rest
        code, out, err = cli(capsys, "import", str(path), "--skip-invalid", "--url", url)
        assert code == 0, err
        assert "skipped:" in err and message in err
        assert "1 invalid record(s) skipped" in out


@persistent
def test_copy_refuses_non_empty_target_then_merges(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path
) -> None:
    source, target = _url(url_factory), _url(url_factory)
    assert cli(capsys, "import", str(FIXTURE_FILE), "--url", source)[0] == 0
    assert cli(capsys, "demo", "--url", source)[0] == 0
    code, out, err = cli(capsys, "copy", "--from", source, "--to", target, "--json")
    assert code == 0, err
    assert sum(json.loads(out)["inserted"].values()) == 5 + 3 + 7 + 2 + 30 + 24
    first = asyncio.run(export_text(source, tmp_path / "a.jsonl"))
    assert asyncio.run(export_text(target, tmp_path / "b.jsonl")) == first
    code, _, err = cli(capsys, "copy", "--from", source, "--to", target)
    assert code == 1 and "--merge" in one_line_error(err)
    code, out, _ = cli(capsys, "copy", "--from", source, "--to", target, "--merge")
    assert code == 0 and "already there" in out
