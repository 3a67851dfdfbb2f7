"""The ``ohf-persistence`` command line.

Exit codes: 0 success, 1 failure (one line on stderr, a traceback only with --debug),
2 bad usage. Passwords in URLs are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import select
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from ..config import ENV_URL, MASK, mask_text
from ..domain import PersistenceError
from . import bench_cmd, data_cmds, demo, schema_cmds

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ohf-persistence",
        description="Migrations, a demo, import/export (incl. ORB's JSON), copy and statistics "
        "for ohf_persistence stores. Every command takes --url (default: $OHF_STORAGE_URL, "
        "then sqlite+aiosqlite:///ohf.db).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and DEBUG logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    schema_cmds.register(sub)
    demo.register(sub)
    data_cmds.register(sub)
    bench_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    missing = _fill_closed_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else 2
    if "stdout" in missing and args.command == "export" and getattr(args, "path", None) == "-":
        # the data has nowhere to go: refuse before reading anything
        print(
            "ohf-persistence export: error: stdout is closed; nothing was exported", file=sys.stderr
        )
        return 1
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
        for log_handler in logging.getLogger().handlers:
            log_handler.addFilter(_SecretsFilter(given_urls(args)))
    handler: Handler = args.func
    try:
        code = asyncio.run(handler(args))
        sys.stdout.flush()  # here, not at exit, so a closed pipe is handled below
        return code
    except BrokenPipeError as exc:
        # only our stdout's reader going away is that case; any other pipe is a failure
        return _stdout_closed(args) if _stdout_is_closed() else _fail(args, exc)
    except argparse.ArgumentTypeError as exc:
        parser.print_usage(sys.stderr)
        print(f"ohf-persistence {args.command}: error: {exc}", file=sys.stderr)
        return 2
    # User errors: one line, no traceback. Anything else is a bug and shows its traceback.
    except (PersistenceError, OSError) as exc:
        return _fail(args, exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# botocore's DEBUG lines carry the request headers and the canonical request: the session
# token travels in x-amz-security-token (a credential, like a password).
_TOKEN_HEADER = re.compile(r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)([^'"\s,}]+)""", re.I)
_CREDENTIAL_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class _SecretsFilter(logging.Filter):
    """--debug shows every library's DEBUG lines; none may show a secret: the passwords of the
    URLs the command was given (anywhere in the line), AWS session tokens and the secret key."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self._urls = urls

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed record: the handler reports it as ever
            return True
        masked = mask_secrets(message, self._urls)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_secrets(text: str, urls: list[str]) -> str:
    """``text`` (a log line, a traceback) with the given URLs' passwords, every other URL's
    password, AWS session tokens and the secret key from the environment hidden."""
    masked = _TOKEN_HEADER.sub(rf"\g<1>{MASK}", mask_text(text, urls))
    for name in _CREDENTIAL_VARIABLES:
        value = os.environ.get(name, "")
        if len(value) > 3:
            masked = masked.replace(value, MASK)
    return masked


def _fill_closed_streams() -> set[str]:
    """Standard streams closed when the process started (``>&-``, ``2>&-``, ``<&-``: daemons,
    launchers, cron). Python leaves ``sys.stdout`` (…) as None; each becomes the null device,
    so a report is lost like one whose reader went away (the work still counts: exit 0) and
    an error never lands in another stream. The descriptor itself is taken too, so no file
    we open later (a database) becomes descriptor 1 or 2. Returns the names that were None."""
    missing: set[str] = set()
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        missing.add(name)
        try:
            os.fstat(fd)
        except OSError:  # closed: the lowest free descriptor is this one
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        setattr(sys, name, open(os.devnull, "r" if fd == 0 else "w", encoding="utf-8"))  # noqa: SIM115
    return missing


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    urls = given_urls(args)
    if args.debug:  # the whole chain, its messages masked like every other line we print
        print(mask_secrets(traceback.format_exc(), urls), file=sys.stderr, end="")
    message = "; ".join(str(exc).splitlines()) or type(exc).__name__
    print(f"ohf-persistence {args.command}: error: {mask_text(message, urls)}", file=sys.stderr)
    return 1


def given_urls(args: argparse.Namespace) -> list[str]:
    """The URLs this command was given: their passwords are hidden wherever they appear."""
    given = [getattr(args, name, None) for name in ("url", "source", "target")]
    return [url for url in (*given, os.environ.get(ENV_URL)) if isinstance(url, str) and url]


def _stdout_is_closed() -> bool:
    """True when stdout is a pipe (or socket) whose reader has gone: poll reports an error
    on its write end."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):  # no real descriptor (e.g. captured)
        return False
    return any(flags & (select.POLLERR | select.POLLHUP) for _, flags in events)


def _stdout_closed(args: argparse.Namespace) -> int:
    """The reader of our output went away (``… | head``, ``… | true``). Whatever the command
    did is done — an import has committed — so only the report was lost: exit 0, except for
    ``export -``, whose output *is* the data: that export is incomplete (exit 1). Either way
    no "Broken pipe" traceback, and nothing more is written to the closed pipe."""
    with contextlib.suppress(OSError, ValueError):  # stdout may be a test's capture object
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        os.close(devnull)
    if args.command == "export" and getattr(args, "path", None) == "-":
        print(
            "ohf-persistence export: error: stdout was closed before the export was complete",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
