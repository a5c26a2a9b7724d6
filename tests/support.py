"""Builders shared by the test suite: inputs as backend systems send them.

Every input goes through the published contract (``model_validate`` of the pydantic
models), so tests exercise the same normalisation as real traffic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle.aggregates.lead import Lead
from lifecycle.contracts import SalesAction, Touchpoint

__all__ = [
    "EMAIL",
    "FIT45",
    "ICP",
    "T0",
    "action",
    "action_data",
    "event_names",
    "hours",
    "hypothesis_budget",
    "lead_events",
    "touchpoint",
    "touchpoint_data",
]

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
"""Business time every story starts at."""

EMAIL = "ada@acme.com"

ICP: dict[str, Any] = {
    "industry": "software", "employees": 300, "title": "CTO", "country": "US",
}
"""A profile that matches the built-in ideal customer profile exactly (fit 100)."""

FIT45: dict[str, Any] = {"industry": "software", "country": "US"}
"""Fit 45 (30 industry + 15 country): under generic_b2b the instant MQL rule applies
(fit >= 40) but the threshold rule does not (fit < 50)."""


LONG_RUN = 20
"""How many times more examples ``HYPOTHESIS_PROFILE=long`` tries (see tests/conftest.py)."""


def hypothesis_budget(examples: int) -> int:
    """A test's number of examples: bounded in the suite, more under the long profile."""
    return examples * LONG_RUN if os.environ.get("HYPOTHESIS_PROFILE") == "long" else examples


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def _keys(email: str | None, external_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if email is not None:
        data["email"] = email
    if external_id is not None:
        data["external_id"] = external_id
    return data


def touchpoint_data(
    touchpoint_id: str,
    kind: str = "page_view",
    *,
    at: datetime = T0,
    email: str | None = EMAIL,
    external_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A touchpoint as the JSON object a backend system publishes."""
    return {
        "touchpoint_id": touchpoint_id, "source": "website", "channel": "seo", "kind": kind,
        "occurred_at": at.isoformat(), **_keys(email, external_id), **fields,
    }


def touchpoint(
    touchpoint_id: str,
    kind: str = "page_view",
    *,
    at: datetime = T0,
    email: str | None = EMAIL,
    external_id: str | None = None,
    **fields: Any,
) -> Touchpoint:
    return Touchpoint.model_validate(
        touchpoint_data(touchpoint_id, kind, at=at, email=email, external_id=external_id,
                        **fields)
    )


def action_data(
    action_id: str,
    kind: str,
    *,
    at: datetime = T0,
    email: str | None = EMAIL,
    external_id: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A sales action as the JSON object a CRM publishes."""
    return {
        "action_id": action_id, "actor": "sales:bob", "action": kind,
        "occurred_at": at.isoformat(), **_keys(email, external_id), **fields,
    }


def action(
    action_id: str,
    kind: str,
    *,
    at: datetime = T0,
    email: str | None = EMAIL,
    external_id: str | None = None,
    **fields: Any,
) -> SalesAction:
    return SalesAction.model_validate(
        action_data(action_id, kind, at=at, email=email, external_id=external_id, **fields)
    )


def event_names(events: Iterable[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def lead_events(lead: Lead) -> list[Lead.Event]:
    """The lead's not yet collected events."""
    return [e for e in lead.pending_events if isinstance(e, Lead.Event)]


def counts(summary: dict[str, Any]) -> dict[str, Any]:
    """The accounting of an ``ingest --json`` summary (which says more: unknown kinds,
    unmatched values, new leads)."""
    return {k: summary[k] for k in ("received", "accepted", "duplicate", "rejected")}
