"""Parameter types of the ``lifecycle`` command: a bad value is a usage error naming the
option and what would be accepted, never a traceback later on."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import click

__all__ = ["AMOUNT", "AS_OF", "AT", "EARLIEST", "LATEST", "Amount", "Moment"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Moments a report, a lead or a policy can be evaluated at lie in [EARLIEST, LATEST):
decay, cooling and nurture dates are computed from them, and near the ends of what
``datetime`` can hold (years 1 and 9999) those computations overflow."""


class Moment(click.ParamType):
    """An ISO 8601 date or time, as an aware datetime in UTC.

    A time without an offset is taken as UTC. A date alone means the start of that day,
    or its end (23:59:59.999999) with ``end_of_day`` ("the funnel as it stood on that
    date").
    """

    name = "moment"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DATE|TIME"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not an ISO 8601 date or time: give e.g. 2026-06-30 or "
                      "2026-06-30T17:00:00+02:00", param, ctx)
        date_only = len(text) == 10
        if date_only and self.end_of_day:
            moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is in year 10000 in UTC
            moment = LATEST if moment.year > 5000 else EARLIEST - timedelta(days=1)
        if not EARLIEST <= moment < LATEST:
            self.fail(f"{text!r} is outside the supported range: give a moment from "
                      f"{EARLIEST.date()} to before {LATEST.date()} (UTC)", param, ctx)
        return moment


class Amount(click.ParamType):
    """A finite, non-negative amount of money."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a number: give e.g. 250000", param, ctx)
        if not math.isfinite(number) or number < 0:
            self.fail(f"{value!r} is not an amount: give a finite number >= 0", param, ctx)
        return number


AT = Moment()
AS_OF = Moment(end_of_day=True)
AMOUNT = Amount()
