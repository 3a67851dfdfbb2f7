"""``copy`` between stores: bounded pages, refusal of a non-empty target, resuming with merge,
and the SQLite -> PostgreSQL -> DynamoDB -> SQLite chain ending with identical exports."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from ohf_persistence import Machine, PersistenceError, Request, Template, open_store
from ohf_persistence.interop import TargetNotEmpty, copy_store, export_store, import_file
from tests.test_interop_support import UrlFactory, persistent_backends
from tests.test_orb_roundtrip import make_orb_document


async def _seed(store: Any, machines: int, tmp_path: Path) -> None:
    """ORB-imported data plus native entities with histories (versions above 1)."""
    source = tmp_path / "orb.json"
    document = make_orb_document(machines // 2, seed=3)
    await asyncio.to_thread(source.write_text, json.dumps(document), encoding="utf-8")
    await import_file(store, source, "orb-json")
    await store.templates.save(Template("native-tpl", attributes={"ncpus": ["Numeric", "2"]}))
    requests = [Request.new("acquire", template_id="native-tpl") for _ in range(20)]
    await store.requests.save_many(requests)
    natives = [
        Machine(f"i-native{n:05d}", request_id=requests[n % 20].request_id, tags={"n": n})
        for n in range(machines - machines // 2)
    ]
    await store.machines.save_many(natives)
    for machine in natives[::50]:
        await store.machines.update_status(machine.machine_id, "running", "up")


async def _export(store: Any, path: Path) -> str:
    await export_store(store, path, "jsonl")
    return await asyncio.to_thread(path.read_text, encoding="utf-8")


async def test_copy_refuses_non_empty_target_and_resumes_with_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ohf_persistence.interop import writer as writer_module

    source, target = await open_store("memory://"), await open_store("memory://")
    await _seed(source, 1200, tmp_path)
    real = writer_module.Writer._write_committed
    calls = {"n": 0}

    async def failing(self: Any, cls: Any, batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # templates, requests, two pages of machines, then a failure
            raise PersistenceError("connection lost (injected)")
        await real(self, cls, batch)

    monkeypatch.setattr(writer_module.Writer, "_write_committed", failing)
    with pytest.raises(PersistenceError, match="injected"):
        await copy_store(source, target, page_size=200)
    monkeypatch.undo()
    assert 0 < await target.machines.count() < await source.machines.count()
    with pytest.raises(TargetNotEmpty, match="--merge"):
        await copy_store(source, target)
    result = await copy_store(source, target, merge=True, page_size=200)
    assert sum(result["unchanged"].values()) > 0 and not result["kept"]
    assert await _export(target, tmp_path / "t.jsonl") == await _export(
        source, tmp_path / "s.jsonl"
    )


async def test_copy_holds_one_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ohf_persistence.interop import copy as copy_module

    source, target = await open_store("memory://"), await open_store("memory://")
    await _seed(source, 600, tmp_path)
    sizes: list[int] = []
    real = copy_module.Writer.write

    async def spy(self: Any, cls: Any, batch: Any) -> None:
        sizes.append(len(batch))
        await real(self, cls, batch)

    monkeypatch.setattr(copy_module.Writer, "write", spy)
    await copy_store(source, target, page_size=64)
    assert (
        max(sizes) <= 64
        and sum(sizes)
        == await source.machines.count()
        + await source.requests.count()
        + await source.templates.count()
    )


@pytest.mark.skipif(
    not {"sqlite", "postgres", "dynamodb"} <= set(persistent_backends()),
    reason="needs the SQLite, PostgreSQL and DynamoDB backends",
)
async def test_chain_sqlite_postgres_dynamodb_sqlite(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    factories: dict[str, UrlFactory] = {
        name: request.getfixturevalue(f"{name}_url_factory")
        for name in ("sqlite", "postgres", "dynamodb")
    }
    chain = [
        await factories["sqlite"](),
        await factories["postgres"](),
        await factories["dynamodb"](),
        await factories["sqlite"](),
    ]
    async with open_store(chain[0]) as first:
        await _seed(first, 2000, tmp_path)
        expected = await _export(first, tmp_path / "0.jsonl")
    for step, (src, dst) in enumerate(itertools.pairwise(chain), 1):
        async with open_store(src) as source, open_store(dst) as target:
            result = await asyncio.wait_for(copy_store(source, target, page_size=500), 300)
            assert sum(result["inserted"].values()) == expected.count("\n") - 1
            assert await _export(target, tmp_path / f"{step}.jsonl") == expected, step
