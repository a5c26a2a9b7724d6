"""What several benchmarks share: quantiles, the load average, throwaway databases and
the goal lines they print."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["database", "loadavg", "percentile", "print_goals"]


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
