"""Import semantics on every backend: lossless JSON Lines, all-or-nothing refusal, skip,
merge by version, and the undo journal used where a run spans several transactions."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import Machine, PersistenceError, Request, Template
from ohf_persistence.interop import (
    ImportConflict,
    ImportRefused,
    SourceError,
    export_store,
    import_file,
)
from tests.test_interop_support import (
    FIXTURE_FILE,
    StoreFactory,
    load,
    store_backends,
)

on_backends = pytest.mark.parametrize("backend", store_backends())


async def _populate(store: Any) -> None:
    """Entities with histories: versions above 1, changed statuses, unicode."""
    await store.templates.save(Template("tpl-ü", max_number=3, configuration={"x": [1, 2.5]}))
    request = Request.new("acquire", template_id="tpl-ü", requested_count=3)
    await store.requests.save(request)
    machines = [
        Machine(f"i-{n:03d}", request_id=request.request_id, tags={"n": n}) for n in range(30)
    ]
    await store.machines.save_many(machines)
    for n in range(0, 30, 3):
        await store.machines.update_status(f"i-{n:03d}", "running", "ok ✓")
    await store.requests.update_status(request.request_id, "in_progress")
    await store.requests.update_status(request.request_id, "complete", "done")


async def _jsonl(store: Any, path: Path) -> str:
    await export_store(store, path, "jsonl")
    return await asyncio.to_thread(path.read_text, encoding="utf-8")


@on_backends
async def test_jsonl_is_lossless_versions_and_timestamps_included(
    fresh_store: StoreFactory, tmp_path: Path
) -> None:
    source = await fresh_store()
    await _populate(source)
    first = await _jsonl(source, tmp_path / "a.jsonl")
    target = await fresh_store()
    report = await import_file(target, tmp_path / "a.jsonl", "jsonl")
    assert dict(report.stats.inserted) == {"template": 1, "request": 1, "machine": 30}
    assert await _jsonl(target, tmp_path / "b.jsonl") == first
    machine = await target.machines.get_by_id("i-003")
    assert machine is not None and machine.version == 2 and machine.status_reason == "ok ✓"
    # the stored version is a real one: the next save is checked against it
    machine.status_reason = "again"
    await target.machines.save(machine)
    assert machine.version == 3


@on_backends
async def test_second_import_is_refused_then_merged(
    fresh_store: StoreFactory, tmp_path: Path
) -> None:
    store = await fresh_store()
    await import_file(store, FIXTURE_FILE, "orb-json")
    before = await _jsonl(store, tmp_path / "before.jsonl")
    with pytest.raises(ImportConflict, match="already exist"):
        await import_file(store, FIXTURE_FILE, "orb-json")
    assert await _jsonl(store, tmp_path / "after.jsonl") == before
    report = await import_file(store, FIXTURE_FILE, "orb-json", merge=True)
    assert sum(report.stats.unchanged.values()) == 42
    assert not report.stats.inserted and not report.stats.updated
    assert await _jsonl(store, tmp_path / "merged.jsonl") == before


@on_backends
async def test_orb_merge_updates_what_changed_and_keeps_local_changes(
    fresh_store: StoreFactory, tmp_path: Path
) -> None:
    store = await fresh_store()
    document = load(FIXTURE_FILE)
    await import_file(store, FIXTURE_FILE, "orb-json")
    machine_ids = list(document["machines"])
    await store.machines.update_status(machine_ids[0], "failed", "changed here")
    document["machines"][machine_ids[0]]["status_reason"] = "changed in ORB"
    document["machines"][machine_ids[1]]["status_reason"] = "changed in ORB"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(document))
    report = await import_file(store, changed, "orb-json", merge=True)
    assert report.stats.updated == {"machine": 1}
    assert [(k, key) for k, key, _ in report.stats.kept] == [("machine", machine_ids[0])]
    kept = await store.machines.get_by_id(machine_ids[0])
    updated = await store.machines.get_by_id(machine_ids[1])
    assert kept is not None and kept.status_reason == "changed here"
    assert updated is not None and updated.status_reason == "changed in ORB"
    await export_store(store, tmp_path / "out.json", "orb-json")
    assert (
        load(tmp_path / "out.json")["machines"][machine_ids[1]]
        == document["machines"][machine_ids[1]]
    )


@on_backends
async def test_jsonl_merge_respects_versions(fresh_store: StoreFactory, tmp_path: Path) -> None:
    source = await fresh_store()
    await _populate(source)
    await _jsonl(source, tmp_path / "v1.jsonl")
    target = await fresh_store()
    await import_file(target, tmp_path / "v1.jsonl", "jsonl")
    await source.machines.update_status("i-001", "running")  # newer in the file
    await target.machines.update_status("i-002", "stopped")  # newer in the target
    await _jsonl(source, tmp_path / "v2.jsonl")
    report = await import_file(target, tmp_path / "v2.jsonl", "jsonl", merge=True)
    assert report.stats.updated == {"machine": 1}
    assert [(key, why) for _, key, why in report.stats.kept] == [("i-002", "target is newer")]
    one, two = await target.machines.get_by_instance_ids(["i-001", "i-002"])
    assert one.status == "running" and two.status == "stopped"


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str, str]]:
    """name -> (path, format, expected message fragment) of malformed inputs."""
    document = load(FIXTURE_FILE)
    out: dict[str, tuple[Path, str, str]] = {}
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps(document)[:-40])
    out["bad json"] = (bad_json, "orb-json", "not valid JSON")
    for name, section, change, message in [
        ("missing key", "machines", lambda r: r.pop("machine_id"), "has no 'machine_id'"),
        ("wrong type", "templates", lambda r: r.update(max_instances="ten"), "must be an int"),
        ("unknown status", "requests", lambda r: r.update(status="exploded"), "not one of"),
    ]:
        doc = json.loads(json.dumps(document))
        key = list(doc[section])[-1]  # the last record: earlier ones are valid
        change(doc[section][key])
        path = tmp_path / f"{name.replace(' ', '_')}.json"
        path.write_text(json.dumps(doc))
        out[name] = (path, "orb-json", message)
    return out


@on_backends
@pytest.mark.parametrize("case", ["bad json", "missing key", "wrong type", "unknown status"])
async def test_malformed_input_leaves_the_target_unchanged(
    fresh_store: StoreFactory, tmp_path: Path, case: str
) -> None:
    store = await fresh_store()
    await _populate(store)
    before = await _jsonl(store, tmp_path / "before.jsonl")
    path, fmt, message = _bad_files(tmp_path)[case]
    with pytest.raises((ImportRefused, SourceError), match=message):
        await import_file(store, path, fmt)
    assert await _jsonl(store, tmp_path / "after.jsonl") == before


@on_backends
async def test_skip_invalid_imports_the_rest_and_names_each_skipped(
    fresh_store: StoreFactory, tmp_path: Path
) -> None:
    store = await fresh_store()
    source = await fresh_store()
    await _populate(source)
    text = await _jsonl(source, tmp_path / "good.jsonl")
    lines = text.splitlines()
    lines[3] = lines[3][:20]  # bad JSON
    record = json.loads(lines[4])
    record["data"]["status"] = "exploded"
    lines[4] = json.dumps(record)
    lines.append(lines[5])  # a duplicate id
    (tmp_path / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRefused) as refused:
        await import_file(store, tmp_path / "mixed.jsonl", "jsonl")
    assert len(refused.value.problems) == 3
    assert await store.machines.count() == 0
    report = await import_file(store, tmp_path / "mixed.jsonl", "jsonl", skip_invalid=True)
    reasons = {(p.where, p.key): p.reason for p in report.skipped}
    assert ("line 4", None) in reasons and "not valid JSON" in reasons[("line 4", None)]
    assert "not one of" in reasons[("line 5", record["id"])]
    assert any(r == "duplicate id" for r in reasons.values())
    assert await store.machines.count() == 28
    assert await store.requests.count() == 1


@on_backends
async def test_failure_midway_writes_nothing(
    fresh_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """A write error after some batches went in: the target ends as it was (one transaction
    on memory/SQL; the undo journal on DynamoDB, and on memory posing as DynamoDB below)."""
    from ohf_persistence.interop import writer as writer_module

    source = await fresh_store()
    await source.machines.save_many([Machine(f"i-{n:05d}", metadata={"n": n}) for n in range(1200)])
    await _jsonl(source, tmp_path / "many.jsonl")
    store = await fresh_store()
    await _populate(store)
    before = await _jsonl(store, tmp_path / "before.jsonl")
    real_save = writer_module.Writer._save
    calls = {"n": 0}

    async def failing_save(self: Any, uow: Any, cls: Any, steps: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise PersistenceError("disk full (injected)")
        await real_save(self, uow, cls, steps)

    monkeypatch.setattr(writer_module.Writer, "_save", failing_save)
    with pytest.raises(PersistenceError, match="injected"):
        await import_file(store, tmp_path / "many.jsonl", "jsonl")
    assert calls["n"] == 3
    assert await _jsonl(store, tmp_path / "after.jsonl") == before


async def test_undo_journal_on_multi_transaction_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DynamoDB code path (batches committed one by one, undone on failure), including
    merge updates put back with their old version, on memory posing as DynamoDB (the real
    DynamoDB runs test_failure_midway_writes_nothing)."""
    from ohf_persistence import open_store
    from ohf_persistence.interop import writer as writer_module

    source, store = await open_store("memory://"), await open_store("memory://")
    await _populate(source)
    for n in range(30, 400):
        await source.machines.save(Machine(f"i-{n:03d}"))
    await source.machines.update_status("i-004", "running")
    await _jsonl(source, tmp_path / "many.jsonl")
    await _populate(store)
    before = await _jsonl(store, tmp_path / "before.jsonl")
    monkeypatch.setattr(store, "write_limit", 100)  # DynamoDB's units of at most 100 writes
    real = writer_module.Writer._write_committed
    calls = {"n": 0}

    async def failing(self: Any, cls: Any, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise PersistenceError("throttled (injected)")
        await real(self, cls, batch)

    monkeypatch.setattr(writer_module.Writer, "_write_committed", failing)
    with pytest.raises(PersistenceError, match="injected"):
        await import_file(store, tmp_path / "many.jsonl", "jsonl", merge=True)
    monkeypatch.setattr(store, "write_limit", None)
    assert await _jsonl(store, tmp_path / "after.jsonl") == before
