"""What several benchmarks share: quantiles, the load average, throwaway databases, the
goal lines they print and the CPU a local PostgreSQL server spends."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ServerCpu", "database", "loadavg", "percentile", "print_goals"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages ([] where the platform has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return []


@contextlib.contextmanager
def database(backend: str, workdir: Path, name: str, pg_base: str | None) -> Iterator[str]:
    """A new database URL: a SQLite file in ``workdir`` (deleted after) or a fresh
    PostgreSQL database on the server ``pg_base`` (dropped after)."""
    if backend == "sqlite":
        path = workdir / f"{name}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    from tests.harness.postgres import fresh_database

    assert pg_base is not None
    with fresh_database(pg_base) as url:
        yield url


def print_goals(console: Any, goals: Mapping[str, Mapping[str, Any]]) -> None:
    """One line a goal: its value, the goal, and whether it was met."""
    for goal, g in goals.items():
        console.print(f"goal {goal}: {g['value']:,} (goal {g['goal']:,}) "
                      f"{'met' if g['met'] else 'NOT met'}")


class ServerCpu:
    """CPU seconds of the PostgreSQL backends of one database, read from ``/proc``.

    Only when the server is a process on this machine (a backend's pid must be a
    ``postgres`` process here); otherwise :meth:`snapshot` gives nothing and the
    figure is reported as null.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.local = urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _cpu(self, pid: int) -> float | None:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().startswith("postgres"):
                    return None
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self._tick

    def snapshot(self) -> dict[int, float] | None:
        if not self.local:
            return None
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()").fetchall()
        cpu = {int(pid): self._cpu(int(pid)) for (pid,) in rows}
        if not cpu or any(v is None for v in cpu.values()):
            return None
        return {pid: v for pid, v in cpu.items() if v is not None}

    @staticmethod
    def used(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        if before is None or after is None:
            return None
        return sum(v - before.get(pid, 0.0) for pid, v in after.items())
