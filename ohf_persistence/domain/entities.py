"""Template, Request and Machine: plain dataclasses validated on construction and assignment.

Adapters build entities from stored rows with ``Entity.restore`` which skips validation (the
values were validated when written); list queries create tens of thousands of them per second.
"""

from __future__ import annotations

import uuid
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from . import validation as v
from .errors import InvalidStatusTransition, ValidationError
from .statuses import (
    ACTIVE_REQUEST_STATUSES,
    MachineStatus,
    RequestStatus,
    RequestType,
    machine_transition_allowed,
    request_transition_allowed,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


_JSON_FIELDS = (v.check_json_dict,)
_LIST_FIELDS = (v.check_str_list,)


class Entity:
    """Shared behaviour; subclasses are dataclasses that set the class variables below."""

    ENTITY_TYPE: ClassVar[str]
    KEY: ClassVar[str]
    VALIDATORS: ClassVar[dict[str, v.Validator]]
    # Field name -> Python type of every scalar (filterable, sortable) field.
    SCALARS: ClassVar[dict[str, type]]
    # Fields holding JSON dicts or lists (copied on the way in and out of stores).
    CONTAINERS: ClassVar[tuple[str, ...]]
    STR_LISTS: ClassVar[tuple[str, ...]]  # the containers that are lists of str
    DICTS: ClassVar[tuple[str, ...]]  # the containers that are JSON dicts
    FIELD_NAMES: ClassVar[tuple[str, ...]]
    NULLABLE: ClassVar[frozenset[str]]
    REQUIRED: ClassVar[tuple[str, ...]]  # fields without a default
    # (name, validator, default, default factory or None) of every field, in declaration order.
    FIELDS: ClassVar[tuple[tuple[str, v.Validator, Any, Any], ...]]

    version: int
    created_at: datetime | None
    updated_at: datetime | None

    def __setattr__(self, name: str, value: Any) -> None:
        check = self.VALIDATORS.get(name)
        if check is None:
            raise ValidationError(
                f"{self.ENTITY_TYPE} has no field {name!r}",
                field=name,
                entity_type=self.ENTITY_TYPE,
            )
        object.__setattr__(self, name, check(value, name, self.ENTITY_TYPE))

    @property
    def key(self) -> str:
        return str(getattr(self, self.KEY))

    def validate(self) -> None:
        """Re-check the containers, which may have been mutated in place since assignment."""
        values = self.__dict__
        if v.plainly_storable(
            [values[name] for name in self.STR_LISTS], [values[name] for name in self.DICTS]
        ):
            return
        for name in self.CONTAINERS:  # the first failing field raises, with its message
            # Kept: a value mutated in place to hold a subclass (an IntEnum ...) comes back plain.
            values[name] = self.VALIDATORS[name](values[name], name, self.ENTITY_TYPE)

    def to_dict(self) -> dict[str, Any]:
        """Field values (containers deep-copied, enums and datetimes as Python objects)."""
        values = dict(self.__dict__)
        for name in self.CONTAINERS:
            values[name] = v.json_copy(values[name])
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        """Build and validate from field values; unknown keys are refused."""
        unknown = set(values) - set(cls.FIELD_NAMES)
        if unknown:
            name = sorted(unknown)[0]
            raise ValidationError(
                f"{cls.ENTITY_TYPE} has no field {name!r}", field=name, entity_type=cls.ENTITY_TYPE
            )
        if any(name not in values for name in cls.REQUIRED):
            try:  # the dataclass's own TypeError names what is missing
                return cls(**values)
            except TypeError as exc:
                raise ValidationError(
                    f"{cls.ENTITY_TYPE}: {exc}", entity_type=cls.ENTITY_TYPE
                ) from exc
        # What ``cls(**values)`` does (every field checked in declaration order, so the same
        # first error), without a ``__setattr__`` call per field; None is the value of an
        # optional field as it is, and defaults are valid by construction.
        etype, nullable = cls.ENTITY_TYPE, cls.NULLABLE
        out: dict[str, Any] = {}
        for name, check, default, factory in cls.FIELDS:
            if name in values:
                value = values[name]
                out[name] = (
                    value if value is None and name in nullable else check(value, name, etype)
                )
            else:
                out[name] = default if factory is None else factory()
        entity = object.__new__(cls)
        object.__setattr__(entity, "__dict__", out)
        return entity

    @classmethod
    def restore(cls, values: dict[str, Any]) -> Self:
        """Trusted fast path for adapters: no validation, no copies. Values must be complete."""
        obj = object.__new__(cls)
        obj.__dict__.update(values)
        return obj

    def copy(self) -> Self:
        return self.restore(self.to_dict())


def _finish(cls: type[Entity], key: str, entity_type: str, validators: dict[str, Any]) -> None:
    common = {
        "version": v.check_count,
        "created_at": v.check_optional_datetime,
        "updated_at": v.check_optional_datetime,
    }
    cls.VALIDATORS = {**validators, **common}
    cls.KEY = key
    cls.ENTITY_TYPE = entity_type
    cls.FIELD_NAMES = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    cls.CONTAINERS = tuple(
        n for n, check in cls.VALIDATORS.items() if check in (_JSON_FIELDS + _LIST_FIELDS)
    )
    cls.STR_LISTS = tuple(n for n in cls.CONTAINERS if cls.VALIDATORS[n] in _LIST_FIELDS)
    cls.DICTS = tuple(n for n in cls.CONTAINERS if cls.VALIDATORS[n] in _JSON_FIELDS)
    scalar_types: dict[Any, type] = {
        v.check_id: str,
        v.check_optional_id: str,
        v.check_text: str,
        v.check_optional_text: str,
        v.check_count: int,
        v.check_bool: bool,
        v.check_optional_datetime: datetime,
        v.check_datetime: datetime,
    }
    scalars: dict[str, type] = {}
    for name, check in cls.VALIDATORS.items():
        if check in scalar_types:
            scalars[name] = scalar_types[check]
        elif name in ENUM_FIELDS.get(entity_type, {}):
            scalars[name] = ENUM_FIELDS[entity_type][name]
    cls.SCALARS = scalars
    optional = (v.check_optional_id, v.check_optional_text, v.check_optional_datetime)
    cls.NULLABLE = frozenset(n for n, check in cls.VALIDATORS.items() if check in optional)
    declared = fields(cls)  # type: ignore[arg-type]
    cls.REQUIRED = tuple(
        f.name for f in declared if f.default is MISSING and f.default_factory is MISSING
    )
    cls.FIELDS = tuple(
        (
            f.name,
            cls.VALIDATORS[f.name],
            f.default,
            None if f.default_factory is MISSING else f.default_factory,
        )
        for f in declared
    )


_request_status = v.check_enum(RequestStatus)
_request_type = v.check_enum(RequestType)
_machine_status = v.check_enum(MachineStatus)

ENUM_FIELDS: dict[str, dict[str, type]] = {
    "Request": {"status": RequestStatus, "request_type": RequestType},
    "Machine": {"status": MachineStatus},
}


@dataclass(eq=True, repr=True)
class Template(Entity):
    template_id: str
    name: str | None = None
    description: str | None = None
    provider_type: str = "aws"
    provider_name: str | None = None
    provider_api: str | None = None
    max_number: int = 1
    attributes: dict[str, Any] = field(default_factory=dict)
    configuration: dict[str, Any] = field(default_factory=dict)
    is_active: bool = True
    version: int = 0
    created_at: datetime | None = field(default_factory=utcnow)
    updated_at: datetime | None = field(default_factory=utcnow)


_finish(
    Template,
    "template_id",
    "Template",
    {
        "template_id": v.check_id,
        "name": v.check_optional_text,
        "description": v.check_optional_text,
        "provider_type": v.check_id,
        "provider_name": v.check_optional_text,
        "provider_api": v.check_optional_text,
        "max_number": v.check_count,
        "attributes": v.check_json_dict,
        "configuration": v.check_json_dict,
        "is_active": v.check_bool,
    },
)


def new_request_id(request_type: RequestType | str) -> str:
    """``req-<uuid4>`` for acquire requests, ``ret-<uuid4>`` for return requests."""
    kind = _request_type(request_type, "request_type", "Request")
    return f"{'req' if kind is RequestType.ACQUIRE else 'ret'}-{uuid.uuid4()}"


@dataclass(eq=True, repr=True)
class Request(Entity):
    request_id: str
    request_type: RequestType = RequestType.ACQUIRE
    template_id: str | None = None
    provider_type: str | None = "aws"
    provider_name: str | None = None
    provider_api: str | None = None
    requested_count: int = 0
    status: RequestStatus = RequestStatus.PENDING
    status_message: str | None = None
    machine_ids: list[str] = field(default_factory=list)
    resource_ids: list[str] = field(default_factory=list)
    successful_count: int = 0
    failed_count: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    first_status_check: datetime | None = None
    last_status_check: datetime | None = None
    deadline_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error_details: dict[str, Any] = field(default_factory=dict)
    provider_data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    created_at: datetime | None = field(default_factory=utcnow)
    updated_at: datetime | None = field(default_factory=utcnow)

    @classmethod
    def new(cls, request_type: RequestType | str, **values: Any) -> Request:
        """A new request with a fresh ``req-``/``ret-`` id."""
        kind = _request_type(request_type, "request_type", "Request")
        return cls(request_id=new_request_id(kind), request_type=kind, **values)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_REQUEST_STATUSES

    def change_status(self, status: RequestStatus | str, message: str | None = None) -> None:
        """Move to ``status`` if the transition rules allow it (message kept when None)."""
        target = _request_status(status, "status", "Request")
        if not request_transition_allowed(self.status, target):
            raise InvalidStatusTransition("Request", self.request_id, self.status, target)
        self.status = target
        if message is not None:
            self.status_message = message


_finish(
    Request,
    "request_id",
    "Request",
    {
        "request_id": v.check_id,
        "request_type": _request_type,
        "template_id": v.check_optional_id,
        "provider_type": v.check_optional_text,
        "provider_name": v.check_optional_text,
        "provider_api": v.check_optional_text,
        "requested_count": v.check_count,
        "status": _request_status,
        "status_message": v.check_optional_text,
        "machine_ids": v.check_str_list,
        "resource_ids": v.check_str_list,
        "successful_count": v.check_count,
        "failed_count": v.check_count,
        "started_at": v.check_optional_datetime,
        "completed_at": v.check_optional_datetime,
        "first_status_check": v.check_optional_datetime,
        "last_status_check": v.check_optional_datetime,
        "deadline_at": v.check_optional_datetime,
        "metadata": v.check_json_dict,
        "error_details": v.check_json_dict,
        "provider_data": v.check_json_dict,
    },
)


@dataclass(eq=True, repr=True)
class Machine(Entity):
    machine_id: str
    name: str | None = None
    template_id: str | None = None
    request_id: str | None = None
    return_request_id: str | None = None
    provider_type: str | None = "aws"
    provider_name: str | None = None
    provider_api: str | None = None
    resource_id: str | None = None
    instance_type: str | None = None
    image_id: str | None = None
    price_type: str | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    private_dns_name: str | None = None
    public_dns_name: str | None = None
    subnet_id: str | None = None
    vpc_id: str | None = None
    security_group_ids: list[str] = field(default_factory=list)
    status: MachineStatus = MachineStatus.PENDING
    status_reason: str | None = None
    launch_time: datetime | None = None
    provisioning_started_at: datetime | None = None
    termination_time: datetime | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    provider_data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    created_at: datetime | None = field(default_factory=utcnow)
    updated_at: datetime | None = field(default_factory=utcnow)

    def change_status(self, status: MachineStatus | str, reason: str | None = None) -> None:
        """Move to ``status`` if the transition rules allow it (reason kept when None)."""
        target = _machine_status(status, "status", "Machine")
        if not machine_transition_allowed(self.status, target):
            raise InvalidStatusTransition("Machine", self.machine_id, self.status, target)
        self.status = target
        if reason is not None:
            self.status_reason = reason


_finish(
    Machine,
    "machine_id",
    "Machine",
    {
        "machine_id": v.check_id,
        "name": v.check_optional_text,
        "template_id": v.check_optional_id,
        "request_id": v.check_optional_id,
        "return_request_id": v.check_optional_id,
        **{
            name: v.check_optional_text
            for name in (
                "provider_type",
                "provider_name",
                "provider_api",
                "resource_id",
                "instance_type",
                "image_id",
                "price_type",
                "private_ip",
                "public_ip",
                "private_dns_name",
                "public_dns_name",
                "subnet_id",
                "vpc_id",
            )
        },
        "security_group_ids": v.check_str_list,
        "status": _machine_status,
        "status_reason": v.check_optional_text,
        "launch_time": v.check_optional_datetime,
        "provisioning_started_at": v.check_optional_datetime,
        "termination_time": v.check_optional_datetime,
        "tags": v.check_json_dict,
        "metadata": v.check_json_dict,
        "provider_data": v.check_json_dict,
    },
)

# Every entity type, parents first (templates, then the requests and machines that name them):
# the order of commits, exports and copies.
ENTITY_TYPES: tuple[type[Entity], ...] = (Template, Request, Machine)
