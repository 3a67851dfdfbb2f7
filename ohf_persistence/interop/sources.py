"""Reading import files: our JSON Lines and ORB's JSON (one file, or a folder in ORB's split
layout). A source can be iterated several times (validation pass, then one write pass per
entity type), and yields one ``Parsed`` per record: the entity, or why it is invalid."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..domain import PersistenceError, ValidationError
from ..domain.entities import Entity
from .codec import ENTITY_TYPES, FORMAT_HEADER, record_key, record_to_entity
from .orb import SECTIONS, from_orb

FORMATS = ("jsonl", "orb-json")


class SourceError(PersistenceError):
    """The input as a whole cannot be read (missing file, not JSON, wrong shape)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    where: str  # "line 12" or "machines" — where the record is, for reports
    entity_type: str | None  # "template" / "request" / "machine" when known
    key: str | None
    entity: Entity | None
    error: str | None = None


class Source(Protocol):
    def records(self, only: type[Entity] | None = None) -> Iterator[Parsed]: ...


class JsonLinesSource:
    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise SourceError(f"{path}: no such file")
        self.path = path

    def records(self, only: type[Entity] | None = None) -> Iterator[Parsed]:
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                parsed = self._parse(number, line)
                if parsed is not None and (only is None or _type_is(parsed, only)):
                    yield parsed

    @staticmethod
    def _parse(number: int, line: str) -> Parsed | None:
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return Parsed(
                where, None, None, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
            )
        if isinstance(record, dict) and record.get("format") == FORMAT_HEADER["format"]:
            return None
        kind = record.get("type") if isinstance(record, dict) else None
        kind = kind if kind in ENTITY_TYPES else None
        key = record_key(record)
        try:
            entity = record_to_entity(record)
        except ValidationError as exc:
            return Parsed(where, kind, key, None, str(exc))
        return Parsed(where, kind, entity.key, entity)


def _type_is(parsed: Parsed, cls: type[Entity]) -> bool:
    return parsed.entity_type is not None and ENTITY_TYPES[parsed.entity_type] is cls


class OrbSource:
    """ORB's ``request_database.json`` (or any name), or a folder of such files (split layout:
    each file holds some of the sections under the same top-level keys)."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
            if not files:
                raise SourceError(f"{path}: the folder holds no .json file")
        elif path.is_file():
            files = [path]
        else:
            raise SourceError(f"{path}: no such file or folder")
        self.sections: dict[str, dict[str, Any]] = {}
        for file in files:
            self._load(file)

    def _load(self, file: Path) -> None:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{file}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from exc
        except UnicodeDecodeError as exc:
            raise SourceError(f"{file}: not UTF-8 text ({exc.reason})") from exc
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
            kind = next(k for k, c in ENTITY_TYPES.items() if c is cls)
            for key, record in self.sections.get(name, {}).items():
                try:
                    entity = from_orb(cls, key, record)
                except ValidationError as exc:
                    yield Parsed(name, kind, key, None, str(exc))
                else:
                    yield Parsed(name, kind, key, entity)


def open_source(path: str | Path, fmt: str) -> Source:
    if fmt == "jsonl":
        return JsonLinesSource(Path(path))
    if fmt == "orb-json":
        return OrbSource(Path(path))
    raise SourceError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
