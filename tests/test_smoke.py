from ohf_persistence import Machine, Store


async def test_save_and_read_back(store: Store) -> None:
    machine = Machine("i-smoke", request_id="req-1")
    await store.machines.save(machine)
    assert machine.version == 1
    loaded = await store.machines.get_by_id("i-smoke")
    assert loaded == machine
