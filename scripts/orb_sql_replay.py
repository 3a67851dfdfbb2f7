"""The floor under an ORB save on ``ohf`` (SQLite): the same statements on a bare connection.

    python scripts/orb_sql_replay.py [N]      # default 1000; three rounds

Each round saves N new requests through ORB's repository, one ORB unit of work per save, on
the bench's ``dict`` strategy and on ``ohf`` (a fresh SQLite file), recording every statement
``ohf`` sent; then replays exactly those statements and parameters on a stdlib ``sqlite3``
connection to a fresh migrated file with the PRAGMAs ``ohf`` uses, once with SQLite's
automatic checkpoints and once without. ``dict / (dict + replay)`` is the ratio a bridge that
cost nothing at all would reach. Needs the ``orb`` extra.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ohf_persistence import sync
from ohf_persistence.adapters.sql import driver
from ohf_persistence.orb import bench

PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000", "foreign_keys=ON")
sent: list[tuple[str, tuple[Any, ...]]] = []
_changed = driver.DirectSqliteConnection._changed


async def recording(self: Any, sql: str, params: Sequence[Any]) -> int:
    sent.append((sql, tuple(params)))
    return await _changed(self, sql, params)


def per_save(factory: Any, requests: list[Any]) -> float:
    started = time.perf_counter()
    for request in requests:
        with factory.create_unit_of_work() as uow:
            uow.requests.save(request)
    return (time.perf_counter() - started) / len(requests)


def replay(path: Path, statements: list[tuple[str, tuple[Any, ...]]], checkpoints: bool) -> float:
    sync.open_store(f"sqlite+aiosqlite:///{path}", migrate=True).close()
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS if checkpoints else (*PRAGMAS, "wal_autocheckpoint=0"):
        conn.execute(f"PRAGMA {pragma}")
    started = time.perf_counter()
    for sql, params in statements:
        conn.execute(sql, params)
    seconds = time.perf_counter() - started
    conn.close()
    return seconds / len(statements)


def main(n: int) -> None:
    driver.DirectSqliteConnection._changed = recording  # type: ignore[method-assign]
    for round_ in range(1, 4):
        with tempfile.TemporaryDirectory(prefix="ohf-orb-replay-") as tmp:
            work = Path(tmp)
            configs = bench.storage_configs(work, [])
            floor = bench.orb_uow_factory(configs["dict"])
            ohf = bench.orb_uow_factory(configs["ohf-sqlite"])
            per_save(floor, bench.new_requests(100))  # warm-up, as the bench does
            per_save(ohf, bench.new_requests(100))
            dict_s = per_save(floor, bench.new_requests(n))
            sent.clear()
            ohf_s = per_save(ohf, bench.new_requests(n))
            statements = list(sent)
            raw = replay(work / "replay.db", statements, checkpoints=True)
            raw_off = replay(work / "replay-off.db", statements, checkpoints=False)
        print(
            f"round {round_}: per save dict {dict_s * 1e6:.0f} us, ohf {ohf_s * 1e6:.0f} us "
            f"(ratio {dict_s / ohf_s:.2f}); {len(statements)} statements replayed on sqlite3: "
            f"{raw * 1e6:.0f} us -> zero-cost bridge {dict_s / (dict_s + raw):.2f}; without "
            f"automatic checkpoints {raw_off * 1e6:.0f} us -> {dict_s / (dict_s + raw_off):.2f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
