"""ORB file -> store -> ORB file, field by field, on every backend; generated unusual files."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import MachineStatus, RequestStatus
from ohf_persistence.interop import export_store, import_file
from tests.test_interop_support import (
    FIXTURE_FILE,
    StoreFactory,
    assert_orb_equal,
    load,
    store_backends,
)

pytestmark = pytest.mark.parametrize("backend", store_backends())

ODD_TEXT = [
    "héllo wörld",
    "日本語テキスト",
    "emoji 🚀🔥",
    "עברית",
    "",
    "tab\tand\nnewline",
    "q\"uote'",
]


def _nested(depth: int, width: int, rng: random.Random) -> Any:
    if depth == 0:
        return rng.choice([None, True, False, 0, -1, 2**53 + 1, 1.5, -0.25, "x", "ü", []])
    return {f"k{i}.{rng.choice(ODD_TEXT)}": _nested(depth - 1, width, rng) for i in range(width)}


def make_orb_document(machines: int, seed: int = 7) -> dict[str, Any]:
    """An ORB-shaped file with the content real files have and tests usually forget."""
    rng = random.Random(seed)
    forms = ["2026-01-02T03:04:05.123456Z", "2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05.5"]
    templates = {}
    for t in range(3):
        tid = f"tpl-{t}-{ODD_TEXT[t]}"
        templates[tid] = {
            "template_id": tid,
            "name": ODD_TEXT[t + 1],
            "description": None if t == 0 else "",
            "image_id": f"ami-{t}",
            "max_instances": [0, 5, 10_000][t],
            "machine_types": {} if t == 2 else {"m5.large": 1, "c5.2xlarge": 3},
            "subnet_ids": [],
            "security_group_ids": ["sg-ü"],
            "key_name": None,
            "price_type": "spot",
            "tags": {"note": ODD_TEXT[2], "empty": ""},
            "metadata": _nested(4, 4, rng),  # a large nested dict
            "future_orb_field": {"nested": [1, {"a": None}]},
            "provider_type": "aws",
            "is_active": t != 1,
            "created_at": forms[t],
            "updated_at": None if t == 1 else forms[(t + 1) % 3],
            "schema_version": "2.0.0",
            "version": t,
        }
    requests, all_machines = {}, {}
    ids = list(templates)
    per_request = 50
    for r in range(max(1, machines // per_request)):
        rid = f"req-{r:05d}-ü"
        mids = [f"i-{r:05d}{m:04d}" for m in range(per_request)][: machines - r * per_request]
        requests[rid] = {
            "request_id": rid,
            "template_id": ids[r % 3],
            "request_type": "acquire" if r % 4 else "return",
            "machine_count": len(mids),
            "requested_count": len(mids),
            "desired_capacity": len(mids),
            "status": list(RequestStatus)[r % len(RequestStatus)].value,
            "status_message": rng.choice([*ODD_TEXT, None]),
            "message": None,
            "machine_ids": mids,
            "resource_ids": [] if r % 2 else [f"fleet-{r}"],
            "metadata": {} if r % 3 else {"deep": _nested(3, 3, rng)},
            "error_details": {"why": ODD_TEXT[r % 7]} if r % 5 == 0 else {},
            "provider_data": None,
            "created_at": forms[r % 3],
            "started_at": None,
            "partial_since": forms[(r + 1) % 3],
            "fulfilment_diagnostic": {"checks": [ODD_TEXT[r % 7]] * 3},
            "timeout": r,
            "error_message": None,
            "version": r % 3,
            "schema_version": "2.0.0",
        }
        for n, mid in enumerate(mids):
            all_machines[mid] = {
                "machine_id": mid,
                "name": f"host-{n}-{ODD_TEXT[n % 7]}",
                "request_id": rid,
                "template_id": ids[r % 3],
                "return_request_id": None,
                "status": list(MachineStatus)[n % len(MachineStatus)].value,
                "private_ip": f"10.0.{r % 250}.{n}",
                "public_ip": None,
                "security_group_ids": [] if n % 2 else ["sg-1", "sg-2"],
                "launch_time": forms[n % 3] if n % 4 else None,
                "tags": {"Name": f"host-{n}", "ünï": ODD_TEXT[n % 7]},
                "metadata": {"attempt": n, "ratio": n / 7} if n % 3 else None,
                "provider_data": {"az": "us-east-1a"},
                "created_at": forms[n % 3],
                "updated_at": None,
                "version": 0,
                "schema_version": "2.0.0",
            }
    return {"templates": templates, "requests": requests, "machines": all_machines}


async def _through(store: Any, source: Path, out: Path) -> dict[str, Any]:
    report = await import_file(store, source, "orb-json")
    assert not report.skipped
    await export_store(store, out, "orb-json")
    document: dict[str, Any] = load(out)
    return document


async def test_fixture_through_the_store(fresh_store: StoreFactory, tmp_path: Path) -> None:
    store = await fresh_store()
    exported = await _through(store, FIXTURE_FILE, tmp_path / "back.json")
    assert_orb_equal(load(FIXTURE_FILE), exported)


async def test_generated_unusual_file(
    fresh_store: StoreFactory, tmp_path: Path, backend: str
) -> None:
    document = make_orb_document(2000 if backend != "memory" else 3000)
    source = tmp_path / "request_database.json"
    source.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    store = await fresh_store()
    exported = await _through(store, source, tmp_path / "back.json")
    assert_orb_equal(document, exported)


async def test_split_layout_both_ways(fresh_store: StoreFactory, tmp_path: Path) -> None:
    document = load(FIXTURE_FILE)
    folder = tmp_path / "split"
    folder.mkdir()
    for section, records in document.items():
        (folder / f"{section}.json").write_text(json.dumps({section: records}))
    store = await fresh_store()
    await import_file(store, folder, "orb-json")
    out = tmp_path / "out"
    await export_store(store, out, "orb-json", split=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "machines.json",
        "requests.json",
        "templates.json",
    ]
    exported = {}
    for part in out.iterdir():
        exported.update(load(part))
    assert_orb_equal(document, exported)


async def test_changes_made_after_import_are_exported(
    fresh_store: StoreFactory, tmp_path: Path
) -> None:
    store = await fresh_store()
    document = load(FIXTURE_FILE)
    await import_file(store, FIXTURE_FILE, "orb-json")
    machine_id = next(
        k for k, m in document["machines"].items() if m["status"] in ("pending", "launching")
    )
    assert await store.machines.update_status(machine_id, "running", "up")
    exported = await _through_export(store, tmp_path / "after.json")
    changed = exported["machines"].pop(machine_id)
    original = document["machines"].pop(machine_id)
    assert changed["status"] == "running" and changed["status_reason"] == "up"
    assert changed["version"] == original["version"] + 1
    assert changed["updated_at"] is not None
    assert_orb_equal(document, exported)  # everything else exactly as ORB wrote it


async def _through_export(store: Any, out: Path) -> dict[str, Any]:
    await export_store(store, out, "orb-json")
    document: dict[str, Any] = load(out)
    return document
