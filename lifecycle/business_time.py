"""The business-time window: an input's ``occurred_at`` must lie between the earliest
plausible time and the moment it is recorded plus the allowed clock skew."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import ImplausibleTime

if TYPE_CHECKING:
    from lifecycle.settings import Settings

__all__ = ["check_business_time"]


def check_business_time(settings: Settings, item: Touchpoint | SalesAction,
                        recorded_at: datetime) -> None:
    """Rejects business times outside [earliest, recorded time + skew].

    Raises:
        ImplausibleTime: naming the window.
    """
    earliest = settings.earliest_business_time
    try:
        latest = recorded_at + settings.max_future_skew
    except OverflowError:
        latest = datetime.max.replace(tzinfo=UTC)
    if earliest <= item.occurred_at <= latest:
        return
    skew = settings.max_future_skew
    raise ImplausibleTime(
        f"occurred_at {item.occurred_at.isoformat()} is outside the plausible window "
        f"{earliest.isoformat()} .. {latest.isoformat()} (recorded time plus "
        f"{_duration(skew)}); fix the source's clock or the value, or widen "
        "LIFECYCLE_EARLIEST_BUSINESS_TIME / LIFECYCLE_MAX_FUTURE_SKEW")


def _duration(value: timedelta) -> str:
    if value % timedelta(days=1) == timedelta(0):
        days = value // timedelta(days=1)
        return f"{days} day" + ("" if days == 1 else "s")
    return f"{value.total_seconds():g} s"
