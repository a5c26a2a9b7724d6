"""What crosses the engine's boundary: the inbound contract.

Backend systems send one JSON object per input. An object with ``touchpoint_id`` is a
:class:`Touchpoint` (something the lead did or was exposed to); an object with
``action_id`` is a :class:`SalesAction` (something a salesperson decided). Both are
frozen pydantic models that reject unknown fields, so a typo is an error, not a silently
dropped value. ``lifecycle schema`` prints the JSON Schema generated from here.

The contract is strict and database-safe, because whatever it lets through ends up in an
event store that must never refuse it and in reports that must always render:

- types are not coerced: ``true`` is no integer, ``"yes"`` no boolean, a number no time;
  ``occurred_at`` is an ISO 8601 string with an offset, representable in UTC;
- no string anywhere (keys and values inside ``properties`` too) holds a control character
  (C0, DEL, C1) or a lone surrogate; the free-text fields ``text`` and ``skip_reason`` may
  hold tabs and line breaks (notes from a CRM have them), nothing else does;
- amounts are finite, >= 0 and at most :attr:`Limits.max_amount`; currencies are ISO 4217
  codes (pycountry's list); emails are checked by ``email-validator`` (syntax only, no DNS);
- integers in ``properties`` are kept exact within 64 bits or rejected, and ``properties``
  are bounded in depth and keys; an input is bounded in bytes (:class:`Limits`).

The business-time window (not before 1970, not after a day past the recorded time) needs
the engine's clock, so the application checks it (``implausible_time``).

Everything public is imported from here; the modules behind it are private:
``_models`` (the pydantic models, the loss-reason taxonomy, :class:`Limits`), ``_checks``
(control characters, identifiers, times, emails, ISO codes, ``properties``),
``_parsing`` (:func:`parse_inbound`, :func:`parse_inbound_json`) and ``_schema``
(:func:`inbound_json_schema`).

Example::

    from lifecycle.contracts import parse_inbound_json

    item = parse_inbound_json(b'{"touchpoint_id": "t-1", ...}')  # or InvalidInput
"""

from __future__ import annotations

from lifecycle.aggregates.values import LOSS_REASONS, REASON_TAXONOMY_VERSION, LossReason
from lifecycle.contracts._checks import COUNTRIES, CURRENCIES, BusinessTime, normalized_email
from lifecycle.contracts._models import (
    CHANNELS,
    DEFAULT_LIMITS,
    ActionKind,
    Channel,
    Inbound,
    Limits,
    Profile,
    SalesAction,
    Touchpoint,
)
from lifecycle.contracts._parsing import format_validation_error, parse_inbound, parse_inbound_json
from lifecycle.contracts._schema import inbound_json_schema

__all__ = [
    "CHANNELS",
    "COUNTRIES",
    "CURRENCIES",
    "DEFAULT_LIMITS",
    "LOSS_REASONS",
    "REASON_TAXONOMY_VERSION",
    "ActionKind",
    "BusinessTime",
    "Channel",
    "Inbound",
    "Limits",
    "LossReason",
    "Profile",
    "SalesAction",
    "Touchpoint",
    "format_validation_error",
    "inbound_json_schema",
    "normalized_email",
    "parse_inbound",
    "parse_inbound_json",
]
