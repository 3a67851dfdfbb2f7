"""CPU time of one side of a comparison: this process, plus on PostgreSQL its server backends.

Wall time on a machine shared with other busy processes says more about the scheduler than
about the code: a 5 ms slice of calls can take 100 ms when the process waits for a core. Time
on CPU does not include that wait. With SQLite every instruction of a call runs in this process
(the aiosqlite thread included), so the process's CPU time is the work; with PostgreSQL the
server's backend processes do part of it, so their CPU time is added (read from
``/proc/<pid>/schedstat``, in nanoseconds; the server must run on this machine). What CPU time
leaves out is idle waiting: a thread hop's wake-up latency on an idle core, a commit's fsync.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Meter = Callable[[], float]


def process_cpu() -> float:
    return time.process_time()


def _schedstat_seconds(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/schedstat").read_text()
    except OSError:
        return 0.0  # the backend is gone: its last reading no longer grows
    return int(text.split()[0]) / 1e9


def with_backends(pids: Callable[[], Iterable[int]]) -> Meter:
    """This process's CPU plus that of the PostgreSQL backends ``pids()`` names."""

    def meter() -> float:
        return time.process_time() + sum(_schedstat_seconds(pid) for pid in pids())

    return meter


def _socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def local_ports(server_port: int) -> list[int]:
    """Local TCP ports of this process's connections to ``server_port``."""
    inodes = _socket_inodes()
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                ports.append(int(local.rsplit(":", 1)[1], 16))
    return ports


class Backends:
    """The server backends serving this process's PostgreSQL connections, split into the raw
    baseline's own connection and all others (the store's)."""

    def __init__(self, conn: Any, server_port: int) -> None:
        self._conn = conn  # the raw baseline's asyncpg connection (used to ask the server)
        self._port = server_port
        self.raw: list[int] = []
        self.ours: list[int] = []

    async def refresh(self) -> None:
        raw_pid = int(await self._conn.fetchval("SELECT pg_backend_pid()"))
        rows = await self._conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])",
            local_ports(self._port),
        )
        self.raw = [raw_pid]
        self.ours = [int(r["pid"]) for r in rows if int(r["pid"]) != raw_pid]


def backends_visible(pids: Iterable[int]) -> bool:
    """Whether the server's backend processes can be read here (a server on this machine)."""
    return all(Path(f"/proc/{pid}/schedstat").exists() for pid in pids)
