"""How long leads stay in stages: percentiles over completed stage visits — what the
stuck-in-stage alert measures against (and the funnel report prints)."""

from __future__ import annotations

from collections import defaultdict

from lifecycle.projections.queries import History

__all__ = ["percentile", "stage_p90_seconds"]


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def stage_p90_seconds(history: History, *, min_samples: int) -> dict[tuple[str, str], float]:
    """p90 dwell per (template, stage) over completed visits with enough samples."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for lead_id, visits in history.visits.items():
        template = history.leads[lead_id].template
        for v in visits:
            d = v.dwell
            if d is not None:
                samples[(template, v.stage)].append(d)
    out = {}
    for key, values in samples.items():
        if len(values) >= min_samples:
            p = percentile(values, 0.9)
            if p is not None:
                out[key] = p
    return out
