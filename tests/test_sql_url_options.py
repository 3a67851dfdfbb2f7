"""SQL URL options and error messages (hostile review round 3, §1, §5, §7 — SQL side).

Unknown, repeated or misplaced URL options are a one-line ConfigError on SQLite and PostgreSQL
(as on DynamoDB), an empty SQLite path is refused (it used to be a throw-away in-memory
database), and a short password never garbles a driver message.
"""

from __future__ import annotations

import pytest

from ohf_persistence import ConfigError, open_store
from ohf_persistence.adapters.sql.errors import ErrorTranslator


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql+asyncpg://u@127.0.0.1:1/db?bogus=1", "unknown postgresql URL option 'bogus'"),
        ("postgresql+asyncpg://u@127.0.0.1:1/db?timeout=1&timeout=99", "given 2 times"),
        ("sqlite+aiosqlite:///x.db?mode=ro", "unknown sqlite URL option 'mode'"),
        ("sqlite+aiosqlite:///", "no SQLite path"),
        ("sqlite+aiosqlite:///?foo=bar", "unknown sqlite URL option 'foo'"),
    ],
)
async def test_bad_sql_url_options_are_config_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    assert says in str(caught.value)


@pytest.mark.parametrize("password", ["e", "1", "a@b", "pw", "s3cr3t-pw"])
def test_a_password_never_garbles_a_driver_message(password: str) -> None:
    url = f"postgresql+asyncpg://u:{password}@127.0.0.1:1/x"
    cause = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    message = str(ErrorTranslator("postgresql", url).translate(cause))
    assert "ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)" in message
    assert f":{password}@" not in message


def test_a_long_password_repeated_by_a_driver_is_taken_out() -> None:
    url = "postgresql+asyncpg://u:s3cr3t-pw@127.0.0.1:1/x"
    cause = OSError("could not use password s3cr3t-pw for u")
    message = str(ErrorTranslator("postgresql", url).translate(cause))
    assert "s3cr3t-pw" not in message and "could not use password *** for u" in message


async def test_an_unreachable_postgres_names_itself_masked() -> None:
    from ohf_persistence import BackendUnavailable

    url = "postgresql+asyncpg://u:s3cr3t-pw@127.0.0.1:1/x"
    with pytest.raises(BackendUnavailable) as caught:
        await open_store(url)
    message = str(caught.value)
    assert "postgresql at postgresql+asyncpg://u:***@127.0.0.1:1/x" in message
    assert "s3cr3t-pw" not in message and not message.rstrip(")").endswith(":")
