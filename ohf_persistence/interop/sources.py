"""Reading import files: our JSON Lines and ORB's JSON (one file, or a folder in ORB's split
layout). A source can be iterated several times (validation pass, then one write pass per
entity type), and yields one ``Parsed`` per record: the entity, or why it is invalid."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..domain import PersistenceError, ValidationError
from ..domain.entities import Entity
from .orb import SECTIONS, from_orb
from .records import FORMAT_HEADER, TYPES_BY_NAME, record_key, record_to_entity

FORMATS = ("jsonl", "orb-json")
# A UTF-8 byte order mark (Windows editors write one): allowed at the start of a file and
# ignored there, as RFC 8259 permits; anywhere else it is text that is not JSON.
BOM = b"\xef\xbb\xbf"


class SourceError(PersistenceError):
    """The input as a whole cannot be read (missing file, not JSON, wrong shape)."""


class BadJson(ValueError):
    """Text that ``json`` parses but an import must refuse, or cannot parse at all."""


class _Object(dict[str, Any]):
    """A decoded JSON object that had a repeated key (``json`` would keep only the last)."""

    duplicate: str = ""


def _find_duplicate(document: Any) -> str | None:
    """Where the first object with a repeated key is: ``machines → "i-1": key "id"``.
    Iterative, so a document as deep as ``json`` accepts cannot overflow the stack."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Object):
            inside = " → ".join(path) or "the top-level object"
            return f"duplicate key {json.dumps(value.duplicate, ensure_ascii=False)} in {inside}"
        if isinstance(value, dict):
            items = [(json.dumps(k, ensure_ascii=False), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"[{i}]", v) for i, v in enumerate(value)]
        else:
            continue
        stack.extend((v, (*path, k)) for k, v in reversed(items))
    return None


def strict_loads(text: str) -> Any:
    """``json.loads`` that refuses what an import must not guess at: a repeated key in any
    object (json keeps the last and drops the first silently) and nesting too deep to parse.
    Raises BadJson with a one-line reason (line and column for syntax errors)."""
    repeated = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        repeated = True
        marked = _Object(result)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.duplicate = key
                break
            seen.add(key)
        return marked

    try:
        document = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        raise BadJson(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    except RecursionError as exc:
        raise BadJson("JSON nested too deeply to read") from exc
    except ValueError as exc:  # int's limit on digits (4300 by default), not a syntax error
        limit = sys.get_int_max_str_digits()
        raise BadJson(f"an integer has more than {limit} digits, too many to read") from exc
    if repeated:  # only then walk the document to say where
        raise BadJson(_find_duplicate(document) or "duplicate key")
    return document


@dataclass(frozen=True, slots=True)
class Parsed:
    where: str  # "line 12" or "machines" — where the record is, for reports
    entity_type: str | None  # "template" / "request" / "machine" when known
    key: str | None
    entity: Entity | None
    error: str | None = None


class Source(Protocol):
    def records(self, only: type[Entity] | None = None) -> Iterator[Parsed]: ...


class _Number(str):
    """A JSON number as written: the header's are compared as text, so ``1e999`` or a
    5,000-digit int is named as it is instead of failing int() or becoming inf."""


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _shown(value: Any) -> str:
    """A header value for a one-line message, as written; long ones cut, with their length."""
    if type(value) is _Number:
        text = str.__str__(value)
    elif isinstance(value, dict | list):
        text = "{…}" if isinstance(value, dict) else "[…]"
    else:
        text = json.dumps(value, ensure_ascii=False)
    if len(text) <= 24:
        return text
    unit = "digits" if text.isdigit() else "characters"
    return f"{text[:10]}… ({len(text)} {unit})"


def header_problem(first: bytes) -> str | None:
    """What is wrong with ``first`` (line 1 without its BOM) as our header, or None. Each
    defect is named: a reader told only "no header" cannot tell a typo from a newer file."""
    expected = json.dumps(FORMAT_HEADER)
    starts = f"; an ohf-persistence JSON Lines file starts with {expected}"
    reads = FORMAT_HEADER["format_version"]
    if not first:
        return f"is empty{starts}"
    if not first.strip():
        return f"line 1 is blank, so there is no header on line 1{starts}"
    try:
        header = json.loads(
            first.decode("utf-8").rstrip("\r\n"),  # so a column is the line's column
            object_pairs_hook=_no_duplicates,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_Number,
        )
    except UnicodeDecodeError as exc:
        return f"line 1 is not UTF-8 text ({exc.reason} at byte {exc.start}){starts}"
    except _DuplicateKey as exc:
        return f"duplicate key {_shown(str(exc))} in the header on line 1{starts}"
    except json.JSONDecodeError as exc:
        return f"line 1 is not valid JSON ({exc.msg}, column {exc.colno}){starts}"
    except RecursionError:
        return f"line 1 is JSON nested too deeply to read{starts}"
    if not isinstance(header, dict):
        kind = "an array" if isinstance(header, list) else "not an object"
        return f"line 1 is {kind}, so there is no header on line 1{starts}"
    if "format" not in header:
        record = header.get("type")
        what = f"a {_shown(record)} record" if isinstance(record, str) else "another object"
        return f'no header on line 1 (it is {what}, with no "format" key){starts}'
    if header["format"] != FORMAT_HEADER["format"]:
        found, ours = _shown(header["format"]), json.dumps(FORMAT_HEADER["format"])
        return f"the header on line 1 has format {found}, not {ours}{starts}"
    if "format_version" not in header:
        return f"the header on line 1 has no format_version (null); this package reads {reads}"
    version = header["format_version"]
    if type(version) is _Number:
        if version == str(reads):
            return None
        if version.isdigit() and not version.startswith("0") and len(version) <= 9:
            return (
                f"written by a newer ohf-persistence (format_version {version}); this one "
                f"reads format_version {reads}: upgrade ohf-persistence to import it"
            )
        return f"format_version {_shown(version)} is not supported (this package reads {reads})"
    kinds = {str: "a string, ", bool: "a boolean, ", dict: "an object, ", list: "an array, "}
    return (
        f"format_version {_shown(version)} is {kinds.get(type(version), '')}not a number "
        f"(this package reads {reads})"
    )


class JsonLinesSource:
    def __init__(self, path: Path) -> None:
        _require_file(path)
        self.path = path
        self._check_header()

    def _check_header(self) -> None:
        """Line 1 is the header, and its format_version one this package reads: a file from a
        newer package is refused whole, as a newer database is refused for writes."""
        with self.path.open("rb") as handle:
            first = handle.readline().removeprefix(BOM)
        problem = header_problem(first)
        if problem is not None:
            raise SourceError(f"{self.path}: {problem}")

    def records(self, only: type[Entity] | None = None) -> Iterator[Parsed]:
        # Bytes, decoded line by line: a line that is not UTF-8 is reported with its number
        # (a text-mode file would raise UnicodeDecodeError from the middle of the loop).
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                if number == 1:
                    raw = raw.removeprefix(BOM)
                if not raw.strip():
                    continue
                parsed = self._parse(number, raw)
                if parsed is not None and (only is None or _type_is(parsed, only)):
                    yield parsed

    @staticmethod
    def _parse(number: int, raw: bytes) -> Parsed | None:
        where = f"line {number}"
        try:
            record = strict_loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return Parsed(
                where, None, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            )
        except BadJson as exc:
            return Parsed(where, None, None, None, str(exc))
        if isinstance(record, dict) and record.get("format") == FORMAT_HEADER["format"]:
            if number == 1:  # checked when the source was opened
                return None
            return Parsed(where, None, None, None, "a header line is only valid on line 1")
        kind = record.get("type") if isinstance(record, dict) else None
        kind = kind if kind in TYPES_BY_NAME else None
        key = record_key(record)
        try:
            entity = record_to_entity(record)
        except ValidationError as exc:
            return Parsed(where, kind, key, None, str(exc))
        except RecursionError:  # a value nested deeper than validation can walk
            return Parsed(where, kind, key, None, "a value is nested too deeply")
        if entity.version < 1:
            # every stored entity has version 1 or more, and an import keeps the record's
            # version: 0 would be written as a new entity (version 1), so that the file and the
            # store disagree and a --merge of the same file reports the store as newer
            return Parsed(
                where,
                kind,
                entity.key,
                None,
                "version 0 is not a stored version (a record's version is 1 or more)",
            )
        return Parsed(where, kind, entity.key, entity)


def _require_file(path: Path) -> None:
    if path.is_file():
        return
    if path.exists():  # a FIFO, a device: the import reads its input twice (check, then write)
        raise SourceError(f"{path}: not a regular file (import reads its input more than once)")
    raise SourceError(f"{path}: no such file")


def _type_is(parsed: Parsed, cls: type[Entity]) -> bool:
    return parsed.entity_type is not None and TYPES_BY_NAME[parsed.entity_type] is cls


class OrbSource:
    """ORB's ``request_database.json`` (or any name), or a folder of such files (split layout:
    each file holds some of the sections under the same top-level keys)."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
            if not files:
                raise SourceError(f"{path}: the folder holds no .json file")
        else:
            _require_file(path)
            files = [path]
        self.sections: dict[str, dict[str, Any]] = {}
        for file in files:
            self._load(file)

    def _load(self, file: Path) -> None:
        try:
            text = file.read_bytes().removeprefix(BOM).decode("utf-8")
            if not text.strip():  # ORB's JSON storage reads an empty or blank file as no data
                return
            document = strict_loads(text)
            if document is None or document == []:  # ORB reads null and [] as no data too
                return
        except BadJson as exc:
            raise SourceError(f"{file}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise SourceError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        if not isinstance(document, dict):
            raise SourceError(f"{file}: ORB storage is a JSON object with sections")
        for name, section in document.items():
            if name not in SECTIONS:
                raise SourceError(
                    f"{file}: unknown section {name!r} (ORB's are: {', '.join(SECTIONS)})"
                )
            if not isinstance(section, dict):
                raise SourceError(f"{file}: section {name!r} must be an object of records by id")
            if name in self.sections:
                raise SourceError(f"{file}: section {name!r} appears in more than one file")
            self.sections[name] = section

    def records(self, only: type[Entity] | None = None) -> Iterator[Parsed]:
        for name, cls in SECTIONS.items():
            if only is not None and cls is not only:
                continue
            kind = next(k for k, c in TYPES_BY_NAME.items() if c is cls)
            for key, record in self.sections.get(name, {}).items():
                try:
                    entity = from_orb(cls, key, record)
                except ValidationError as exc:
                    yield Parsed(name, kind, key, None, str(exc))
                except RecursionError:  # a value nested deeper than validation can walk
                    yield Parsed(name, kind, key, None, "a value is nested too deeply")
                else:
                    yield Parsed(name, kind, key, entity)


def open_source(path: str | Path, fmt: str) -> Source:
    if fmt == "jsonl":
        return JsonLinesSource(Path(path))
    if fmt == "orb-json":
        return OrbSource(Path(path))
    raise SourceError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
