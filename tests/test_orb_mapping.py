"""ORB records <-> entities without a store: the mapping itself, field by field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ohf_persistence import Machine, Request, Template, ValidationError
from ohf_persistence.interop.hf_attributes import derive_attributes
from ohf_persistence.interop.orb import SECTIONS, from_orb, orb_info, to_orb
from tests.test_interop_support import FIXTURE_FILE, assert_orb_equal, load


def _round_trip(document: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        out[section] = {}
        for key, record in document.get(section, {}).items():
            entity = from_orb(cls, key, record)
            entity.version = 1  # as a fresh insert leaves it
            out[section][key] = to_orb(entity)
    return out


def test_fixture_round_trips_field_by_field() -> None:
    document = load(FIXTURE_FILE)
    assert_orb_equal(document, _round_trip(document))


def test_fields_land_where_documented() -> None:
    document = load(FIXTURE_FILE)
    raw = document["templates"]["ec2fleet-tpl-00"]
    template = from_orb(Template, "ec2fleet-tpl-00", raw)
    assert isinstance(template, Template)
    assert template.max_number == raw["max_instances"]
    assert template.configuration["image_id"] == raw["image_id"]
    assert template.configuration["machine_types"] == raw["machine_types"]
    assert template.configuration["_orb"]["keep"] == {"version": 1, "updated_at": raw["updated_at"]}
    assert template.attributes == {
        "type": ["String", "X86_64"],
        "ncpus": ["Numeric", "2"],
        "nram": ["Numeric", "8192"],
    }
    key, req = next(iter(document["requests"].items()))
    request = from_orb(Request, key, req)
    assert isinstance(request, Request)
    extra = request.metadata["_orb"]["extra"]
    for name in ("machine_count", "desired_capacity", "message", "timeout", "error_message"):
        assert extra[name] == req[name]
    assert request.metadata["source"] == "fixture"
    assert request.created_at is not None and request.created_at.utcoffset() is not None


def test_datetime_forms_are_instants_and_styles_come_back() -> None:
    raw = {
        "machine_id": "i-1",
        "status": "running",
        "launch_time": "2026-11-01T08:01:00Z",
        "created_at": "2026-11-01T08:00:00",
        "termination_time": "2026-11-01T10:00:00.5+02:00",
    }
    machine = from_orb(Machine, "i-1", raw)
    assert isinstance(machine, Machine)
    assert machine.launch_time is not None and machine.created_at is not None
    assert machine.launch_time.isoformat() == "2026-11-01T08:01:00+00:00"
    assert machine.created_at.isoformat() == "2026-11-01T08:00:00+00:00"
    assert machine.termination_time is not None
    assert machine.termination_time.isoformat() == "2026-11-01T08:00:00.500000+00:00"
    machine.version = 1
    back = to_orb(machine)
    assert back["launch_time"] == "2026-11-01T08:01:00Z"
    assert back["created_at"] == "2026-11-01T08:00:00"
    assert back["termination_time"] == "2026-11-01T08:00:00.500000+00:00"  # same instant
    assert set(back) == set(raw)


def test_nulls_and_absent_fields_come_back_as_written() -> None:
    raw = {
        "request_id": "req-x",
        "request_type": "acquire",
        "metadata": None,
        "machine_ids": None,
        "created_at": None,
        "requested_count": None,
    }
    request = from_orb(Request, "req-x", raw)
    request.version = 1
    assert to_orb(request) == raw


def test_change_after_import_moves_orb_version_and_duplicates() -> None:
    document = load(FIXTURE_FILE)
    key, raw = next(iter(document["requests"].items()))
    request = from_orb(Request, key, raw)
    assert isinstance(request, Request)
    request.version = 3  # two saves after the import
    request.status_message = "now complete"
    back = to_orb(request)
    assert back["version"] == raw["version"] + 2
    assert back["message"] == "now complete"
    assert "updated_at" not in back  # ORB's requests carry none; none is added
    key, raw_machine = next(iter(document["machines"].items()))
    machine = from_orb(Machine, key, raw_machine)
    machine.version = 2
    assert raw_machine["updated_at"] is None
    assert to_orb(machine)["updated_at"] is not None  # changed since: our updated_at


def test_entities_orb_never_saw_export_with_orb_names() -> None:
    template = Template("t-native", max_number=7, configuration={"image_id": "ami-1"}, version=2)
    out = to_orb(template)
    assert out["max_instances"] == 7 and out["image_id"] == "ami-1" and out["version"] == 2
    assert "max_number" not in out and orb_info(template) is None
    request = Request("req-n", requested_count=4, status_message="hi", version=1)
    out = to_orb(request)
    assert out["machine_count"] == out["desired_capacity"] == 4 and out["message"] == "hi"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"name": "no id"}, "has no 'machine_id'"),
        ({"machine_id": "i-other"}, "differs from its key"),
        ({"machine_id": "i-1", "status": "exploded"}, "is not one of"),
        ({"machine_id": "i-1", "security_group_ids": "sg-1"}, "must be a list"),
        ({"machine_id": "i-1", "launch_time": "yesterday"}, "ISO 8601"),
        ("not an object", "must be a JSON object"),
    ],
)
def test_malformed_records_are_refused_with_a_reason(record: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        from_orb(Machine, "i-1", record)


def test_wrong_type_template_field() -> None:
    raw = copy.deepcopy(load(FIXTURE_FILE)["templates"]["asg-tpl-02"])
    raw["max_instances"] = "ten"
    with pytest.raises(ValidationError, match="max_number"):
        from_orb(Template, "asg-tpl-02", raw)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"machine_types": {"m5.large": 1}}, ("X86_64", "2", "8192")),
        ({"instance_type": "m6g.xlarge"}, ("ARM64", "4", "16384")),
        ({"instance_type": "c5.4xlarge"}, ("X86_64", "16", "32768")),
        ({"instance_type": "r5.large"}, ("X86_64", "2", "16384")),
        ({"instance_type": "t3.micro"}, ("X86_64", "2", "1024")),
        ({"instance_type": "m5.metal"}, ("X86_64", "1", "1024")),
        ({}, ("X86_64", "1", "1024")),
    ],
)
def test_host_factory_attributes_derivation(
    record: dict[str, Any], expected: tuple[str, ...]
) -> None:
    arch, ncpus, nram = expected
    assert derive_attributes(record) == {
        "type": ["String", arch],
        "ncpus": ["Numeric", ncpus],
        "nram": ["Numeric", nram],
    }


def test_attributes_orb_wrote_are_kept_verbatim() -> None:
    raw = {
        "template_id": "t",
        "attributes": {"type": ["String", "X86_64"], "zone": ["String", "a"]},
    }
    template = from_orb(Template, "t", raw)
    assert isinstance(template, Template)
    assert template.attributes == raw["attributes"]
    template.version = 1
    assert to_orb(template) == raw


def test_a_shared_record_equals_the_copied_one_and_only_it_shares_containers() -> None:
    document = load(FIXTURE_FILE)
    for section, cls in SECTIONS.items():
        for key, record in document.get(section, {}).items():
            entity = from_orb(cls, key, copy.deepcopy(record))
            entity.version = 1
            copied, shared = to_orb(entity), to_orb(entity, share=True)
            assert shared == copied
            holder = "configuration" if cls is Template else "metadata"
            before = copy.deepcopy(getattr(entity, holder))
            for value in copied.values():  # a copy: changing it leaves the entity alone
                if isinstance(value, dict):
                    value["_changed"] = True
            assert getattr(entity, holder) == before
    request = from_orb(Request, "req-1", {"request_id": "req-1", "provider_data": {"a": 1}})
    assert to_orb(request, share=True)["provider_data"] is request.provider_data
    assert to_orb(request)["provider_data"] is not request.provider_data


@pytest.mark.parametrize(
    ("section", "where"),
    [("templates", None), ("requests", "metadata"), ("machines", "metadata")],
)
def test_orbs_own_data_named_like_our_bookkeeping_comes_back_unchanged(
    section: str, where: str | None
) -> None:
    """ORB's records are free-form where we keep our ``_orb`` bookkeeping (a template's extra
    fields, a request's or machine's metadata): ORB data under that name is kept, not refused."""
    key, raw = next(iter(load(FIXTURE_FILE)[section].items()))
    raw = copy.deepcopy(raw)
    own = {"user": "value", "version": 7, "nested": [1, {"_orb": None}]}
    if where is None:
        raw["_orb"] = own
    else:
        raw[where] = {**(raw.get(where) or {}), "_orb": own}
    entity = from_orb(SECTIONS[section], key, copy.deepcopy(raw))
    entity.version = 1  # as a fresh insert leaves it
    assert_orb_equal({section: {key: raw}}, {section: {key: to_orb(entity)}})
    assert_orb_equal({section: {key: raw}}, {section: {key: to_orb(entity.copy(), share=True)}})
    out = to_orb(entity)
    assert (out if where is None else out[where])["_orb"] == own
