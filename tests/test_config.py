"""open_store's configuration errors: one clear ConfigError, never a driver traceback."""

import sys

import pytest

from ohf_persistence import ConfigError, open_store
from ohf_persistence.config import resolve_config


@pytest.mark.parametrize(
    ("url", "driver", "extra"),
    [
        ("postgresql+asyncpg://bob:s3cret@127.0.0.1:1/x", "asyncpg", "postgres"),
        ("dynamodb://?region=us-east-1&endpoint_url=http://127.0.0.1:1", "pynamodb", "dynamodb"),
    ],
)
async def test_a_missing_driver_is_a_config_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, url: str, driver: str, extra: str
) -> None:
    for name in [m for m in sys.modules if m == driver or m.startswith(driver + ".")] + [driver]:
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    for name in [m for m in sys.modules if m.startswith("ohf_persistence.adapters.dynamodb")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    assert f"ohf-persistence[{extra}]" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "config",
    ["mysql://x", "nonsense", "sqlite://relative.db", {"storage": {"type": "redis"}}, 42],
)
def test_unsupported_configs_list_what_is_supported(config: object) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_config(config)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "memory" in message or "sqlite" in message.lower() or "URL or a dict" in message


def test_environment_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OHF_STORAGE_URL", raising=False)
    assert resolve_config().url == "sqlite+aiosqlite:///ohf.db"
    monkeypatch.setenv("OHF_STORAGE_URL", "memory://")
    assert resolve_config().backend == "memory"
    seed = {"storage": {"type": "dynamodb", "dynamodb": {"region": "eu-west-1"}}}
    assert resolve_config(seed).options == {"region": "eu-west-1"}
