"""Reading the projections: stage visits as of any business time, touches, losses.

A *visit* is a stay of one lead in one stage, from the transition that entered it to
the next transition of that lead (or still open). Everything is cut at ``as_of`` by
business time, so the funnel of any past date is the same computation on fewer rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lifecycle.projections.store import ProjectionStore

__all__ = ["History", "LeadRow", "Visit", "load_history"]

FORWARD_KINDS = {"advance", "mql", "sql_accepted", "sql_auto", "won"}


@dataclass(frozen=True, slots=True)
class LeadRow:
    lead_id: str
    template: str
    channel: str
    source: str
    captured_at: float
    cohort: str


@dataclass(frozen=True, slots=True)
class Visit:
    """One stay of a lead in a stage."""

    lead_id: str
    stage: str
    entered_at: float
    left_at: float | None
    exit_kind: str | None
    exit_to: str | None
    amount: float | None

    @property
    def dwell(self) -> float | None:
        """Seconds in the stage, at least 0 (for thresholds; see :attr:`span`)."""
        return None if self.left_at is None else max(self.left_at - self.entered_at, 0.0)

    @property
    def span(self) -> float | None:
        """Seconds in the stage as recorded: negative when the next move is dated
        before this one (out-of-order business times). Reports count those apart
        rather than clip them."""
        return None if self.left_at is None else self.left_at - self.entered_at

    @property
    def moved_forward(self) -> bool:
        return self.exit_kind in FORWARD_KINDS


@dataclass
class History:
    """Leads and their visits as of a moment (``None``: everything recorded)."""

    as_of: float | None
    leads: dict[str, LeadRow] = field(default_factory=dict)
    visits: dict[str, list[Visit]] = field(default_factory=lambda: defaultdict(list))
    amounts: dict[str, tuple[float, str] | None] = field(default_factory=dict)

    def current_stage(self, lead_id: str) -> str | None:
        visits = self.visits.get(lead_id)
        return visits[-1].stage if visits else None

    def reached(self, lead_id: str, stage: str) -> bool:
        return any(v.stage == stage for v in self.visits.get(lead_id, ()))


def load_history(store: ProjectionStore, *, as_of: float | None = None,
                 template: str | None = None) -> History:
    """Reads leads and transitions (cut at ``as_of`` by business time) into visits."""
    where: list[str] = []
    params: list[Any] = []
    if as_of is not None:
        where.append("captured_at <= ?")
        params.append(as_of)
    if template is not None:
        where.append("template = ?")
        params.append(template)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    history = History(as_of=as_of)
    for row in store.query(
        f"SELECT lead_id, template, channel, source, captured_at, cohort FROM lc_leads{clause}",
        params,
    ):
        history.leads[row[0]] = LeadRow(row[0], row[1], row[2], row[3], float(row[4]), row[5])

    t_clause, t_params = ("", []) if as_of is None else (" WHERE occurred_at <= ?", [as_of])
    rows = store.query(
        "SELECT lead_id, version, occurred_at, to_stage, kind, amount, currency "
        f"FROM lc_transitions{t_clause} ORDER BY lead_id, version", t_params,
    )
    by_lead: dict[str, list[tuple[float, str, str, float | None, str | None]]] = defaultdict(list)
    for lead_id, _version, occurred_at, to_stage, kind, amount, currency in rows:
        if lead_id in history.leads:
            by_lead[lead_id].append((float(occurred_at), to_stage, kind, amount, currency))
    for lead_id, moves in by_lead.items():
        visits = history.visits[lead_id]
        deal: tuple[float, str] | None = None
        for i, (at, stage, _kind, amount, currency) in enumerate(moves):
            if amount is not None:
                deal = (float(amount), currency or "")
            nxt = moves[i + 1] if i + 1 < len(moves) else None
            visits.append(Visit(
                lead_id=lead_id, stage=stage, entered_at=at,
                left_at=nxt[0] if nxt else None, exit_kind=nxt[2] if nxt else None,
                exit_to=nxt[1] if nxt else None, amount=deal[0] if deal else None,
            ))
        history.amounts[lead_id] = deal
    return history
