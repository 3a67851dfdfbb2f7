"""Bad-input catalogue, part four (hostile review round 4): secrets inside URL options, URL
parts that were silently ignored, odd bytes and numbers in import files, the data stream of
``export -``, bad usage of ``copy``, and DynamoDB calls cut off by ``close()``.

One section per class. Each case failed before the fix it names (the commit that added this
file) and checks that nothing else happened: no secret printed, nothing imported, the data
stream unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ohf_persistence import ConfigError, StoreClosed, Template, open_store
from ohf_persistence.config import SECRET_OPTIONS, mask_text, mask_url, resolve_config
from tests.test_cli_commands import one_line_error
from tests.test_interop_support import UrlFactory, cli, persistent_backends

persistent = pytest.mark.parametrize("backend", persistent_backends())
dynamodb_only = pytest.mark.parametrize(
    "backend", [b for b in persistent_backends() if b == "dynamodb"]
)
HEADER = json.dumps({"format": "ohf-persistence-jsonl", "format_version": 1})


def _record(key: str, **data: object) -> str:
    return json.dumps({"type": "template", "id": key, "version": 1, "data": data})


async def _template_ids(url: str) -> list[str]:
    async with open_store(url) as store:
        return [t.template_id for t in await store.templates.get_all()]


# --------------------------------------------------------------------------------------------
# 1. Secrets in URL options hold any character (a raw "@" or ":" made the value look like
#    user information, and the whole URL was printed as given)
# --------------------------------------------------------------------------------------------

secret_values = st.text(st.sampled_from(string.printable.strip() + " "), min_size=3, max_size=16)
HOSTS = ["db.example/ohf", "db.example:5432/ohf", "[::1]:5432/ohf", "u@db.example/ohf"]


@given(
    value=secret_values,
    option=st.sampled_from(sorted(SECRET_OPTIONS)),
    host=st.sampled_from(HOSTS),
    before=st.sampled_from(["", "ssl=disable&"]),
    after=st.sampled_from(["", "&timeout=3"]),
)
@settings(max_examples=400, deadline=None, database=None)
def test_a_raw_secret_option_value_is_hidden_whatever_it_holds(
    value: str, option: str, host: str, before: str, after: str
) -> None:
    assume("&" not in value)  # a raw "&" ends the option for every parser
    url = f"postgresql+asyncpg://{host}?{before}{option}={value}{after}"
    masked = f"postgresql+asyncpg://{host}?{before}{option}=***{after}"
    assume(value not in masked)  # the value is not also part of the rest of the URL
    shown = mask_url(url)
    assert value not in shown, shown
    assert "***" in shown
    assert value not in mask_text(f"cannot reach {url}: timed out", [url])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # printed verbatim before (no ":" before the last "@", so nothing looked like a password)
        (
            "postgresql+asyncpg://u@host/db?password=ab@cd",
            "postgresql+asyncpg://u@host/db?password=***",
        ),
        (
            "postgresql+asyncpg://u@host/db?password=ab@cd&timeout=3",
            "postgresql+asyncpg://u@host/db?password=***&timeout=3",
        ),
        (
            "postgresql+asyncpg://h/db?sslpassword=se@cret",
            "postgresql+asyncpg://h/db?sslpassword=***",
        ),
        # "sec" was shown as the user before
        (
            "postgresql+asyncpg://u@h/db?password=sec:ret@x",
            "postgresql+asyncpg://u@h/db?password=***",
        ),
        # "yy" was shown as the host before
        (
            "dynamodb://?endpoint_url=http://h:1&aws_secret_access_key=zz@yy",
            "dynamodb://?endpoint_url=http:***",
        ),
        # unchanged: a password in the user information, and masked URLs
        ("postgresql+asyncpg://u:p?w@host/db", "postgresql+asyncpg://u:***@host/db"),
        (
            "postgresql+asyncpg://u:***@h/db?password=***",
            "postgresql+asyncpg://u:***@h/db?password=***",
        ),
        ("postgresql+asyncpg://u:@h/db", "postgresql+asyncpg://u:***@h/db"),
    ],
)
def test_secret_options_with_at_signs_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize("backend", [b for b in persistent_backends() if b == "postgres"])
@pytest.mark.parametrize(
    "command", [["stats"], ["stats", "--json"], ["current"], ["--debug", "check"]]
)
def test_cli_never_prints_a_password_option_holding_an_at_sign(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, command: list[str]
) -> None:
    # no port: after a port SQLAlchemy reads a raw "@" as the end of the user information.
    # Since issue 12's leftovers a raw "@" in an option value is refused either way (one
    # line, nothing secret shown); percent-encoded it opens.
    url = asyncio.run(url_factory()).replace(":5432/", "/")
    debug = command[0] == "--debug"
    code, out, err = cli(capsys, *command, "--url", url + "?password=zq@x9s3cret")
    assert code == 1 and "%40" in err, err
    assert "x9s3cret" not in out + err
    assert "zq@" not in out + err
    code, out, err = cli(capsys, *command, "--url", url + "?password=zq%40x9s3cret")
    assert code == 0, err
    assert "x9s3cret" not in out + err
    assert "password=***" in out + (err if debug else "")


# --------------------------------------------------------------------------------------------
# 2. URL parts that were ignored: a DynamoDB host or path and empty options (the store went
#    to AWS itself), ports out of range, upper-case schemes, and where a URL came from
# --------------------------------------------------------------------------------------------

BAD_URLS = {
    "dynamodb host": ("dynamodb://localhost:8000", "has no host or path ('localhost:8000'"),
    "dynamodb host, options": (
        "dynamodb://127.0.0.1:8000?region=us-east-1",
        "give the endpoint as an option: dynamodb://?endpoint_url=",
    ),
    "dynamodb path": ("dynamodb:///?region=us-east-1", "has no host or path ('/'"),
    "dynamodb empty endpoint": ("dynamodb://?endpoint_url=", "'endpoint_url' is empty"),
    "dynamodb empty region": ("dynamodb://?region=&table_prefix=x_", "'region' is empty"),
    "dynamodb empty timeout": ("dynamodb://?timeout=", "'timeout' is empty"),
    "postgres port too big": ("postgresql://u:pw@h:99999/db", "port 99999 is not 1 … 65535"),
    "postgres port 0": ("postgresql+asyncpg://u:pw@h:0/db", "port 0 is not 1 … 65535"),
    "postgres negative port": ("postgresql://u:pw@[::1]:-1/db", "port -1 is not 1 … 65535"),
}


@pytest.mark.parametrize("name", sorted(BAD_URLS))
def test_ignored_url_parts_are_a_config_error(name: str) -> None:
    url, expected = BAD_URLS[name]
    with pytest.raises(ConfigError) as caught:
        resolve_config(url)
    assert expected in str(caught.value)
    assert "pw" not in str(caught.value)


@pytest.mark.parametrize("name", ["dynamodb host", "dynamodb empty endpoint", "postgres port 0"])
@pytest.mark.parametrize(
    "command", [["migrate"], ["stats"], ["demo", "--machines", "1", "--returns", "1"]]
)
def test_commands_refuse_ignored_url_parts_in_one_line(
    capsys: pytest.CaptureFixture[str], name: str, command: list[str]
) -> None:
    url, expected = BAD_URLS[name]
    code, out, err = cli(capsys, *command, "--url", url)
    assert code == 1, (out, err)
    assert expected in one_line_error(err)


def test_an_empty_table_prefix_still_means_no_prefix() -> None:
    config = resolve_config("dynamodb://?table_prefix=&endpoint_url=http://127.0.0.1:9")
    assert config.options["table_prefix"] == ""


async def test_upper_case_schemes_open_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    async with open_store(f"sqlite+aiosqlite:///{path}", migrate=True) as store:
        await store.templates.save(Template("t-1"))
    # refused before ("SQLite URLs look like …") although MEMORY:// was accepted
    for scheme in ("SQLITE+AIOSQLITE", "Sqlite"):
        assert await _template_ids(f"{scheme}:///{path}") == ["t-1"]
    assert resolve_config("DynamoDB://?region=eu-west-1").url == "dynamodb://?region=eu-west-1"


def test_a_bad_url_from_the_environment_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OHF_STORAGE_URL", "mysql://u:s3cretpw@h/db")
    code, out, err = cli(capsys, "stats")
    assert code == 1
    line = one_line_error(err)
    assert "$OHF_STORAGE_URL: unsupported store URL scheme 'mysql'" in line
    assert "s3cretpw" not in out + err


# --------------------------------------------------------------------------------------------
# 3. Import files: a byte order mark, integers longer than Python reads
# --------------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


def _bom_files(tmp_path: Path) -> dict[str, Path]:
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(BOM + f"{HEADER}\n{_record('t-jsonl')}\n".encode())
    orb = tmp_path / "bom.json"
    orb.write_bytes(BOM + json.dumps({"templates": {"t-orb": {"template_id": "t-orb"}}}).encode())
    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "templates.json").write_bytes(
        BOM + json.dumps({"templates": {"t-split": {"template_id": "t-split"}}}).encode()
    )
    return {"t-jsonl": jsonl, "t-orb": orb, "t-split": folder}


@persistent
def test_files_starting_with_a_byte_order_mark_import(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path
) -> None:
    """Windows editors write one; .jsonl said "has no header on line 1", .json was refused."""
    url = asyncio.run(url_factory())
    for key, path in _bom_files(tmp_path).items():
        code, _out, err = cli(capsys, "import", str(path), "--url", url)
        assert code == 0, err
        assert key in asyncio.run(_template_ids(url))


def test_a_byte_order_mark_elsewhere_is_still_an_invalid_record(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "mid.jsonl"
    path.write_bytes(f"{HEADER}\n".encode() + BOM + f"{_record('t-1')}\n".encode())
    code, _out, err = cli(capsys, "import", str(path), "--url", f"sqlite:///{tmp_path}/x.db")
    assert code == 1
    assert "invalid: line 2: record: not valid JSON: Unexpected UTF-8 BOM" in err


def _long_int_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    digits = "9" * 5000
    record = tmp_path / "record.jsonl"
    record.write_text(
        f"{HEADER}\n{_record('t-ok')}\n"
        + _record("t-1", attributes={"a": 1}).replace('"a": 1', f'"a": {digits}')
        + "\n"
    )
    header = tmp_path / "header.jsonl"
    header.write_text(f'{{"format": "ohf-persistence-jsonl", "format_version": {digits}}}\n')
    orb = tmp_path / "orb.json"
    orb.write_text(
        json.dumps({"templates": {"t-1": {"template_id": "t-1", "max_instances": 1}}}).replace(
            '"max_instances": 1', f'"max_instances": {digits}'
        )
    )
    return {
        "record": (record, "line 3: record: an integer has more than 4300 digits"),
        # named since issue 12's leftovers (it said "has no header on line 1")
        "header": (header, "header.jsonl: format_version 9999999999… (5000 digits) is not"),
        "orb": (orb, "orb.json: an integer has more than 4300 digits"),
    }


@persistent
@pytest.mark.parametrize("name", ["record", "header", "orb"])
def test_integers_too_long_to_read_are_one_line_and_import_nothing(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path, name: str
) -> None:
    """They raised a raw ValueError (a traceback) from json's int conversion."""
    url = asyncio.run(url_factory())
    path, expected = _long_int_files(tmp_path)[name]
    code, _out, err = cli(capsys, "import", str(path), "--url", url)
    assert code == 1
    # the refusal is the last line; a bad record is also listed above it ("invalid: line 3: …")
    assert expected in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert asyncio.run(_template_ids(url)) == []


def test_skip_invalid_skips_a_record_with_a_too_long_integer(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path, _ = _long_int_files(tmp_path)["record"]
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    code, _out, err = cli(capsys, "import", str(path), "--skip-invalid", "--url", url)
    assert code == 0, err
    assert "skipped: line 3" in err
    assert asyncio.run(_template_ids(url)) == ["t-ok"]


# --------------------------------------------------------------------------------------------
# 4. The data stream of `export -` with --json, and copy's --page-size
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "orb-json"])
def test_export_to_stdout_with_json_keeps_the_data_stream_clean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    """The report was appended to the data on stdout: the export could not be imported."""
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    assert cli(capsys, "demo", "--machines", "3", "--returns", "1", "--url", url)[0] == 0
    code, plain, _ = cli(capsys, "export", "-", "--format", fmt, "--url", url)
    assert code == 0
    code, data, report = cli(capsys, "export", "-", "--format", fmt, "--json", "--url", url)
    assert code == 0
    assert data == plain
    assert json.loads(report)["counts"]["machine"] == 3
    exported = tmp_path / ("back.jsonl" if fmt == "jsonl" else "back.json")
    exported.write_text(data)
    code, _out, err = cli(capsys, "import", str(exported), "--url", "memory://")
    assert code == 0, err


@pytest.mark.parametrize("size", ["0", "-1", "10001", "abc", "1e3"])
def test_copy_with_a_bad_page_size_is_bad_usage(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, size: str
) -> None:
    """It was exit 1 with "page limit must be …", after both stores were opened."""
    source = f"sqlite+aiosqlite:///{tmp_path}/a.db"
    assert cli(capsys, "migrate", "--url", source)[0] == 0
    code, out, err = cli(capsys, "copy", "--from", source, "--to", "memory://", "--page-size", size)
    assert code == 2, (out, err)
    assert f"argument --page-size: must be an int from 1 to 10000, got '{size}'" in err


# --------------------------------------------------------------------------------------------
# 5. DynamoDB calls still queued when the store closes
# --------------------------------------------------------------------------------------------


@dynamodb_only
async def test_calls_queued_when_a_dynamodb_store_closes_raise_store_closed(
    url_factory: UrlFactory,
) -> None:
    """They raised a bare CancelledError (close() cancels queued worker jobs): a task that
    nobody cancelled stopped as if it had been."""
    store = await open_store(await url_factory())
    pool = store.dynamo.settings.max_pool_connections

    async def save(i: int) -> str:
        try:
            await store.templates.save(Template(f"t-{i}"))
        except StoreClosed:
            return "closed"
        return "saved"

    tasks = [asyncio.create_task(save(i)) for i in range(pool * 3)]
    for _ in range(3):  # every call reaches the worker pool; most wait for a thread
        await asyncio.sleep(0)
    await store.close()
    outcomes = await asyncio.gather(*tasks)  # a CancelledError would end the gather
    assert set(outcomes) <= {"saved", "closed"}
    assert "closed" in outcomes


@dynamodb_only
async def test_a_cancelled_call_on_dynamodb_is_still_cancelled(url_factory: UrlFactory) -> None:
    async with open_store(await url_factory()) as store:
        task = asyncio.create_task(store.templates.get_all())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.templates.count() >= 0  # the store still works


def test_secret_options_are_known_to_mask() -> None:
    # the option names a raw value is hidden behind (percent-encoded names too)
    assert "password" in SECRET_OPTIONS
    assert (
        mask_url(f"postgresql://h/db?{quote('password')}=a@b") == "postgresql://h/db?password=***"
    )


# --------------------------------------------------------------------------------------------
# 6. --debug prints every library's DEBUG lines and the whole traceback: no secret in either
# --------------------------------------------------------------------------------------------


def _run_cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A real process: --debug configures logging for the whole process."""
    return subprocess.run(
        [sys.executable, "-m", "ohf_persistence.cli", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


@dynamodb_only
def test_debug_logs_never_show_aws_session_tokens_or_the_secret_key(
    url_factory: UrlFactory,
) -> None:
    """botocore's DEBUG lines printed the x-amz-security-token header (56 times for a stats)."""
    url = asyncio.run(url_factory())
    secrets = {"AWS_SESSION_TOKEN": "tok3nZZ9session", "AWS_SECRET_ACCESS_KEY": "s3cr3tKEYzz"}
    done = _run_cli("--debug", "stats", "--url", url, env=secrets)
    assert done.returncode == 0, done.stderr
    assert "botocore" in done.stderr  # the DEBUG lines are still there …
    assert "X-Amz-Security-Token': b'***'" in done.stderr
    for value in secrets.values():  # … without the credentials
        assert value not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "dynamodb://?endpoint_url=http://u:s3cretpw@127.0.0.1:1&timeout=1",
        "dynamodb://?endpoint_url=ftp://u:s3cretpw@h",
        "postgresql+asyncpg://u:s3cretpw@127.0.0.1:1/db",
    ],
)
def test_debug_tracebacks_never_show_a_password(url: str) -> None:
    """The traceback printed the driver's message as given: botocore's "Could not connect to
    the endpoint URL: http://u:s3cretpw@…" (the one-line error was masked)."""
    done = _run_cli("--debug", "stats", "--url", url, env={})
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "s3cretpw" not in done.stdout + done.stderr


def test_a_dynamodb_endpoint_with_a_password_is_refused() -> None:
    """DynamoDB signs with AWS credentials; user:password only reached botocore's messages."""
    from ohf_persistence.adapters.dynamodb.settings import settings_from_config

    config = resolve_config("dynamodb://?endpoint_url=http://u:s3cretpw@127.0.0.1:8000")
    with pytest.raises(ConfigError) as caught:
        settings_from_config(config)
    assert "must not hold a user or password" in str(caught.value)
    assert "s3cretpw" not in str(caught.value)


# --------------------------------------------------------------------------------------------
# 7. An export over the SQLite database it reads
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["db.db", "./db.db", "ABS", "link.db", "hard.db", "db.db-wal", "db.db-shm", "SPLIT"],
)
def test_an_export_over_its_own_database_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str
) -> None:
    """`export db.db --format jsonl --url sqlite:///db.db` replaced the database with its own
    export and said "exported" (exit 0): every later command found "file is not a database"."""
    folder = tmp_path / "split"
    folder.mkdir()
    database = folder / "templates.json" if target == "SPLIT" else tmp_path / "db.db"
    url = f"sqlite+aiosqlite:///{database}"
    assert cli(capsys, "demo", "--machines", "2", "--returns", "1", "--url", url)[0] == 0
    (tmp_path / "link.db").symlink_to(database)
    (tmp_path / "hard.db").hardlink_to(database)
    before = database.read_bytes()
    path = {"ABS": str(database), "SPLIT": str(folder)}.get(target, str(tmp_path / target))
    fmt = ["--split", "--format", "orb-json"] if target == "SPLIT" else ["--format", "jsonl"]
    code, _out, err = cli(capsys, "export", path, *fmt, "--url", url)
    assert code == 1
    assert "being exported" in one_line_error(err)
    assert "nothing was changed" in err
    assert database.read_bytes() == before
    code, out, _err = cli(capsys, "stats", "--json", "--url", url)
    assert code == 0
    assert json.loads(out)["machines"]["total"] == 2


# --------------------------------------------------------------------------------------------
# 8. A SQLite "database" that is a folder, a FIFO or a device
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
@pytest.mark.parametrize(
    "command", [["stats"], ["migrate"], ["current"], ["export", "OUT"], ["import", "IN"]]
)
def test_a_sqlite_path_that_is_not_a_regular_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, command: list[str]
) -> None:
    """SQLite opened it and failed with "disk I/O error", leaving a "-journal" file beside it
    (``stats --url sqlite:////dev/null`` created /dev/null-journal)."""
    folder = tmp_path / "here"
    folder.mkdir()
    if kind == "folder":
        path = folder / "db"
        path.mkdir()
    elif kind == "fifo":
        path = folder / "db"
        os.mkfifo(path)
    else:  # a character device whose folder we may not write into: nothing is opened
        path = Path("/dev/null")
    source = tmp_path / "in.jsonl"
    source.write_text(f"{HEADER}\n{_record('t-1')}\n")
    argv = [
        str(tmp_path / "o.jsonl") if a == "OUT" else str(source) if a == "IN" else a
        for a in command
    ]
    before = sorted(os.listdir(folder)), sorted(os.listdir("/dev"))
    code, _out, err = cli(capsys, *argv, "--url", f"sqlite+aiosqlite:///{path}")
    assert code == 1
    assert f"{path} is not a regular file, so it cannot be a SQLite database" in one_line_error(err)
    assert (sorted(os.listdir(folder)), sorted(os.listdir("/dev"))) == before
    assert not (tmp_path / "o.jsonl").exists()


# --------------------------------------------------------------------------------------------
# 9. A JSON Lines record with version 0 (an import keeps every record's version)
# --------------------------------------------------------------------------------------------


@persistent
def test_a_jsonl_record_with_version_0_is_an_invalid_record(
    capsys: pytest.CaptureFixture[str], url_factory: UrlFactory, tmp_path: Path
) -> None:
    """It was stored as a new entity with version 1: export → import → export differed, and a
    --merge of the same file then reported "kept the target's template: target is newer"."""
    url = asyncio.run(url_factory())
    zero = json.dumps({"type": "template", "id": "t-0", "version": 0, "data": {}})
    path = tmp_path / "zero.jsonl"
    path.write_text(f"{HEADER}\n{_record('t-1')}\n{zero}\n")
    code, _out, err = cli(capsys, "import", str(path), "--url", url)
    assert code == 1
    assert "line 3: template 't-0': version 0 is not a stored version" in err
    assert asyncio.run(_template_ids(url)) == []
    code, _out, err = cli(capsys, "import", str(path), "--skip-invalid", "--url", url)
    assert code == 0, err
    assert asyncio.run(_template_ids(url)) == ["t-1"]


@pytest.mark.parametrize(("name", "fmt"), [("B.JSONL", "jsonl"), ("orb.Json", "orb-json")])
def test_upper_case_extensions_tell_the_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, fmt: str
) -> None:
    """`export backup.JSONL` was bad usage ("cannot tell the format"), as was its import."""
    url = f"sqlite+aiosqlite:///{tmp_path}/x.db"
    assert cli(capsys, "demo", "--machines", "2", "--returns", "1", "--url", url)[0] == 0
    path = tmp_path / name
    code, out, err = cli(capsys, "export", str(path), "--url", url)
    assert code == 0, err
    assert out.strip().endswith(f"({fmt})")
    code, out, err = cli(capsys, "import", str(path), "--url", "memory://")
    assert code == 0, err
    assert f"({fmt})" in out


def test_the_debug_filter_masks_records_and_passes_malformed_ones_through() -> None:
    import logging

    from ohf_persistence.cli import _SecretsFilter

    url = "postgresql+asyncpg://u:pw9secret@h/db"
    log_filter = _SecretsFilter([url])
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "connect %s", (url,), None)
    assert log_filter.filter(record)
    assert record.getMessage() == "connect postgresql+asyncpg://u:***@h/db"
    broken = logging.LogRecord("x", logging.DEBUG, __file__, 1, "%d items", ("many",), None)
    assert log_filter.filter(broken)  # not raised from the logging call: the handler reports it
