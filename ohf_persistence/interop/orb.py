"""ORB's JSON storage records to and from our entities, losslessly.

Mapping (see docs/cli.md for the table):
- a field ORB and we both have (same name; ``max_instances`` is our ``max_number``) goes to
  that field; datetimes are parsed (``…Z``, ``…+00:00`` and naive, which is UTC);
- every other template field (``image_id``, ``machine_types``, ``subnet_ids``, ``key_name``,
  ``tags`` …) goes to ``Template.configuration`` under ORB's own name;
- every other request / machine field (``machine_count``, ``desired_capacity``, ``message``,
  ``timeout``, ``error_message``, ``partial_since``, ``schema_version`` …) goes to
  ``metadata["_orb"]["extra"]`` verbatim;
- what our store overwrites or normalises is remembered in the reserved ``_orb`` dict
  (``configuration["_orb"]`` for templates, ``metadata["_orb"]`` otherwise): ORB's own
  ``version`` and ``updated_at`` as written, fields ORB left out or wrote as null where we hold
  a default, and each datetime's text form (naive / ``Z``), so the export gives them back; a
  record whose own data already uses the name ``_orb`` keeps that value in ``_orb["own"]``.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from ..domain import Machine, Request, Template, ValidationError
from ..domain.entities import Entity
from .hf_attributes import derive_attributes
from .records import DATETIME_FIELDS, parse_datetime

RESERVED = "_orb"
SECTIONS: dict[str, type[Entity]] = {
    "templates": Template,
    "requests": Request,
    "machines": Machine,
}
SECTION_OF: dict[type[Entity], str] = {cls: name for name, cls in SECTIONS.items()}
_RENAMES: dict[type[Entity], dict[str, str]] = {Template: {"max_instances": "max_number"}}
_ORB_NAMES: dict[type[Entity], dict[str, str]] = {
    cls: {ours: orb for orb, ours in _RENAMES.get(cls, {}).items()} for cls in SECTIONS.values()
}
_BOOKKEEPING = ("version", "updated_at")  # ours are the store's; ORB's come back from _orb
_MAPPED: dict[type[Entity], tuple[str, ...]] = {
    cls: tuple(n for n in cls.FIELD_NAMES if n not in _BOOKKEEPING and n != "configuration")
    for cls in SECTIONS.values()
}
# Per class, computed once (ORB converts a record per save): (our name, ORB's name) of each
# mapped field, and where each ORB name goes: ``_SKIP`` (bookkeeping), or (our name, whether
# null is a value of it, whether it is a datetime); a name not listed goes to the extras.
_NAME_PAIRS = {
    cls: tuple((n, _ORB_NAMES[cls].get(n, n)) for n in names) for cls, names in _MAPPED.items()
}
_SKIP = ("", False, False)
_ROUTES: dict[type[Entity], dict[str, tuple[str, bool, bool]]] = {
    cls: {
        **{
            orb_name: (ours, ours in cls.NULLABLE and ours != "created_at", ours in dates)
            for ours, orb_name in _NAME_PAIRS[cls]
        },
        **dict.fromkeys(_BOOKKEEPING, _SKIP),
    }
    for cls, dates in DATETIME_FIELDS.items()
    if cls in _MAPPED
}
# Requests and machines carry _orb in metadata; templates in configuration.
_HOLDER: dict[type[Entity], str] = {
    Template: "configuration",
    Request: "metadata",
    Machine: "metadata",
}
SCHEMA_VERSION = "2.0.0"  # what ORB 1.8.5 writes; added to exports of entities ORB never saw


def _defaults(cls: type[Entity]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default is not MISSING:
            out[f.name] = f.default
        elif f.default_factory is not MISSING and f.name not in ("created_at", "updated_at"):
            out[f.name] = f.default_factory()
    return out


_DEFAULTS = {cls: _defaults(cls) for cls in SECTIONS.values()}


def _style(text: str) -> str | None:
    if text.endswith(("Z", "z")):
        return "zulu"
    return "naive" if text[-6:-5] not in ("+", "-") else None


def _render(value: datetime, style: str | None) -> str:
    if style == "naive":
        return value.replace(tzinfo=None).isoformat()
    text = value.isoformat()
    return text[:-6] + "Z" if style == "zulu" and text.endswith("+00:00") else text


def from_orb(cls: type[Entity], key: str, record: Any) -> Entity:
    """One ORB record (``key`` is its id in ORB's section) to a new entity (version 0)."""
    etype = cls.ENTITY_TYPE
    if not isinstance(record, dict):
        raise ValidationError(f"{etype} record must be a JSON object, got {type(record).__name__}")
    if cls.KEY not in record:
        raise ValidationError(f"{etype} record has no {cls.KEY!r}", field=cls.KEY)
    if record[cls.KEY] != key:
        raise ValidationError(
            f"{etype} record's {cls.KEY} {record[cls.KEY]!r:.80} differs from its key in the file",
            field=cls.KEY,
        )
    route = _ROUTES[cls]
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    orb: dict[str, Any] = {}
    keep = {name: record[name] for name in _BOOKKEEPING if name in record}
    nulls: list[str] = []
    naive: list[str] = []
    zulu: list[str] = []
    for name, raw in record.items():
        target = route.get(name)
        if target is None:  # not a field of ours (Template's own "max_number" included)
            extra[name] = raw
            continue
        ours, nullable, is_datetime = target
        if target is _SKIP:
            continue
        if raw is None and not nullable:
            nulls.append(ours)  # our default stands in; the export writes null again
        elif is_datetime and raw is not None:
            values[ours] = parse_datetime(raw, ours, etype)
            style = _style(raw)
            if style is not None:
                (naive if style == "naive" else zulu).append(ours)
        else:
            values[ours] = raw
    absent = [ours for ours, orb_name in _NAME_PAIRS[cls] if orb_name not in record]
    if cls is Template and "attributes" not in record:
        values["attributes"] = derive_attributes(record)
    holder = _HOLDER[cls]
    if cls is Template:
        container: Any = extra
        extra = {}
    else:
        container = values.get(holder, {})
        if not isinstance(container, dict):
            raise ValidationError(f"{etype}.{holder}: must be a dict", field=holder)
        container = dict(container)
    if RESERVED in container:  # ORB's own data under our bookkeeping's name: kept aside
        orb["own"] = container.pop(RESERVED)
    for name, items in (("keep", keep), ("extra", extra), ("absent", absent), ("nulls", nulls)):
        if items:
            orb[name] = items
    for name, items in (("naive", naive), ("zulu", zulu)):
        if items:
            orb[name] = items
    orb["stored"] = 1  # the version a fresh insert gets; an import updating a row resets it
    container[RESERVED] = orb
    values[holder] = container
    return cls.from_dict(values)


def orb_info(entity: Entity) -> dict[str, Any] | None:
    holder = getattr(entity, _HOLDER[type(entity)])
    info = holder.get(RESERVED)
    return info if isinstance(info, dict) else None


def set_stored_version(entity: Entity, version: int) -> None:
    info = orb_info(entity)
    if info is not None:
        info["stored"] = version


def _json(value: Any, name: str, cls: type[Entity], info: dict[str, Any] | None) -> Any:
    if isinstance(value, datetime):
        style = None
        if info is not None:
            style = "naive" if name in info.get("naive", ()) else None
            style = "zulu" if name in info.get("zulu", ()) else style
        return _render(value, style)
    if isinstance(value, StrEnum):
        return value.value
    return value


def to_orb(entity: Entity, *, share: bool = False) -> dict[str, Any]:
    """The ORB record of an entity: what ORB wrote, if it came from ORB and is unchanged.

    ``share``: the record holds the entity's own dicts and lists instead of copies, for an
    entity nobody else holds (one a read just returned: every read returns private objects),
    which saves copying it twice when ORB converts the record again."""
    cls = type(entity)
    values = dict(vars(entity)) if share else entity.to_dict()
    info = orb_info(entity)
    holder = dict(values[_HOLDER[cls]])
    holder.pop(RESERVED, None)
    if info is not None and "own" in info:
        holder[RESERVED] = info["own"]
    out: dict[str, Any] = {}
    absent = set(info.get("absent", ())) if info else set()
    nulls = set(info.get("nulls", ())) if info else set()
    for name in _MAPPED[cls]:
        orb_name = _ORB_NAMES[cls].get(name, name)
        value = holder if name == _HOLDER[cls] else values[name]
        if name in nulls and (name == "created_at" or value == _DEFAULTS[cls].get(name)):
            out[orb_name] = None
        elif name in absent and (
            name == "created_at"
            or value is None
            or value == _DEFAULTS[cls].get(name)
            or (name == "attributes" and value == derive_attributes(holder))
        ):
            continue
        else:
            out[orb_name] = _json(value, name, cls, info)
    if cls is Template:
        out.update(holder)
    elif info is not None:
        out.update(info.get("extra", {}))
    keep = info.get("keep", {}) if info else {}
    changed = info is None or entity.version != info.get("stored")
    if not changed:
        out.update(keep)
        return out
    if info is None:
        out["version"] = entity.version
        out.setdefault("schema_version", SCHEMA_VERSION)
        if isinstance(entity, Request):
            out.update(machine_count=entity.requested_count, message=entity.status_message)
            out["desired_capacity"] = entity.requested_count
    else:
        _refresh(entity, out, keep, info)
    if info is None or "updated_at" in keep:
        out["updated_at"] = _json(entity.updated_at, "updated_at", cls, info)
    return out


def _refresh(
    entity: Entity, out: dict[str, Any], keep: dict[str, Any], info: dict[str, Any]
) -> None:
    """Changed since the import: ORB's version moves on by as many saves as ours did, and
    ORB's legacy duplicates follow the fields they duplicate."""
    stored = info.get("stored")
    if "version" in keep:
        orb_version = keep["version"]
        if isinstance(orb_version, int) and isinstance(stored, int):
            out["version"] = orb_version + max(entity.version - stored, 0)
        else:
            out["version"] = orb_version
    if isinstance(entity, Request):
        for name in ("machine_count", "desired_capacity"):
            if name in out:
                out[name] = entity.requested_count
        if "message" in out:
            out["message"] = entity.status_message
