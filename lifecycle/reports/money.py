"""Money in reports: amounts are totalled per currency, never across currencies.

An optional rates table converts the per-currency totals into one reporting currency;
reports then say which currency, which rates and the date of those rates they used.
It is a TOML file named by ``LIFECYCLE_RATES_FILE``::

    [rates]
    currency = "EUR"                  # the reporting currency
    date = 2025-06-01                 # the date the rates are of (printed with them)
    source = "ECB reference rates"    # optional: where they come from

    [rates.values]                    # what 1 unit of each currency is worth in EUR
    USD = 0.92
    GBP = 1.17
    JPY = 0.0061

A currency without a rate is never guessed: its totals stay apart and the report names
it as not converted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lifecycle.config import read_toml
from lifecycle.errors import ConfigError

__all__ = ["Rates", "add", "converted", "finite", "load_rates", "rounded"]

_CODE = re.compile(r"^[A-Z]{3}$")


class Rates(BaseModel):
    """A rates table: what one unit of each currency is worth in ``currency``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str
    date: date
    source: str | None = Field(default=None, max_length=200)
    values: dict[str, float] = Field(default_factory=dict)

    @field_validator("currency")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError(f"{value!r} is not a currency code (three capitals, e.g. EUR)")
        return value

    @field_validator("values")
    @classmethod
    def _rates(cls, values: dict[str, float]) -> dict[str, float]:
        for code, rate in values.items():
            if not _CODE.match(code):
                raise ValueError(f"{code!r} is not a currency code (three capitals, e.g. USD)")
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"the rate of {code} must be a positive number, not {rate}")
        return values

    def rate(self, code: str) -> float | None:
        """How much one unit of ``code`` is worth in the reporting currency."""
        return 1.0 if code == self.currency else self.values.get(code)

    def describe(self, used: Iterable[str]) -> dict[str, Any]:
        """Which rates a report used, for it to print."""
        rates = {c: r for c in sorted(set(used)) if (r := self.rate(c)) is not None}
        return {"currency": self.currency, "date": self.date.isoformat(),
                "source": self.source, "rates": rates}


def load_rates(path: Path | None) -> Rates | None:
    """The rates table of ``path`` (its ``[rates]`` section); None without a path.

    Raises:
        ConfigError: the file is missing, not TOML, or its rates are invalid.
    """
    if path is None:
        return None
    data = read_toml(path, "rates file", hint=" (LIFECYCLE_RATES_FILE)")
    section = data.get("rates")
    if not isinstance(section, dict):
        raise ConfigError(f"rates file {path}: no [rates] section (currency, date, values)")
    try:
        return Rates.model_validate(section)
    except ValidationError as e:
        from lifecycle.contracts import format_validation_error

        raise ConfigError(f"rates file {path}: {format_validation_error(e)}") from None


def finite(value: float) -> float | None:
    """``value``, or None when it is infinite or not a number (no total can print it)."""
    return value if math.isfinite(value) else None


def rounded(value: float, digits: int = 2) -> float | None:
    """``value`` rounded for a report; None when it is not a finite number."""
    return round(value, digits) if math.isfinite(value) else None


def add(totals: dict[str, float], currency: str | None, amount: float) -> None:
    """Adds ``amount`` to the total of its currency ("" when none was given)."""
    key = currency or ""
    totals[key] = totals.get(key, 0.0) + amount


def converted(totals: Mapping[str, float], rates: Rates) -> tuple[float, list[str]]:
    """The totals in the reporting currency, and the currencies without a rate."""
    total, missing = 0.0, []
    for code, amount in sorted(totals.items()):
        rate = rates.rate(code)
        if rate is None:
            if amount:
                missing.append(code or "(none)")
            continue
        total += amount * rate
    return total, missing
