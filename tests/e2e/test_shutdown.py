"""Graceful shutdown under load: workers stopped with SIGTERM while inputs flow, again
and again, exit 0 and leave exact answers.

A worker told to stop drains (the batch in flight commits and is acknowledged, nothing
new is taken) before its engine stops. It used to stop the engine's executor first: the
in-flight batch failed with ``cannot schedule new futures after shutdown`` and the
worker exited 1 (an intermittent failure of the join-and-leave test on a loaded machine).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from demo import generate
from tests.e2e.conftest import Cluster
from tests.e2e.test_distributed import (
    assert_same,
    consistently_keyed,
    distributed_state,
    embedded_expected,
    processed_offsets,
    publish,
    wait_for_same_answers,
    write_jsonl,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _stop(cluster: Cluster, proc: subprocess.Popen[bytes], *, group: bool) -> int:
    """SIGTERM to the worker alone (docker, Kubernetes) or to its whole process group
    (systemd, a shell's job control: the engine process gets it too)."""
    cluster.stopped.add(proc.pid)
    if group:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    return proc.wait(timeout=90)


def _processed(cluster: Cluster) -> int:
    try:
        return processed_offsets(cluster)
    except psycopg.errors.UndefinedTable:  # no worker has started yet
        return 0


def _publish(cluster: Cluster, path: Path, failures: list[BaseException]) -> None:
    try:
        publish(cluster, path)
    except BaseException as e:  # reported by the test's thread
        failures.append(e)


def test_workers_stopped_under_load_exit_0_and_leave_the_embedded_answers(
        cluster: Cluster, tmp_path: Path) -> None:
    items = consistently_keyed(generate(leads=300, days=90, seed=13))
    expected = embedded_expected(write_jsonl(tmp_path / "in.jsonl", items), tmp_path)
    cluster.env["LIFECYCLE_WORKER_BATCH"] = "20"  # many small transactions to stop inside
    chunks = 8
    size = -(-len(items) // chunks)
    paths = [write_jsonl(tmp_path / f"in{n}.jsonl", items[n * size:(n + 1) * size])
             for n in range(chunks)]
    publish(cluster, paths[0])
    waiting = paths[1:]
    rng = random.Random(13)
    codes = []
    for round_ in range(4):
        before = _processed(cluster)
        worker = cluster.start_worker()

        def progressed(before: int = before) -> bool:
            return processed_offsets(cluster) > before

        cluster.wait_until(progressed, timeout=180,
                           what=f"round {round_}: the worker to make progress")
        # Inputs arrive while the worker is told to stop (and leave work for the next).
        failures: list[BaseException] = []
        publisher = threading.Thread(target=_publish, args=(cluster, waiting.pop(0), failures))
        publisher.start()
        time.sleep(rng.uniform(0.0, 0.8))  # somewhere inside a batch, or between two
        codes.append(_stop(cluster, worker, group=round_ % 2 == 1))
        publisher.join(timeout=120)
        assert not failures, failures
        log = (cluster.logs / f"worker{round_}.log").read_text(errors="replace")
        assert "failed" not in log, log[-4000:]
        assert "Traceback" not in log, log[-4000:]
    assert codes == [0, 0, 0, 0], cluster.logs_tail()
    assert _processed(cluster) < len(items), "the stops must land in the middle of the stream"
    cluster.start_worker()
    for path in waiting:
        publish(cluster, path)
    wait_for_same_answers(cluster, expected, total=len(items))
    actual = distributed_state(cluster)
    assert_same(expected, actual)
    recorded = [e for e in actual["events"] if e[2].endswith("TouchpointRecorded")]
    assert len(recorded) == len(set(recorded))
