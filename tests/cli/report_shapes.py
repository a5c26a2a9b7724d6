"""The documented JSON shapes of the reports, and a checker that names where a value
does not fit (used by ``test_reporting``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# -- the documented shapes ------------------------------------------------------------------

Num = (int, float)


@dataclass(frozen=True)
class Opt:
    """A value that may be null (or, as a key, absent)."""

    spec: Any


@dataclass(frozen=True)
class May(Opt):
    """A key that may be absent; when present, its value is ``spec`` (or null)."""


@dataclass(frozen=True)
class Many:
    """A list of ``spec``; ``min`` items at least (a check on nothing proves nothing)."""

    spec: Any
    min: int = 1


@dataclass(frozen=True)
class MapOf:
    """An object with free keys and values of ``spec``."""

    spec: Any


def check(value: Any, spec: Any, path: str = "$") -> None:
    """Asserts that ``value`` has ``spec``'s shape: exactly its keys, with their types."""
    if isinstance(spec, Opt):
        if value is not None:
            check(value, spec.spec, path)
    elif isinstance(spec, Many):
        assert isinstance(value, list), f"{path}: not a list: {value!r}"
        assert len(value) >= spec.min, f"{path}: fewer than {spec.min} items"
        for i, item in enumerate(value):
            check(item, spec.spec, f"{path}[{i}]")
    elif isinstance(spec, MapOf):
        assert isinstance(value, dict), f"{path}: not an object"
        for key, item in value.items():
            assert isinstance(key, str)
            check(item, spec.spec, f"{path}.{key}")
    elif isinstance(spec, Mapping):
        assert isinstance(value, dict), f"{path}: not an object: {value!r}"
        required = {k for k, s in spec.items() if not isinstance(s, May)}
        assert required <= set(value), f"{path}: missing {sorted(required - set(value))}"
        assert set(value) <= set(spec), f"{path}: undocumented {sorted(set(value) - set(spec))}"
        for key, item in value.items():
            check(item, spec[key], f"{path}.{key}")
    elif spec is None:
        assert value is None, f"{path}: {value!r} is not null"
    elif isinstance(spec, frozenset):
        assert value in spec, f"{path}: {value!r} not one of {sorted(spec)}"
    else:
        types = spec if isinstance(spec, tuple) else (spec,)
        # bool is an int to Python, never to a reader of the JSON
        assert isinstance(value, types), f"{path}: {value!r} is not {spec}"
        assert bool in types or not isinstance(value, bool), f"{path}: {value!r} is a boolean"


DAYS = {"n": int, "median": Opt(Num), "p90": Opt(Num), "negative": int}
RATES = {"leads": int, "mql": int, "sql": int, "won": int, "lead_to_mql": Opt(Num),
         "mql_to_sql": Opt(Num), "sql_to_won": Opt(Num), "mql_to_won": Opt(Num),
         "win_rate_of_closed": Opt(Num), "time_to_win_days": DAYS}
STAGE = {"stage": str, "probability": Num, "entered": int, "visits": int, "moved_forward": int,
         "lost": int, "disqualified": int, "recycled": int, "current": int,
         "next_stage": Opt(str), "conversion_to_next": Opt(Num),
         "benchmark_conversion": Opt(Num), "dwell_days": DAYS}
TEMPLATES = frozenset({"generic_b2b", "industrial", "saas"})
GRADES = frozenset({"hot", "warm", "cold"})
RULES = frozenset({"hot_not_contacted", "quote_no_reply", "terms_revised", "stuck_in_stage"})
ISO = str
FINDING = {"count": int, "leads": int,
           "examples": Many(MapOf((str, int, float, type(None))), min=0)}

AMOUNTS = Many({"currency": Opt(str), "amount": Num}, min=0)
WHO = {"name": Opt(str), "company": Opt(str), "owner": Opt(str), "in_stage_days": Opt(Num)}
COOLING_ROW = {**WHO, "lead_id": str, "grade": frozenset({"hot", "warm"}), "grade_now": GRADES,
               "total_now": Num, "threshold": Num, "behaviour_now": Num,
               "last_touch": Opt(ISO), "idle_days": Opt(Num), "stage": str,
               "template": TEMPLATES}

SHAPES: dict[str, Any] = {
    "funnel": {"as_of": Opt(ISO), "templates": Many({
        "template": TEMPLATES, "title": str, "stages": Many(STAGE, min=8), **RATES,
        "by_channel": Many({"channel": str, **RATES}),
        "by_cohort": Many({"cohort": str, **RATES}),
    }, min=3)},
    "diagnosis": {"as_of": Opt(ISO), "templates": Many({
        "template": TEMPLATES, "findings": Many(str, min=0),
        "bottleneck": Opt({"stage": str, "next_stage": str, "conversion": Num,
                           "benchmark": Num, "gap": Num, "entered": int}),
        "bulges": May(Many(str)),
        "broken_bottom": May({"stage": str, "conversion": Num, "benchmark": Num}),
    }, min=3)},
    "channels": {"as_of": Opt(ISO), "by": frozenset({"channel"}), "groups_shown": int,
                 "groups_pooled": int, "top": int, "leads": int,
                 "groups": Many({"group": str, "share": Opt(Num), **RATES}, min=5),
                 "largest": {"group": str, "share": Num}},
    "losses": {"as_of": Opt(ISO), "total": int,
               "by_reason": Many({"reason": str, "count": int, "amounts": AMOUNTS}),
               "by_competitor": Many({"competitor": str, "count": int, "amounts": AMOUNTS},
                                     min=0),
               "amounts": Many({"currency": str, "amount": Num}, min=0),
               "converted": None,
               "top_reasons_by_stage": MapOf(Many({"reason": str, "count": int})),
               "cells": Many({"kind": frozenset({"lost", "disqualified"}), "reason": str,
                              "stage": str, "channel": str, "template": TEMPLATES,
                              "competitor": Opt(str), "month": str, "count": int,
                              "amount": Num, "currency": Opt(str)})},
    "forecast": {"as_of": Opt(ISO),
                 "stages": Many({"template": TEMPLATES, "stage": str, "currency": Opt(str),
                                 "open": int, "amount": Num,
                                 "estimated_amounts": int, "probability_default": Num,
                                 "probability_measured": Opt(Num), "expected_default": Num,
                                 "expected_measured": Num}, min=5),
                 "totals": Many({"currency": str, "open": int, "pipeline": Num,
                                 "expected_default": Num, "expected_measured": Num}),
                 "converted": None,
                 "target": {"amount": Num, "currency": Opt(str), "gap_default": Opt(Num),
                            "gap_measured": Opt(Num), "note": Opt(str)}},
    "cooling": {"at": ISO, "count": int, "leads": Many({
        **COOLING_ROW, "reasons": Many(frozenset({"score_below_threshold", "no_touch"}))},
        min=0), "idle": Many(COOLING_ROW, min=0), "order": str, "idle_order": str},
    "alerts": {"at": ISO, "count": int, "by_rule": MapOf(int), "order": str,
               "stuck_min_samples": int, "alerts": Many({
        **WHO, "grade": Opt(GRADES), "lead_id": str, "rule": RULES, "opened_at": ISO,
        "open_hours": Num, "detail": str, "stage": str, "template": TEMPLATES, "channel": str})},
    "quality": {"as_of": Opt(ISO), "leads": int,
                "without_contact": {"count": int, "share": Opt(Num), "leads": Many(str, min=0)},
                "screens": {"disqualified": int, "disqualified_now": int,
                            "by_reason": Many({"reason": str, "count": int}, min=0),
                            "reinstated": Many({"rule": str, "count": int}, min=0)},
                "unknown_kinds": Many({"kind": str, "touches": int, "leads": int}, min=0),
                "unmatched_values": Opt(Many({"field": str, "leads": int, "values": Many(
                    {"value": str, "leads": int})}, min=0)),
                **dict.fromkeys(("before_capture", "recorded_before_business_time",
                                 "wins_before_first_contact", "negative_durations"), FINDING)},
}


