"""Funnel, "by" (channels or any dimension) and diagnosis reports, computed from stage
visits.

Every figure is a count over visits (see :mod:`lifecycle.projections.queries`):
``entered`` is how many distinct leads ever entered a stage, ``moved_forward`` how many
stays in it ended with a move to a later stage, ``conversion`` of a stage is the share
of its leads that went on to a later funnel stage (skips included), and dwell times
are the lengths of completed visits. A stay whose next move is dated before it
(out-of-order business times) has a negative length: it is counted as ``negative``
beside the dwell figures, never clipped to zero nor mixed into them; the quality
report lists those leads.

Ratios: ``lead_to_mql``, ``mql_to_sql`` and ``sql_to_won`` divide the leads that ever
reached the later stage by those that ever reached the earlier one; ``mql_to_won`` is
the share of MQLs that were won (a win that never was an MQL does not count).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from lifecycle.policies.dwell import percentile
from lifecycle.projections.queries import History, Visit
from lifecycle.reports.dimensions import Grouping
from lifecycle.templates import FunnelTemplate, TemplateRegistry

__all__ = ["by_report", "diagnosis_report", "funnel_report"]

DAY = 86_400.0


def _days(values: list[float]) -> dict[str, Any]:
    """Median and p90 in days of the durations that are not negative; how many were."""
    kept = [v for v in values if v >= 0]
    med = percentile(kept, 0.5)
    p90 = percentile(kept, 0.9)
    return {
        "n": len(kept),
        "median": None if med is None else round(med / DAY, 2),
        "p90": None if p90 is None else round(p90 / DAY, 2),
        "negative": len(values) - len(kept),
    }


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else round(num / den, 4)


def _stage_rows(
    history: History, template: FunnelTemplate, lead_ids: list[str]
) -> list[dict[str, Any]]:
    stages = template.funnel_stages
    reached: dict[str, set[str]] = defaultdict(set)
    visits_by_stage: dict[str, list[Visit]] = defaultdict(list)
    current: dict[str, int] = defaultdict(int)
    for lead_id in lead_ids:
        visits = history.visits.get(lead_id, [])
        for v in visits:
            reached[v.stage].add(lead_id)
            visits_by_stage[v.stage].append(v)
        if visits:
            current[visits[-1].stage] += 1
    rows = []
    for i, stage in enumerate(stages):
        visits = visits_by_stage[stage]
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        entered = len(reached[stage])
        # Onward means any later funnel stage: a deal won straight from discovery (with a
        # skip_reason) did convert out of discovery.
        onward: set[str] = set().union(*(reached[s] for s in stages[i + 1:])) if nxt else set()
        to_next = len(reached[stage] & onward) if nxt else None
        row: dict[str, Any] = {
            "stage": stage,
            "probability": template.probability(stage),
            "entered": entered,
            "visits": len(visits),
            "moved_forward": sum(1 for v in visits if v.moved_forward),
            "lost": sum(1 for v in visits if v.exit_kind == "lost"),
            "disqualified": sum(1 for v in visits if v.exit_kind == "disqualified"),
            "recycled": sum(1 for v in visits if v.exit_kind == "recycled"),
            "current": current[stage],
            "next_stage": nxt,
            "conversion_to_next": _rate(to_next, entered) if to_next is not None else None,
            "benchmark_conversion": template.benchmark_conversion(stage) if nxt else None,
            "dwell_days": _days([d for v in visits if (d := v.span) is not None]),
        }
        rows.append(row)
    return rows


def _rates(history: History, lead_ids: list[str]) -> dict[str, Any]:
    def count(stage: str) -> int:
        return sum(1 for lid in lead_ids if history.reached(lid, stage))

    leads, mql, sql, won = len(lead_ids), count("mql"), count("sql"), count("won")
    mql_won = sum(1 for lid in lead_ids
                  if history.reached(lid, "mql") and history.reached(lid, "won"))
    closed_opps = sum(1 for lid in lead_ids if history.reached(lid, "sql")
                      and history.current_stage(lid) in ("won", "lost", "disqualified"))
    times = []
    for lid in lead_ids:
        for v in history.visits.get(lid, []):
            if v.stage == "won":
                times.append(v.entered_at - history.leads[lid].captured_at)
                break
    return {
        "leads": leads, "mql": mql, "sql": sql, "won": won,
        "lead_to_mql": _rate(mql, leads), "mql_to_sql": _rate(sql, mql),
        "sql_to_won": _rate(won, sql), "mql_to_won": _rate(mql_won, mql),
        "win_rate_of_closed": _rate(won, closed_opps),
        "time_to_win_days": _days(times),
    }


def _breakdown(history: History, lead_ids: list[str], attr: str) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for lid in lead_ids:
        groups[getattr(history.leads[lid], attr)].append(lid)
    out = []
    for key in sorted(groups):
        rates = _rates(history, groups[key])
        out.append({attr: key, **rates})
    return out


def funnel_report(history: History, templates: TemplateRegistry,
                  grouping: Grouping | None = None) -> dict[str, Any]:
    """The funnel per template, with breakdowns by channel and capture cohort; with a
    ``grouping``, the funnel of each group instead (``groups``: one block per group)."""
    if grouping is None:
        return {"as_of": history.as_of,
                "templates": _templates(history, templates, list(history.leads))}
    return {
        "as_of": history.as_of, **grouping.describe(),
        "groups": [{"group": name, "leads": len(ids),
                    "templates": _templates(history, templates, ids, breakdowns=False)}
                   for name, ids in grouping.groups.items()],
    }


def _templates(history: History, templates: TemplateRegistry, lead_ids: list[str], *,
               breakdowns: bool = True) -> list[dict[str, Any]]:
    by_template: dict[str, list[str]] = defaultdict(list)
    for lid in lead_ids:
        by_template[history.leads[lid].template].append(lid)
    out = []
    for name in sorted(by_template):
        if name not in templates:
            continue
        template = templates[name]
        ids = by_template[name]
        block = {
            "template": name,
            "title": template.title,
            "stages": _stage_rows(history, template, ids),
            **_rates(history, ids),
        }
        if breakdowns:
            block["by_channel"] = _breakdown(history, ids, "channel")
            block["by_cohort"] = _breakdown(history, ids, "cohort")
        out.append(block)
    return out


def by_report(history: History, grouping: Grouping) -> dict[str, Any]:
    """Lead → MQL → SQL → won per group of a dimension (the channels report groups by
    channel), time to win, and the largest group's share."""
    total = len(history.leads)
    rows = []
    for name, ids in grouping.groups.items():
        rows.append({"group": name, **_rates(history, ids), "share": _rate(len(ids), total)})
    largest = max((r for r in rows if r["group"] != "(other)"), key=lambda r: r["leads"],
                  default=None)
    return {
        "as_of": history.as_of,
        **grouping.describe(),
        "leads": total,
        "groups": rows,
        "largest": None if largest is None else {"group": largest["group"],
                                                 "share": largest["share"]},
    }


def diagnosis_report(funnel: dict[str, Any], *, min_sample: int = 20) -> dict[str, Any]:
    """Bottleneck and shape anomalies per template, with the numbers behind each finding.

    - bottleneck: the stage whose conversion falls furthest below its benchmark;
    - bulge in the middle: an MQL/SQL/opportunity stage holding more leads than both
      neighbours while converting below benchmark (leads pile up there);
    - broken bottom: the last stages convert to won at less than 60 % of benchmark.
    """
    findings = []
    for t in funnel["templates"]:
        stages = [s for s in t["stages"] if s["next_stage"] is not None]
        gaps = [
            (s["benchmark_conversion"] - s["conversion_to_next"], s)
            for s in stages
            if s["conversion_to_next"] is not None and s["entered"] >= min_sample
        ]
        result: dict[str, Any] = {"template": t["template"], "findings": []}
        if gaps:
            gap, worst = max(gaps, key=lambda g: g[0])
            result["bottleneck"] = {
                "stage": worst["stage"], "next_stage": worst["next_stage"],
                "conversion": worst["conversion_to_next"],
                "benchmark": worst["benchmark_conversion"], "gap": round(gap, 4),
                "entered": worst["entered"],
            }
            if gap > 0:
                result["findings"].append(
                    f"bottleneck: {worst['stage']} → {worst['next_stage']} converts "
                    f"{worst['conversion_to_next']:.0%} against a benchmark of "
                    f"{worst['benchmark_conversion']:.0%} ({worst['entered']} leads entered)")
        else:
            result["bottleneck"] = None
        middle = [s for s in t["stages"] if s["stage"] not in ("captured", "nurturing", "won")]
        for i in range(1, len(middle) - 1):
            s, before, after = middle[i], middle[i - 1], middle[i + 1]
            conv, bench = s["conversion_to_next"], s["benchmark_conversion"]
            if (s["current"] > before["current"] and s["current"] > after["current"]
                    and s["current"] >= 5 and conv is not None and bench is not None
                    and conv < bench):
                result["findings"].append(
                    f"bulge in the middle: {s['current']} leads sit in {s['stage']} "
                    f"({before['stage']}: {before['current']}, {after['stage']}: "
                    f"{after['current']}); it converts {conv:.0%} vs {bench:.0%}")
                result.setdefault("bulges", []).append(s["stage"])
        tail = [s for s in stages if s["stage"] not in ("captured", "nurturing", "mql")]
        if tail:
            last = tail[-1]
            conv, bench = last["conversion_to_next"], last["benchmark_conversion"]
            closed = t["won"]
            if conv is not None and bench and last["entered"] >= 5 and conv < 0.6 * bench:
                result["findings"].append(
                    f"broken bottom: only {conv:.0%} of {last['stage']} leads are won "
                    f"(benchmark {bench:.0%}; {closed} won in all)")
                result["broken_bottom"] = {"stage": last["stage"], "conversion": conv,
                                           "benchmark": bench}
        findings.append(result)
    return {"as_of": funnel["as_of"], "templates": findings}

