"""End-to-end fixtures: a real Kafka-protocol broker, real PostgreSQL, real workers.

The broker is the one named by ``LIFECYCLE_TEST_KAFKA_BOOTSTRAP`` or a throwaway Tansu
broker (``tests/harness/kafka.py``); workers are ``python -m lifecycle worker``
subprocesses. Every test gets its own database and topic prefix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.harness.kafka import kafka_broker
from tests.harness.workers import assigned

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    with kafka_broker() as bootstrap:
        yield bootstrap


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc; [] where there is none)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Cluster:
    """One test's distributed deployment: env, workers, and ways to watch them."""

    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopped: set[int] = field(default_factory=set)  # pids stopped on purpose

    def start_worker(self, loglevel: str = "warning") -> subprocess.Popen[bytes]:
        n = len(self.workers)
        with (self.logs / f"worker{n}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lifecycle", "worker", "--loglevel", loglevel],
                cwd=self.logs, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> list[int]:
        """SIGKILLs the worker process alone (as ``kill -9 PID`` or the OOM killer would,
        not its process group), and waits until the processes it had started — its
        engine — are gone too. Returns their pids (Linux; elsewhere none are looked for).
        """
        children = child_pids(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [pid for pid in children if alive(pid)]
        assert not left, f"processes of the killed worker still run: {left}"
        return children

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        """Stops a worker with SIGTERM (a clean shutdown); returns its exit code."""
        self.stopped.add(proc.pid)
        os.kill(proc.pid, signal.SIGTERM)
        return proc.wait(timeout=60)

    def assigned_touchpoints(self, n: int) -> bool:
        """Whether worker ``n`` (started with loglevel info) was last assigned partitions
        of ``touchpoints``."""
        text = (self.logs / f"worker{n}.log").read_text(errors="replace")
        return assigned(text, self.env["LIFECYCLE_TOPIC_PREFIX"] + "touchpoints")

    def stop_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (subprocess.TimeoutExpired, ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=20)

    def logs_tail(self) -> str:
        parts = []
        for path in sorted(self.logs.glob("worker*.log")):
            lines = path.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.env["LIFECYCLE_DATABASE_URL"], autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def wait_until(self, check: Callable[[], bool], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.workers:
                code = proc.poll()
                if code is not None and code != -signal.SIGKILL and proc.pid not in self.stopped:
                    raise AssertionError(f"a worker exited with {code}\n{self.logs_tail()}")
            try:
                if check():
                    return
            except psycopg.errors.UndefinedTable:
                pass
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n"
                             f"{self.logs_tail()}")


@pytest.fixture
def cluster(kafka_bootstrap: str, pg_database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    env.update({
        "LIFECYCLE_MODE": "distributed",
        "LIFECYCLE_DATABASE_URL": pg_database_url,
        "LIFECYCLE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LIFECYCLE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
        "LIFECYCLE_PARTITIONS": "4",
        "LIFECYCLE_WORKER_WEB_PORT": "0",
        "LIFECYCLE_POLICY_INTERVAL": "86400",
        "PYTHONPATH": str(ROOT),
    })
    c = Cluster(env=env, logs=tmp_path)
    try:
        yield c
    finally:
        c.stop_all()
