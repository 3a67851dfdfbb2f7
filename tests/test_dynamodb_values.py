"""DynamoDB: how values are stored (exact encodings) and read back; retried BatchGetItem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ohf_persistence import Machine, Template
from ohf_persistence.adapters.dynamodb import DynamoStore
from ohf_persistence.testing import make_machine, make_template
from tests.backends.dynamodb import CallLog, dynamodb_store, moto_endpoint  # noqa: F401


async def _raw(store: DynamoStore, table: str, key: dict[str, Any]) -> dict[str, Any]:
    response = await store.dynamo.call(
        "raw GetItem",
        lambda: store.client.get_item(TableName=table, Key=key, ConsistentRead=True),
    )
    item: dict[str, Any] = response["Item"]
    return item


async def test_stored_encoding(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    store = dynamodb_store
    launched = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    await store.machines.save(make_machine("i-1", launch_time=launched, tags={"n": 1.0}))
    await store.templates.save(make_template("tpl-1"))
    item = await _raw(store, store.settings.machines_table, {"machine_id": {"S": "i-1"}})
    assert item["launch_time"] == {"S": "2026-01-02T03:04:05.000006Z"}
    assert item["tags"] == {"S": '{"n":1.0}'}
    assert item["security_group_ids"] == {"S": '["sg-1"]'}
    assert item["version"] == {"N": "1"}
    assert item["status"] == {"S": "pending"}
    assert item["ohf_kind"] == {"S": "Machine"}
    assert "return_request_id" not in item and "public_ip" not in item  # None: absent
    template = await _raw(store, store.settings.templates_table, {"template_id": {"S": "tpl-1"}})
    assert template["is_active"] == {"BOOL": True}


async def test_exact_round_trip_and_ordered_comparisons(
    dynamodb_store: DynamoStore,  # noqa: F811
) -> None:
    store = dynamodb_store
    values = {
        "float": 1.0,
        "big": 2**63 - 1,
        "small": -(2**63),
        "tiny": 5e-324,
        "text": "日本語 🚀 \u2028",
        "deep": [[[[{"a": [None, True, 0.1]}]]]],
    }
    early = datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)  # four-digit year, padded
    await store.machines.save_many(
        [
            make_machine("i-early", launch_time=early, metadata=values),
            make_machine("i-late", launch_time=datetime(2030, 1, 1, tzinfo=UTC)),
        ]
    )
    found = await store.machines.get_by_id("i-early")
    assert found is not None and found.metadata == values
    assert isinstance(found.metadata["float"], float) and isinstance(found.metadata["big"], int)
    assert found.launch_time == early
    before_2000 = await store.machines.get_all({"launch_time_lt": datetime(2000, 1, 1)})
    assert [m.machine_id for m in before_2000] == ["i-early"]
    assert await store.machines.count({"launch_time_gte": early}) == 2


async def test_unprocessed_keys_are_retried(
    dynamodb_store: DynamoStore,  # noqa: F811
    monkeypatch: Any,
) -> None:
    store = dynamodb_store
    await store.machines.save_many([make_machine(f"i-{n:02d}") for n in range(30)])
    connection = store.dynamo.connection(Machine)
    real = connection.dispatch
    throttled = {"times": 2}

    def dispatch(operation: str, kwargs: dict[str, Any]) -> Any:
        if operation != "BatchGetItem" or not throttled["times"]:
            return real(operation, kwargs)
        throttled["times"] -= 1
        ((table, request),) = kwargs["RequestItems"].items()
        keys = request["Keys"]
        served = real(operation, {"RequestItems": {table: {**request, "Keys": keys[:5]}}})
        served["UnprocessedKeys"] = {table: {**request, "Keys": keys[5:]}}
        return served

    monkeypatch.setattr(connection, "dispatch", dispatch)
    log = CallLog(store)
    wanted = [f"i-{n:02d}" for n in range(30)]
    found = await store.machines.get_by_instance_ids(wanted)
    assert [m.machine_id for m in found] == wanted
    assert log.calls == ["BatchGetItem"] * 3
    log.close()


async def test_models_are_per_store(dynamodb_store: DynamoStore) -> None:  # noqa: F811
    model = dynamodb_store.dynamo.models[Template].model
    assert model.Meta.table_name == dynamodb_store.settings.templates_table
    assert model.Meta.host == dynamodb_store.settings.endpoint_url
