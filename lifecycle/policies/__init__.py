"""Policies: decisions over the projections, and the commands they send to leads.

Each decision is a pure function of facts read from the projections
(:mod:`~lifecycle.policies.facts`) returning typed values:

- :mod:`~lifecycle.policies.cooling`: :class:`Cooling` leads whose grade falls if they
  are regraded at a moment (and idle ones that fit or BANT keep up);
- :mod:`~lifecycle.policies.alerts`: open :class:`Alert` s where a salesperson should
  step in;
- :mod:`~lifecycle.policies.nurture`: which leads are :class:`Due` a regrade or a
  nurture step;
- :mod:`~lifecycle.policies.dwell`: stage dwell percentiles the stuck-in-stage alert
  measures against.

:func:`run_policies` turns the decisions into commands on the application; the
reports (:mod:`lifecycle.reports`) format the same decisions for people.
"""

from __future__ import annotations

from lifecycle.policies.alerts import Alert, AlertKind, alerts_at, decide_alerts
from lifecycle.policies.cooling import (
    Cooling,
    CoolingDecision,
    CoolingReason,
    cooling_at,
    decide_cooling,
)
from lifecycle.policies.nurture import Due, DueCommand, nurture_due, regrades_due
from lifecycle.policies.run import run_policies

__all__ = [
    "Alert",
    "AlertKind",
    "Cooling",
    "CoolingDecision",
    "CoolingReason",
    "Due",
    "DueCommand",
    "alerts_at",
    "cooling_at",
    "decide_alerts",
    "decide_cooling",
    "nurture_due",
    "regrades_due",
    "run_policies",
]
