"""Issue 12, fourth-pass leftovers: four classes of input that still went wrong.

Sections:

1. Subclasses of the JSON types as values (``StrEnum``, ``IntEnum``, ``str`` / ``int`` /
   ``float`` / ``datetime`` subclasses, ``OrderedDict``, ``defaultdict``, list and dict
   subclasses) came back as the caller's objects from the memory backend and as plain types
   from SQL and DynamoDB. Validation now makes them plain, so every backend returns exact
   built-in types (``bool`` stays ``bool``).
2. A SQLite or PostgreSQL database holding tables (views, indexes, types) named like ours but
   no ohf_persistence revision: ``check`` listed "differences" and advised ``migrate``, which
   failed with the driver's "already exists". Now every command and ``open_store`` refuse with
   ``ForeignTables`` naming them, and nothing is changed.
3. A JSON Lines header whose format_version was huge, not a number, or repeated said only "has
   no header on line 1" (or printed 400 digits). Every defect is named.
4. A raw ``@`` in a PostgreSQL URL's option value or password: SQLAlchemy took part of the
   secret for the host name (resolved by DNS, shown in errors). Refused before anything
   connects, telling to write ``%40``; raw ``: / #`` still read as written.
"""

from __future__ import annotations

import collections
import enum
from datetime import UTC, datetime
from typing import Any

from ohf_persistence import Store
from ohf_persistence.domain import Machine, Request, Template
from ohf_persistence.testing import make_machine, make_request, make_template

# --------------------------------------------------------------------------------------------
# 1. Subclasses of the JSON types come back as the exact built-in types on every backend
# --------------------------------------------------------------------------------------------


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 7
    ONE = 1  # equal to True, yet must come back as the int 1


class Loud(str):
    def __str__(self) -> str:  # a subclass's own __str__ must not decide the stored value
        return "LOUD"


class Ratio(float):
    pass


class Tags(list[Any]):
    pass


class Attrs(dict[str, Any]):
    pass


class Stamp(datetime):
    pass


PLAIN = (str, int, float, bool, type(None), dict, list)


def assert_plain(value: Any, path: str = "") -> None:
    """Every value, key and container is an exact built-in type."""
    assert type(value) in PLAIN, (path, type(value))
    if type(value) is dict:
        for key, item in value.items():
            assert type(key) is str, (path, type(key))
            assert_plain(item, f"{path}.{key}")
    elif type(value) is list:
        for index, item in enumerate(value):
            assert_plain(item, f"{path}[{index}]")


def odd_json() -> dict[str, Any]:
    """Every subclass family, nested, and the plain values they must become."""
    inner = collections.defaultdict(list, {Loud("k"): Tags([Size.LARGE, Ratio(0.5)])})
    return collections.OrderedDict(
        [
            (Colour.RED, Colour.RED),
            ("loud", Loud("quiet")),
            ("size", Size.LARGE),
            ("one", Size.ONE),
            ("flag", True),
            ("ratio", Ratio(2.5)),
            ("list", Tags([Colour.RED, Loud("x"), Size.ONE, None])),
            ("dict", Attrs(inner=inner)),
        ]
    )


ODD_JSON_PLAIN = {
    "red": "red",
    "loud": "quiet",
    "size": 7,
    "one": 1,
    "flag": True,
    "ratio": 2.5,
    "list": ["red", "x", 1, None],
    "dict": {"inner": {"k": [7, 0.5]}},
}
WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def odd_entities() -> tuple[Template, Request, Machine]:
    template = make_template(
        Loud("tpl-odd"),
        name=Colour.RED,
        max_number=Size.LARGE,
        attributes=odd_json(),
        configuration=Attrs(colour=Colour.RED),
    )
    request = make_request(
        Loud("req-odd"),
        template_id=Loud("tpl-odd"),
        requested_count=Size.ONE,
        machine_ids=Tags([Loud("i-odd")]),
        resource_ids=[Colour.RED],
        metadata=odd_json(),
        started_at=Stamp(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )
    machine = make_machine(
        Loud("i-odd"),
        request_id=Loud("req-odd"),
        instance_type=Colour.RED,
        security_group_ids=Tags([Loud("sg-1"), Colour.RED]),
        tags=collections.OrderedDict(Name=Loud("n")),
        metadata=odd_json(),
        launch_time=Stamp(2024, 5, 6, 7, 8, 9, 123456),  # naive: UTC
    )
    return template, request, machine


def assert_plain_entity(entity: Any) -> None:
    for name, value in entity.to_dict().items():
        if name in ("status", "request_type"):  # the package's own enums, by contract
            continue
        if isinstance(value, datetime):
            assert type(value) is datetime, name
            continue
        assert_plain(value, name)


def assert_odd_values(template: Any, request: Any, machine: Any) -> None:
    for entity in (template, request, machine):
        assert_plain_entity(entity)
    assert (template.template_id, template.name, template.max_number) == ("tpl-odd", "red", 7)
    assert template.attributes == ODD_JSON_PLAIN
    assert template.configuration == {"colour": "red"}
    assert (request.request_id, request.requested_count) == ("req-odd", 1)
    assert request.machine_ids == ["i-odd"] and request.resource_ids == ["red"]
    assert request.metadata == ODD_JSON_PLAIN and request.started_at == WHEN
    assert (machine.machine_id, machine.instance_type) == ("i-odd", "red")
    assert machine.security_group_ids == ["sg-1", "red"]
    assert machine.tags == {"Name": "n"} and machine.metadata == ODD_JSON_PLAIN
    assert machine.launch_time == WHEN
    # bool stays bool and an IntEnum equal to True becomes the int 1, not True
    assert type(machine.metadata["flag"]) is bool and type(machine.metadata["one"]) is int


def test_validation_makes_subclass_values_plain() -> None:
    assert_odd_values(*odd_entities())
    imported = Template.from_dict(  # the import's and ORB's way in
        {"template_id": Loud("t"), "max_number": Size.LARGE, "attributes": odd_json()}
    )
    assert_plain_entity(imported)
    assert imported.attributes == ODD_JSON_PLAIN and imported.template_id == "t"


async def test_subclass_values_come_back_plain_on_every_backend(store: Store) -> None:
    template, request, machine = odd_entities()
    await store.templates.save(template)
    await store.requests.save_many([request])
    async with store.unit_of_work() as uow:
        await uow.machines.save(machine)
        # a unit's own pending write, read back before commit
        assert_plain_entity(await uow.machines.get_by_id("i-odd"))
        await uow.commit()
    assert_odd_values(template, request, machine)  # the caller's objects too
    found = (
        await store.templates.get_by_id("tpl-odd"),
        await store.requests.get_by_id("req-odd"),
        await store.machines.get_by_id("i-odd"),
    )
    assert_odd_values(*found)
    assert_odd_values(
        *(await store.templates.get_all()),
        *(await store.requests.get_all()),
        *(await store.machines.page(limit=5)).items,
    )
    # a query holding subclass values still finds what they equal
    assert [t.template_id for t in await store.templates.find_by_attributes(odd_json())] == [
        "tpl-odd"
    ]


async def test_subclasses_put_in_place_after_construction_are_stored_plain(store: Store) -> None:
    machine = make_machine("i-late")
    await store.machines.save(machine)
    machine.metadata["late"] = Size.LARGE
    machine.tags["list"] = Tags([Colour.RED])
    machine.security_group_ids.append(Loud("sg-late"))
    await store.machines.save(machine)
    assert await store.machines.update_status("i-late", "running", Loud("because"))
    for found in (machine, await store.machines.get_by_id("i-late")):
        assert found is not None
        assert_plain_entity(found)
        assert found.metadata["late"] == 7 and found.tags["list"] == ["red"]
        assert found.security_group_ids[-1] == "sg-late"
    stored = await store.machines.get_by_id("i-late")
    assert stored is not None and stored.status_reason == "because"
    assert type(stored.status_reason) is str
