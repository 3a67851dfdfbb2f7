"""Opening a store from a URL, the seed's config dict, ``OHF_STORAGE_URL`` or the default."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit

from . import adapters
from .domain.errors import ConfigError as ConfigError  # re-exported for callers of config
from .ports import Store

DEFAULT_URL = "sqlite+aiosqlite:///ohf.db"
ENV_URL = "OHF_STORAGE_URL"
SUPPORTED_URLS = (
    "memory://",
    "sqlite+aiosqlite:///path.db",
    "sqlite+aiosqlite:///:memory:",
    "postgresql+asyncpg://user@host:5432/db",
    "dynamodb://?region=...&endpoint_url=...&table_prefix=...",
)
SUPPORTED_TYPES = ("memory", "sql", "dynamodb")
DYNAMODB_OPTIONS = adapters.BACKENDS["dynamodb"].url_options
# Where a URL starts inside a message; the URL itself is then parsed by position, not by a
# pattern, because a password may hold any character ("/", "#", "?", ":", "@", "%", spaces …).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# A URL inside free text ends at whitespace or a quote (``mask_text``).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"`<>]*")
# Query options that carry secrets (asyncpg and libpq accept ``?password=…``).
SECRET_OPTIONS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "sslpassword",
        "secret",
        "token",
        "aws_secret_access_key",
        "aws_session_token",
    }
)
MASK = "***"


def mask_url(url: str) -> str:
    """``url`` with its password (and any secret query option) replaced by ``***``.

    For a URL this package was given (logs, errors, CLI output). Its user information ends at
    its LAST ``@`` and the password is everything after the first ``:`` in it, so a password
    containing ``/ # ? : @ %`` or spaces (raw or percent-encoded) is hidden whole; when in
    doubt more is hidden, never less. A SQLite URL is a path and is shown as given. A string
    that does not start with ``scheme://`` is free text: see ``mask_text``.
    """
    match = _SCHEME.match(url)
    if match is None:
        return mask_text(url)
    rest = url[match.end() :]
    # A SQLite URL is a file path (no user, no password): its "@" and ":" are the path's.
    if match.group().lower().startswith("sqlite") and rest.startswith("/"):
        return url
    return match.group() + _mask_rest(rest)


def mask_text(text: str, urls: Iterable[str] = ()) -> str:
    """Free text (an error message, a log line) with the secrets of the URLs in it hidden.

    ``urls``: the URLs this process was given (the command's ``--url``, ``OHF_STORAGE_URL``):
    wherever one appears whole it becomes its ``mask_url`` form, and its password is hidden
    wherever it appears between ``:`` and ``@`` (raw or percent-encoded), whatever characters
    it holds. Then every other ``scheme://`` in the text starts a URL that ends at whitespace
    or a quote, masked like ``mask_url``. The text around a URL is never changed, and a URL
    masked already stays as it is.
    """
    for url in urls:
        if url and _SCHEME.match(url):
            text = text.replace(url, mask_url(url))
            for secret in _secrets(url):
                text = text.replace(f":{secret}@", f":{MASK}@")
    return _URL_IN_TEXT.sub(lambda found: mask_url(found.group()), text)


def _secrets(url: str) -> set[str]:
    """The password of ``url`` as written and decoded (empty when it has none)."""
    match = _SCHEME.match(url)
    rest = url[match.end() :] if match else url
    at = rest.rfind("@")
    if at < 0:
        return set()
    _user, colon, password = rest[:at].partition(":")
    if not colon or not password:
        return set()
    return {password, unquote(password), quote(unquote(password), safe="")}


def _mask_rest(rest: str) -> str:
    """Mask the part of a URL after ``scheme://``: ``user:password@`` and secret options.

    Two readings are hidden together, so whichever the URL means, its secret is hidden: the
    password between the first ``:`` and the LAST ``@``, and the value of every secret option
    (``?password=…``, ``&token=…``) wherever a ``?`` or ``&`` starts one — a raw ``@`` or
    ``:`` inside such a value would otherwise make it look like user information."""
    spans = _secret_option_spans(rest)
    at = rest.rfind("@")
    if at >= 0:
        colon = rest.find(":", 0, at)
        if colon >= 0:
            spans.append((colon + 1, at))
    shown: list[str] = []
    end = 0
    for start, stop in sorted(spans):
        if start > end or not shown:
            shown.append(rest[end:start] + MASK)
        end = max(end, stop)
    shown.append(rest[end:])
    return "".join(shown)


# An option inside a URL: ``name=value`` after a ``?`` or ``&``; the value ends at ``&``.
_OPTION = re.compile(r"([^?&=]*)=([^&]*)")
_NEXT_OPTION = re.compile(r"&[^?&=]*=")


def _secret_option_spans(
    rest: str, names: frozenset[str] | None = SECRET_OPTIONS
) -> list[tuple[int, int]]:
    """Where the values of secret options (``names``; None: every option) are (start, end),
    at every ``?`` and ``&``. A value runs on to the next ``&name=``: a raw ``&`` inside a
    password (``?password=ab&cd``) would otherwise show its tail as an option of its own."""
    spans = []
    for index, char in enumerate(rest):
        if char not in "?&":
            continue
        option = _OPTION.match(rest, index + 1)
        if option and (names is None or unquote_plus(option.group(1)).strip().lower() in names):
            following = _NEXT_OPTION.search(rest, option.end(2))
            spans.append((option.start(2), following.start() if following else len(rest)))
    return spans


@dataclass(frozen=True)
class StoreConfig:
    backend: str  # "memory" | "sqlite" | "postgresql" | "dynamodb"
    url: str
    options: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"StoreConfig(backend={self.backend!r}, url={mask_url(self.url)!r})"


def resolve_config(config: str | Mapping[str, Any] | StoreConfig | None = None) -> StoreConfig:
    if isinstance(config, StoreConfig):
        return config
    if config is None:
        from_env = os.environ.get(ENV_URL)
        if not from_env:
            return _from_url(DEFAULT_URL)
        try:
            return _from_url(from_env)
        except ConfigError as exc:  # say where the URL came from: it is not on the command line
            raise ConfigError(f"${ENV_URL}: {exc}") from exc
    if isinstance(config, str):
        return _from_url(config)
    if isinstance(config, Mapping):
        return _from_dict(config)
    raise ConfigError(f"store config must be a URL or a dict, got {type(config).__name__}")


def _unsupported(what: str) -> ConfigError:
    return ConfigError(f"unsupported store {what}; supported URLs: {', '.join(SUPPORTED_URLS)}")


def _from_url(url: str) -> StoreConfig:
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise _unsupported(f"URL {mask_url(url)!r}")
    scheme = scheme.lower()  # schemes are case-insensitive (RFC 3986), on every backend
    if scheme == "memory":
        if rest:  # memory://anything would open the same empty store: a typo, not a choice
            raise ConfigError(f"a memory URL is just memory://, got {mask_url(url)!r}")
        return StoreConfig("memory", url)
    if scheme in ("sqlite+aiosqlite", "sqlite"):
        if not rest.startswith("/"):
            raise ConfigError(f"SQLite URLs look like {SUPPORTED_URLS[1]}, got {mask_url(url)!r}")
        url = "sqlite+aiosqlite:///" + rest[1:]
        _url_options("sqlite", url)
        path = url.removeprefix("sqlite+aiosqlite:///").partition("?")[0]
        if not path:
            # SQLite would open a throw-away database that a migrate "fills" and loses
            raise ConfigError(
                f"no SQLite path in {mask_url(url)!r}; give a file (sqlite+aiosqlite:///ohf.db) "
                "or, for a private in-memory database, sqlite+aiosqlite:///:memory:"
            )
        if "\x00" in unquote(path):
            raise ConfigError(f"a SQLite path cannot hold a NUL byte (%00): {mask_url(url)!r}")
        return StoreConfig("sqlite", url)
    if scheme in ("postgresql+asyncpg", "postgresql", "postgres"):
        url = "postgresql+asyncpg://" + rest
        _url_options("postgresql", url)
        _check_port(url)
        _check_at_signs(url)
        return StoreConfig("postgresql", url)
    if scheme == "dynamodb":
        url = "dynamodb://" + rest
        return StoreConfig("dynamodb", url, _dynamodb_options(url))
    raise _unsupported(f"URL scheme {scheme!r}")


_LABELS = {
    "memory": "memory",
    "sqlite": "SQLite",
    "postgresql": "PostgreSQL",
    "dynamodb": "DynamoDB",
}


def _url_options(backend: str, url: str) -> dict[str, str]:
    """The URL's query options, each named at most once and known to the backend (the one
    check of option names for every scheme; the backend reads the values)."""
    if backend in ("sqlite", "postgresql"):
        from sqlalchemy.engine import make_url  # SQL only: a memory or DynamoDB URL skips it

        try:
            # SQLAlchemy's parser: a password may hold "?" or "#"; a repeated option is a tuple
            query: Mapping[str, str | tuple[str, ...]] = make_url(url).query
        except Exception:  # malformed: engine.py refuses it with its own message
            return {}
        pairs = [(k, v) for k, vs in query.items() for v in ((vs,) if isinstance(vs, str) else vs)]
        # SQLAlchemy drops an option without "=": a "?" inside a SQLite path (the file would
        # be another one) or a bare typo; the query starts after the host's "@", if any.
        after_host = url.rpartition("@")[2] if backend == "postgresql" else url
        query_text = after_host.partition("?")[2]
        secret = _secret_option_spans("?" + query_text)  # a raw "&" inside a password
        offset = 0
        for piece in query_text.split("&"):
            inside = any(start <= offset + 1 <= stop for start, stop in secret)
            if piece and "=" not in piece:
                named = "(inside the masked part of the URL)" if inside else repr(unquote(piece))
                raise ConfigError(
                    f"URL option {named} has no value in {mask_url(url)!r}; inside a path, "
                    "a name or a value, write '?' as %3F and '&' as %26"
                )
            offset += len(piece) + 1
    else:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    # the wording of adapters/sql/engine.py's check (which guards a StoreConfig built by hand)
    known = adapters.BACKENDS[backend].url_options
    masked = mask_url(url)
    options: dict[str, str] = {}
    for name, value in pairs:
        # a password holding "@" and "?" can look like options to the parser: a name is shown
        # only when it is outside what masking hides
        shown = repr(name) if name in masked else "(inside the masked part of the URL)"
        if name not in known:
            listed = ", ".join(known) or "none"
            raise ConfigError(
                f"unknown {backend} URL option {shown} in {masked!r}; known: {listed}"
            )
        if name in options:
            times = sum(1 for other, _ in pairs if other == name)
            raise ConfigError(f"URL option {shown} given {times} times in {masked!r}")
        options[name] = value
    return options


def _check_port(url: str) -> None:
    """A port outside 1 … 65535 is a typo: refused here, not by the driver at connect time."""
    from sqlalchemy.engine import make_url

    try:
        port = make_url(url).port
    except Exception:  # malformed: engine.py refuses it with its own message
        return
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"port {port} is not 1 … 65535 in {mask_url(url)!r}")


def _check_at_signs(url: str) -> None:
    """At most one raw ``@`` (the one before the host), and none in an option value.

    URL readers disagree on any other: SQLAlchemy ends the user information at an ``@`` inside
    ``?password=a@b`` when a port precedes it, and at the first ``@`` of a password, so the
    rest of the secret became the host name (sent to DNS, shown in errors); libpq reads such
    URLs differently again. Refused, whatever the parse, with the one fix that is read alike
    everywhere: ``%40``."""
    rest = url.partition("://")[2]
    if "@" not in rest:
        return
    if rest.count("@") > 1:
        where = "more than once"
    elif any("@" in rest[start:stop] for start, stop in _secret_option_spans(rest, None)):
        where = "in an option value"
    else:
        return
    raise ConfigError(
        f"{mask_url(url)!r} holds a raw '@' {where}; URL readers disagree on where such a "
        "URL's user information ends (part of a password could be taken for the host name), "
        "so it is refused: percent-encode each '@' inside a user name, password or option "
        "value as %40 (and a '?' in a password as %3F)"
    )


def _dynamodb_options(url: str) -> dict[str, str]:
    """A DynamoDB URL is ``dynamodb://?option=value&…``: the endpoint is an option. A host or
    path after ``dynamodb://`` (``dynamodb://localhost:8000``) would be ignored and the store
    would talk to AWS itself; an empty option (``endpoint_url=``) would fall back to the
    default the same way. Both are refused (an empty ``table_prefix=`` means no prefix)."""
    place = url.removeprefix("dynamodb://").partition("?")[0]
    if place:
        masked = mask_url(url)  # the place may hold user:password@
        raise ConfigError(
            f"a DynamoDB URL has no host or path "
            f"({masked.removeprefix('dynamodb://').partition('?')[0]!r} in {masked!r}); give the "
            "endpoint as an option: dynamodb://?endpoint_url=http://HOST:PORT&region=…"
        )
    options = _url_options("dynamodb", url)
    _refuse_empty_dynamodb_options(options, repr(mask_url(url)))
    return options


def _refuse_empty_dynamodb_options(options: Mapping[str, str], where: str) -> None:
    """An empty DynamoDB option (``endpoint_url``, ``region`` …) would fall back to the AWS
    default silently, whether it came in a URL or a config dict (an empty ``table_prefix``
    means no prefix)."""
    empty = [name for name, value in options.items() if not value and name != "table_prefix"]
    if empty:
        raise ConfigError(
            f"option {empty[0]!r} is empty in {where}; give a value or leave the option out "
            "for its default"
        )


# The keys each section of the seed's dict may hold (a typo such as "ulr" is refused).
_SECTION_KEYS = {"memory": (), "sql": ("url",), "dynamodb": DYNAMODB_OPTIONS}
# Which backends a "sql" section's URL may open.
_SQL_BACKENDS = ("sqlite", "postgresql")


def _from_dict(config: Mapping[str, Any]) -> StoreConfig:
    storage = config.get("storage", config)
    if not isinstance(storage, Mapping):
        raise ConfigError("config['storage'] must be a dict")
    kind = storage.get("type")
    if kind not in SUPPORTED_TYPES:
        raise ConfigError(
            f"unsupported storage type {kind!r}; supported types: {', '.join(SUPPORTED_TYPES)}"
        )
    # One rule for every type: "type" plus sections named by types (the seed's shape may hold
    # several, "type" picks one), each with its own keys only; anything else is a typo.
    unknown = sorted(str(key) for key in storage if key != "type" and key not in SUPPORTED_TYPES)
    if unknown:
        raise ConfigError(
            f"unknown key(s) in config['storage']: {', '.join(unknown)}; "
            f"known: type, {', '.join(SUPPORTED_TYPES)}"
        )
    for name in SUPPORTED_TYPES:
        part = storage.get(name)
        if part is None:
            continue
        if not isinstance(part, Mapping):
            raise ConfigError(f"config['storage'][{name!r}] must be a dict")
        unknown = sorted(str(key) for key in part if key not in _SECTION_KEYS[name])
        if unknown:
            known = ", ".join(_SECTION_KEYS[name]) or "none"
            raise ConfigError(
                f"unknown key(s) in config['storage'][{name!r}]: {', '.join(unknown)}; "
                f"known: {known}"
            )
    section: Mapping[str, Any] = storage.get(kind) or {}
    if kind == "memory":
        return StoreConfig("memory", "memory://")
    if kind == "sql":
        url = section.get("url")
        if not isinstance(url, str):
            raise ConfigError("config['storage']['sql']['url'] must be a database URL")
        resolved = _from_url(url)
        if resolved.backend not in _SQL_BACKENDS:
            raise ConfigError(
                f"storage type 'sql' with a {resolved.backend} URL {mask_url(url)!r}: "
                f"use type {resolved.backend!r}"
                + (" and its section" if resolved.backend == "dynamodb" else "")
            )
        return resolved
    options = {k: str(v) for k, v in section.items() if v is not None}
    _refuse_empty_dynamodb_options(options, "config['storage']['dynamodb']")
    return StoreConfig("dynamodb", "dynamodb://", options)


class StoreOpener:
    """What ``open_store`` returns: ``await`` it, or use it as ``async with``."""

    def __init__(self, config: StoreConfig, logger: Any, migrate: bool) -> None:
        self._config = config
        self._logger = logger or logging.getLogger("ohf_persistence")
        self._migrate = migrate
        self._store: Store | None = None

    async def _open(self) -> Store:
        backend = self._config.backend
        try:
            store = await adapters.opener(backend)(self._config, self._logger, self._migrate)
        except ImportError as exc:  # the backend's driver (an extra) is not installed
            raise adapters.missing_driver(backend, exc) from exc
        return store

    def __await__(self) -> Generator[Any, None, Store]:
        return self._open().__await__()

    async def __aenter__(self) -> Store:
        self._store = await self._open()
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


def open_store(
    config: str | Mapping[str, Any] | StoreConfig | None = None,
    *,
    logger: Any = None,
    migrate: bool = False,
) -> StoreOpener:
    """Open a store from a URL, the seed's config dict, ``$OHF_STORAGE_URL`` or the default.

    ``migrate=True`` brings a SQL schema to head first (no effect on memory; on DynamoDB it
    creates missing tables). Without it, opening never runs DDL.
    """
    return StoreOpener(resolve_config(config), logger, migrate)


def sqlite_file(config: StoreConfig) -> Path | None:
    """The file of a file-backed SQLite URL, percent-escapes decoded as the store decodes
    them (None for other backends and in-memory SQLite)."""
    if config.backend != "sqlite":
        return None
    from sqlalchemy.engine import make_url

    database = make_url(config.url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
