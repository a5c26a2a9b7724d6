"""Reading one CSV cell as a time, an amount, a head count or a property value.

CRM exports write numbers and times for people to read ("1,200", "51-200",
"2024-03-04 09:15"); the contract wants them typed ("employees": 1200, an ISO time with an
offset). Each reader here either returns the typed value or raises :class:`BadValue`
saying what was expected, so the row is rejected with its column and value, never
guessed at silently.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Literal

__all__ = ["BadValue", "parse_amount", "parse_count", "parse_property", "parse_time"]

Range = Literal["low", "middle", "high"]


class BadValue(ValueError):
    """A cell that does not hold what its column is mapped to (the message says what)."""


_INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"[+-]?(?:0|[1-9][0-9]*)\.[0-9]+")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_GROUPED_DOT = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
_RANGE = re.compile(r"(.+?)\s*(?:-|–|to)\s*(.+)")
_SPACES = re.compile(r"[\s\u00a0\u202f']")  # spaces, no-break spaces, 1'000 (Swiss)
_INT64 = 2**63


def parse_time(text: str, formats: tuple[str, ...], zone: tzinfo) -> datetime:
    """A cell as an aware time in UTC.

    Args:
        text: the cell (not empty).
        formats: tried in order: ``"iso"`` (any ISO 8601 form Python reads: ``2024-03-04``,
            ``2024-03-04 09:15``, ``2024-03-04T09:15:00.000+0000``, ``...Z``), ``"unix"`` /
            ``"unix_ms"`` (seconds / milliseconds since 1970), or a ``strptime`` format.
        zone: the time zone of a time given without an offset (a date alone is its
            midnight there). A local time that a clock change skipped or repeated is
            read as the first of its two meanings (``fold=0``).

    Raises:
        BadValue: no format reads it.
    """
    for fmt in formats:
        try:
            if fmt == "iso":
                moment = datetime.fromisoformat(text)
            elif fmt in ("unix", "unix_ms"):
                if not _INTEGER.fullmatch(text):
                    continue
                moment = datetime.fromtimestamp(int(text) / (1000 if fmt == "unix_ms" else 1),
                                                UTC)
            else:
                moment = datetime.strptime(text, fmt)
        except (ValueError, OverflowError, OSError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01 with a positive offset
            continue
    raise BadValue(f"{text!r} is not a time in the format{'s' if len(formats) > 1 else ''} "
                   f"{', '.join(formats)}")


def _number(text: str) -> float | int:
    """A number as people write it: ``1,200``, ``1.200`` (grouped by threes), ``1 200``,
    ``12.5``, ``12,5`` (a decimal comma); with both marks, the last one is the decimal."""
    plain = _SPACES.sub("", text)
    if _GROUPED.fullmatch(plain):
        plain = plain.replace(",", "")
    elif _GROUPED_DOT.fullmatch(plain):
        plain = plain.replace(".", "")
    elif "," in plain and "." in plain:
        decimal = "," if plain.rfind(",") > plain.rfind(".") else "."
        plain = plain.replace("." if decimal == "," else ",", "").replace(decimal, ".")
    else:
        plain = plain.replace(",", ".")
    if _INTEGER.fullmatch(plain):
        return int(plain)
    if _DECIMAL.fullmatch(plain):
        return float(plain)
    raise BadValue(f"{text!r} is not a number")


def parse_amount(text: str) -> float:
    """A deal amount (``12,500.00``, ``12.500,00``, ``12500``); no currency sign."""
    value = float(_number(text))
    if value < 0:
        raise BadValue(f"{text!r} is negative: an amount is at least 0")
    return value


def parse_count(text: str, policy: Range) -> int:
    """A head count: ``1,200``; ``10,001+`` (at least); a range ``51-200`` read by
    ``policy`` — its lower bound (``low``, the default: the company has at least that
    many), its upper one (``high``) or the whole number nearest its middle (``middle``)."""
    body = text.rstrip("+ ").strip()
    found = _RANGE.fullmatch(body)
    if found:
        low, high = (_whole(part) for part in found.groups())
        if low > high:
            raise BadValue(f"{text!r} is not a range: {low} is more than {high}")
        return {"low": low, "high": high, "middle": (low + high + 1) // 2}[policy]
    return _whole(body)


def _whole(text: str) -> int:
    try:
        value = _number(text)
    except BadValue:
        raise BadValue(f"{text!r} is not a number of employees (e.g. 1,200 or 51-200)") from None
    if isinstance(value, float):
        if not value.is_integer():
            raise BadValue(f"{text!r} is not a whole number of employees")
        value = int(value)
    if value < 0:
        raise BadValue(f"{text!r} is negative")
    return value


def parse_property(text: str, kind: Literal["auto", "text", "number"]) -> str | int | float:
    """A property's value.

    ``auto`` (the default) makes a number of what is plainly one — an integer without
    leading zeros (``42``, not ``007`` or ``01234``, which are codes) within 64 bits, or a
    decimal with a point (``12.5``) — and keeps everything else as text, including
    ``1,200`` (a list? a thousand and two hundred?). ``number`` reads it like an amount
    (``1,200`` is 1200) or rejects the row; ``text`` keeps it as written.
    """
    if kind == "text":
        return text
    if kind == "number":
        return _number(text)
    if _INTEGER.fullmatch(text) and -_INT64 <= int(text) < _INT64:
        return int(text)
    if _DECIMAL.fullmatch(text):
        return float(text)
    return text
