"""The checks behind the inbound contract's models, one per kind of value.

Private module: :mod:`lifecycle.contracts._models` calls these from its validators.
Control characters (in fields, in ``properties``, in raw JSON text), identifiers (NFC,
no invisible format characters), business times (ISO 8601 with an offset), emails,
ISO codes (currencies, countries) and ``properties`` (depth, keys, 64-bit integers,
finite floats). Every check raises :class:`ValueError` naming what was wrong, which
pydantic reports with the field's path.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import BeforeValidator, JsonValue

if TYPE_CHECKING:
    from lifecycle.contracts._models import Limits


# PostgreSQL (NUL), encoded as UTF-8 (surrogates) or shown in a terminal safely.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Free text may keep tabs and line breaks.
_CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# In JSON text a control character is an escape (\\n, \\u0000 .. \\u001f, \\u007f ..
# \\u009f) or DEL or a C1 character as such (C0 characters as such are not JSON). Text
# without any of these needs no check of its strings; a false alarm (an escaped
# backslash before an n) only costs the check.
_RAW_CONTROL = re.compile(r"\\(?:[bfnrt]|u00[0189]|u007[fF])|[\x7f-\x9f]")
_RAW_CONTROL_BYTES = re.compile(rb"\\(?:[bfnrt]|u00[0189]|u007[fF])|\x7f|\xc2[\x80-\x9f]")
_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_PATTERN_FREE_TEXT = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def _control_problem(value: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(value)
    if found is None:
        return None
    char = found.group()
    return (f"contains the control character U+{ord(char):04X} at position {found.start()}; "
            "control characters are not allowed")


# Format characters (Unicode category Cf) that reorder or hide text: bidi embeddings,
# overrides, isolates and marks, zero-width characters, the soft hyphen, invisible
# operators, tags. "evil\u202egnp.exe" shows as "evilexe.png", "ada\u200b" as "ada".
_INVISIBLE = re.compile("[\xad\u0600-\u0605\u061c\u06dd\u070f\u08e2\u180e\u200b-\u200f"
                        "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                        "\U000110bd\U000110cd\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                        "\U000e0001\U000e0020-\U000e007f]")


def _identifier(value: str | None) -> str | None:
    """An id as it is compared: in NFC (a composed and a decomposed "café" are one id),
    and rejected when it holds a character that hides or reorders text (it would look
    like another id, or like nothing)."""
    if value is None or value.isascii():
        return value
    found = _INVISIBLE.search(value)
    if found is not None:
        raise ValueError(f"contains the invisible format character U+{ord(found.group()):04X} "
                         f"at position {found.start()}; an id may not hold characters that "
                         "hide or reorder text")
    return unicodedata.normalize("NFC", value)


_TIME_HINT = "give an ISO 8601 string with an offset, e.g. 2024-03-04T09:00:00+01:00"


def _business_time(value: Any) -> datetime:
    if isinstance(value, datetime):  # from Python callers (the SDK), never from JSON
        parsed = value
    elif isinstance(value, str):
        if len(value) > 64:
            raise ValueError(f"not an ISO 8601 time (longer than 64 characters); {_TIME_HINT}")
        try:
            # upper(): RFC 3339 allows a lower-case "t" and "z"; fromisoformat does not.
            parsed = datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value!r}; {_TIME_HINT}") from None
    else:
        raise ValueError(f"must be a string, got {type(value).__name__}; {_TIME_HINT}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"has no offset: {value!r}; {_TIME_HINT}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            f"{value!r} is outside the years 1-9999 once converted to UTC") from None


BusinessTime = Annotated[datetime, BeforeValidator(_business_time)]


@lru_cache(maxsize=65_536)
def _checked_email(value: str) -> tuple[str | None, str | None]:
    """(normalised address, None) or (None, why not); cached: a lead's email repeats."""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as e:
        return None, str(e)
    return checked.normalized.lower(), None


def normalized_email(value: str) -> str | None:
    """``value`` as the contract records an email (NFC, Unicode domain, lower case), or
    None when it is not an email address; lookups by key must use the same form."""
    return _checked_email(value.strip())[0]


def _iso_4217() -> frozenset[str]:
    # XXX ("no currency") and XTS ("for testing") are codes, but not of money.
    return frozenset(c.alpha_3 for c in pycountry.currencies) - {"XXX", "XTS"}


CURRENCIES: frozenset[str] = _iso_4217()
"""ISO 4217 currency codes accepted in ``currency`` (from pycountry, which follows the
Debian iso-codes data that tracks the standard's amendments)."""


_CURRENCY_ENUM: list[JsonValue] = [*sorted(CURRENCIES), None]

COUNTRIES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
"""ISO 3166-1 alpha-2 codes accepted in ``profile.country`` (from pycountry)."""
_COUNTRY_ENUM: list[JsonValue] = [*sorted(COUNTRIES), None]


def _check_properties(value: dict[str, Any], limits: Limits, raw: str | bytes | None, *,
                      clean: bool = False) -> None:
    """Walks ``properties`` breadth-first: depth, key count, strings, numbers.

    Raises:
        ValueError: naming the path of the first problem.
    """
    keys = 0
    level: list[tuple[str, Any]] = [("properties", value)]
    depth = 0
    while level:
        depth += 1
        if depth > limits.max_property_depth:
            raise ValueError(f"nested deeper than {limits.max_property_depth} levels "
                             f"(at {level[0][0]})")
        below: list[tuple[str, Any]] = []
        for path, container in level:
            children = container.items() if isinstance(container, dict) else enumerate(container)
            for key, child in children:
                if isinstance(key, str):
                    keys += 1
                    problem = None if clean else _control_problem(key, _CONTROL)
                    if problem is not None:
                        raise ValueError(f"key {key!r} in {path} {problem}")
                    here = f"{path}.{key}"
                else:
                    here = f"{path}[{key}]"
                if isinstance(child, str):
                    if clean:
                        continue
                    problem = _control_problem(child, _CONTROL_IN_FREE_TEXT)
                    if problem is not None:
                        raise ValueError(f"{here} {problem}")
                elif isinstance(child, bool) or child is None:
                    pass
                elif isinstance(child, int):
                    if not -(2**63) <= child < 2**63:
                        raise ValueError(f"{here}: the integer {child} is beyond the 64-bit "
                                         "range; send it as a string")
                elif isinstance(child, float):
                    _check_float(here, child, raw)
                else:
                    below.append((here, child))
            if keys > limits.max_property_keys:
                raise ValueError(f"more than {limits.max_property_keys} keys (all levels)")
        level = below


def _check_float(path: str, value: float, raw: str | bytes | None) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{path}: {value} is not a finite number")
    if raw is not None and abs(value) >= 2**63 and value.is_integer():
        # orjson reads an integer literal beyond 64 bits as a float, silently losing
        # digits: read the text again with exact integers to tell 1e19 from 10**19.
        def exact(literal: str) -> int:
            number = int(literal)
            if not -(2**63) <= number < 2**63:
                raise ValueError(f"{path}: the integer {literal} is beyond the 64-bit range; "
                                 "send it as a string")
            return number

        json.loads(raw, parse_int=exact)

