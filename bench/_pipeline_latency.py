"""``bench/pipeline.py``'s latency measurement: timed touchpoints at a fixed rate,
and when each one's row appears in ``lc_touches``."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench._common import percentile
from bench._pipeline_cluster import Deployment, Inbound, Monitor, deployment, warm_up
from lifecycle.contracts import parse_inbound
from streams.client import TouchpointPublisher

__all__ = ["LatencyProbe", "latency"]


class LatencyProbe:
    """Publishes timed touchpoints and watches ``lc_touches`` for their rows.

    A touchpoint's ``occurred_at`` is its publish time (µs, unique): its row's
    ``occurred_at`` (epoch seconds, indexed) says which touchpoint it is.
    """

    KINDS = ("page_view", "email_open", "page_view", "email_click", "content_download")

    def __init__(self, dep: Deployment, leads: int, poll: float) -> None:
        self.dep = dep
        self.leads = leads
        self.poll = poll
        self.run = uuid.uuid4().hex[:8]
        self.pending: dict[float, float] = {}  # occurred_at epoch → publish time (epoch)
        self.seen: list[float] = []
        self.polls = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self._last = 0.0

    def _watch(self) -> None:
        with psycopg.connect(self.dep.settings.database_url, autocommit=True) as conn:
            while not self.stop.is_set():
                with self.lock:
                    start = min(self.pending) if self.pending else None
                if start is not None:
                    rows = conn.execute("SELECT occurred_at FROM lc_touches "
                                        "WHERE occurred_at >= %s", (start,)).fetchall()
                    now = time.time()
                    self.polls += 1
                    with self.lock:
                        for (t,) in rows:
                            published = self.pending.pop(t, None)
                            if published is not None:
                                self.seen.append(now - published)
                self.stop.wait(self.poll)

    def touchpoint(self, n: int) -> Inbound:
        """The ``n``-th touchpoint, stamped now; registered as pending."""
        lead = n % self.leads
        at = datetime.fromtimestamp(max(time.time(), self._last + 1e-6), UTC)
        key = at.timestamp()
        self._last = key
        tp: dict[str, Any] = {
            "touchpoint_id": f"lat-{self.run}-{n}", "occurred_at": at.isoformat(),
            "source": "web", "channel": "seo", "kind": self.KINDS[n % len(self.KINDS)],
            "email": f"lat{lead}@{self.run}.bench-co{lead % 97}.example.com"}
        if n < self.leads:  # a lead's first touch says who they are
            tp["profile"] = {"industry": "software", "employees": 250, "title": "CTO",
                             "country": "DE"}
        item = parse_inbound(tp)
        with self.lock:
            self.pending[key] = key
        return item

    def publish(self, rate: float, total: int) -> float:
        """Publishes ``total`` touchpoints at ``rate``; returns the seconds it took."""
        self.thread.start()
        publisher = TouchpointPublisher(self.dep.settings.kafka_bootstrap,
                                        topic=self.dep.settings.touchpoints_topic)
        try:
            t0 = time.perf_counter()
            for n in range(total):
                wait = t0 + n / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                publisher.publish(self.touchpoint(n))
                if n % 200 == 0:
                    self.dep.check_alive()
            publisher.flush(timeout=120)
            return time.perf_counter() - t0
        finally:
            publisher.close()

    def drain(self, timeout: float) -> tuple[list[float], int]:
        """Waits for the pending rows; returns the latencies and how many never came."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            self.dep.check_alive()
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.1)
        self.stop.set()
        self.thread.join(timeout=10)
        with self.lock:
            return sorted(self.seen), len(self.pending)


def latency(pg_base: str, workdir: Path, name: str, rate: float, seconds: float,
            leads: int, poll: float, partitions: int) -> dict[str, Any]:
    with deployment(pg_base, workdir, name, partitions) as dep:
        monitor = Monitor(dep.settings)
        try:
            ready = warm_up(dep, monitor, 1, timeout=180.0)
        finally:
            monitor.close()
        probe = LatencyProbe(dep, leads, poll)
        total = int(rate * seconds)
        publish_seconds = probe.publish(rate, total)
        values, missing = probe.drain(120.0)
    ms = 1000.0
    return {
        "rate_target": rate, "touchpoints": total,
        "rate_achieved": round(total / publish_seconds, 1),
        "seen": len(values), "missing": missing, "poll_s": poll, "polls": probe.polls,
        "p50_ms": round(percentile(values, 0.5) * ms, 1),
        "p90_ms": round(percentile(values, 0.9) * ms, 1),
        "p99_ms": round(percentile(values, 0.99) * ms, 1),
        "max_ms": round(max(values, default=0.0) * ms, 1),
        "mean_ms": round(statistics.mean(values) * ms, 1) if values else 0.0,
        **ready,
    }
