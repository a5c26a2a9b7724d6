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
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, get_args

import orjson
import pycountry
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lifecycle.aggregates.values import LOSS_REASONS, REASON_TAXONOMY_VERSION, Key, LossReason
from lifecycle.errors import InvalidInput

__all__ = [
    "CHANNELS",
    "COUNTRIES",
    "CURRENCIES",
    "LOSS_REASONS",
    "REASON_TAXONOMY_VERSION",
    "ActionKind",
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

Channel = Literal[
    "seo",
    "paid_search",
    "social",
    "content",
    "webinar",
    "email",
    "event",
    "referral",
    "direct",
    "partner",
    "other",
]
CHANNELS: tuple[str, ...] = get_args(Channel)

ActionKind = Literal[
    "accept", "advance", "bant", "win", "lose", "disqualify", "recycle", "reopen", "note"
]

_NAME = r"^[a-z][a-z0-9_]*$"


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of the contract that a deployment may change (``Settings.limits``).

    Attributes:
        max_amount: the largest deal amount; beyond it a sum in a report is no longer
            meaningful (and near 1e308 it overflows to infinity).
        max_input_bytes: the largest input, in UTF-8 bytes of its JSON.
        max_property_depth: how deeply ``properties`` may nest (the object itself is 1).
        max_property_keys: how many keys ``properties`` may hold, at all levels together.
    """

    max_amount: float = 1e12
    max_input_bytes: int = 65_536
    max_property_depth: int = 8
    max_property_keys: int = 256


DEFAULT_LIMITS = Limits()


def _clean(info: ValidationInfo) -> bool:
    """Whether the JSON text the input came from cannot hold a control character."""
    return isinstance(info.context, dict) and info.context.get("clean") is True


def _limits(info: ValidationInfo) -> Limits:
    context = info.context
    limits = context.get("limits") if isinstance(context, dict) else None
    return limits if isinstance(limits, Limits) else DEFAULT_LIMITS


# C0 controls, DEL, C1 controls and lone surrogates: none can be stored as text by
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


_FREE_TEXT = frozenset({"text", "skip_reason"})


class _Frozen(BaseModel):
    # strict: no coercion (true is no integer, "yes" no boolean, 1.0 no integer).
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True,
                              strict=True)

    @model_validator(mode="after")
    def _no_controls(self, info: ValidationInfo) -> Any:
        # Once per model, not per field (a per-field validator cost a fifth of parsing),
        # and not at all when the JSON text it came from cannot hold a control character.
        if _clean(info):
            return self
        for name, value in self.__dict__.items():
            if isinstance(value, str):
                regex = _CONTROL_IN_FREE_TEXT if name in _FREE_TEXT else _CONTROL
                problem = _control_problem(value, regex)
                if problem is not None:
                    raise PydanticCustomError("control_character", "{problem}",
                                              {"field": name, "problem": problem})
        return self


class Profile(_Frozen):
    """What the source knows about the person and the company."""

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    title: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, min_length=2, max_length=2,
                                 description="ISO 3166-1 alpha-2 code (lower case is "
                                 "upper-cased)", json_schema_extra={"enum": _COUNTRY_ENUM})
    phone: str | None = Field(default=None, max_length=50)

    @field_validator("country")
    @classmethod
    def _iso_3166(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        if code not in COUNTRIES:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code "
                             "(e.g. DE, GB, US)")
        return code

    @field_validator("industry")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


class _Keyed(_Frozen):
    occurred_at: BusinessTime = Field(
        description="business time, ISO 8601 with an offset (when it happened at the source)",
        json_schema_extra={"type": "string", "format": "date-time"},
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320,
                              json_schema_extra={"format": "email"})

    _external_id = field_validator("external_id")(_identifier)

    @field_validator("email")
    @classmethod
    def _normalize_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        normalized, why = _checked_email(value)
        if normalized is None:
            raise ValueError(f"not an email address: {value!r}: {why}")
        return normalized

    @model_validator(mode="after")
    def _has_key(self) -> _Keyed:
        if self.external_id is None and self.email is None:
            raise ValueError("a lead key is required: give external_id, email or both")
        return self

    @property
    def lead_key(self) -> str:
        """The key this input is routed by (external id first, then email)."""
        return Key.of(self.external_id, self.email)[0]


class Touchpoint(_Keyed):
    """Something a lead did or was exposed to, published by a backend system."""

    touchpoint_id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=100, description="the publishing system")
    channel: Channel
    kind: str = Field(pattern=_NAME, max_length=60,
                      description="what happened, e.g. page_view, demo_requested")
    template: str | None = Field(default=None, pattern=_NAME, max_length=60)
    profile: Profile | None = None
    properties: dict[str, JsonValue] | None = None

    _touchpoint_id = field_validator("touchpoint_id")(_identifier)

    @field_validator("properties", mode="before")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        # Checked before pydantic walks the value, so depth is bounded by the limit, not
        # by a recursion limit; whatever passes, the event store (orjson) can encode,
        # PostgreSQL can hold as text and a report can show.
        if isinstance(value, dict):
            context = info.context if isinstance(info.context, dict) else {}
            _check_properties(value, _limits(info), context.get("raw"), clean=_clean(info))
        return value

    @property
    def input_id(self) -> str:
        return self.touchpoint_id


class SalesAction(_Keyed):
    """A decision a salesperson (or a CRM on their behalf) made about a lead."""

    action_id: str = Field(min_length=1, max_length=200)
    actor: str = Field(min_length=1, max_length=200)
    action: ActionKind
    stage: str | None = Field(default=None, pattern=_NAME, max_length=60)
    skip_reason: str | None = Field(
        default=None, max_length=500,
        description="required to skip stages of the template's order (advance, win)",
    )
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False,
                                 json_schema_extra={"maximum": DEFAULT_LIMITS.max_amount})
    currency: str | None = Field(default=None, min_length=3, max_length=3,
                                 description="ISO 4217 code (lower case is upper-cased)",
                                 json_schema_extra={"enum": _CURRENCY_ENUM})
    # Not strict: an enum member is given by its value (a string) in JSON.
    reason: LossReason | None = Field(default=None, strict=False)
    competitor: str | None = Field(default=None, max_length=200)
    budget: bool | None = None
    authority: bool | None = None
    need: bool | None = None
    timeline: bool | None = None
    text: str | None = Field(default=None, max_length=5000)

    _action_id = field_validator("action_id")(_identifier)

    @field_validator("amount")
    @classmethod
    def _at_most(cls, value: float | None, info: ValidationInfo) -> float | None:
        limit = _limits(info).max_amount
        if value is None:
            return None
        if value > limit:
            raise ValueError(f"{value!r} is more than the largest amount accepted ({limit:g})")
        return value + 0.0  # -0.0 (which passes ge=0) is 0.0: never printed "-0.00"

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, value: str | None) -> str | None:
        if value is None:
            return None
        code = value.upper()
        if code not in CURRENCIES:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. EUR, USD)")
        return code

    @model_validator(mode="after")
    def _fields_fit_action(self) -> SalesAction:
        needs_reason = {"lose", "disqualify", "recycle"}
        if self.action in needs_reason and self.reason is None:
            raise ValueError(f"action {self.action!r} needs a reason ({', '.join(LOSS_REASONS)})")
        if self.reason == LossReason.COMPETITOR_WON and not self.competitor:
            raise ValueError("reason 'competitor_won' needs the competitor's name")
        if self.action == "bant" and all(
            v is None for v in (self.budget, self.authority, self.need, self.timeline)
        ):
            raise ValueError("action 'bant' needs at least one of budget/authority/need/timeline")
        if self.action == "note" and not self.text:
            raise ValueError("action 'note' needs text")
        if self.amount is not None and self.currency is None:
            raise ValueError("an amount needs a currency (ISO 4217, e.g. EUR)")
        return self

    @property
    def input_id(self) -> str:
        return self.action_id


def _kind_of(value: Any) -> str | None:
    if isinstance(value, dict):
        if "action_id" in value:
            return "sales_action"
        if "touchpoint_id" in value:
            return "touchpoint"
        return None
    if isinstance(value, SalesAction):
        return "sales_action"
    if isinstance(value, Touchpoint):
        return "touchpoint"
    return None


Inbound = Annotated[
    Annotated[Touchpoint, Tag("touchpoint")] | Annotated[SalesAction, Tag("sales_action")],
    Discriminator(
        _kind_of,
        custom_error_type="input_kind",
        custom_error_message="an input needs touchpoint_id (a touchpoint) "
        "or action_id (a sales action)",
    ),
]
_INBOUND: TypeAdapter[Touchpoint | SalesAction] = TypeAdapter(Inbound)


def format_validation_error(error: ValidationError) -> str:
    """One line per problem: ``field.path: what was wrong``."""
    parts = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"] if p not in ("touchpoint", "sales_action")]
        if item["type"] == "control_character":  # found once per model: name its field
            loc.append(str(item.get("ctx", {}).get("field", "")))
        path = ".".join(loc) or "(input)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_inbound(
    data: Any, *, limits: Limits | None = None, raw: str | bytes | None = None
) -> Touchpoint | SalesAction:
    """Validates one decoded input.

    Args:
        data: the decoded input.
        limits: the contract's bounds (default: :data:`DEFAULT_LIMITS`).
        raw: the JSON text it was decoded from, if any (to tell exact integers).

    Raises:
        InvalidInput: with every field path and what was wrong with it. Nothing else:
            whatever goes wrong while validating is this input's fault.
    """
    try:
        clean = raw is not None and (
            _RAW_CONTROL.search(raw) if isinstance(raw, str) else _RAW_CONTROL_BYTES.search(raw)
        ) is None
        return _INBOUND.validate_python(
            data, context={"limits": limits or DEFAULT_LIMITS, "raw": raw, "clean": clean})
    except ValidationError as e:
        raise InvalidInput(format_validation_error(e)) from None
    except (ValueError, TypeError, ArithmeticError, RecursionError) as e:
        # pydantic reports a validator's ValueError as a ValidationError; this is what
        # escapes it (e.g. the exact re-read of a number), still the input's fault.
        raise InvalidInput(f"invalid input: {e}") from None


def parse_inbound_json(
    text: str | bytes, *, limits: Limits | None = None
) -> Touchpoint | SalesAction:
    """Decodes and validates one JSON input.

    Raises:
        InvalidInput: too large, not JSON, not an object, or not matching the contract.
    """
    limits = limits or DEFAULT_LIMITS
    # A str of n characters has at most 4n UTF-8 bytes: encode only when it may be large.
    if len(text) * (4 if isinstance(text, str) else 1) > limits.max_input_bytes:
        size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        if size > limits.max_input_bytes:
            raise InvalidInput(f"an input may have at most {limits.max_input_bytes} bytes, "
                               f"this one has {size}")
    try:
        # orjson, not json: it refuses what the event store could not encode later
        # (NaN, Infinity, lone surrogates, invalid UTF-8) instead of letting it fail a
        # whole batch.
        data = orjson.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if isinstance(text, bytes):
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as bad:
                raise InvalidInput(f"not UTF-8 ({bad}); JSON text must be UTF-8") from None
        raise InvalidInput(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"an input must be a JSON object, got {type(data).__name__}")
    _no_duplicate_keys(text)
    return parse_inbound(data, limits=limits, raw=text)


class _DuplicateKey(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return members


def _no_duplicate_keys(text: str | bytes) -> None:
    """Rejects an object that gives one key twice (orjson silently keeps the last value).

    Which value the sender meant is unknown — other parsers keep the first — so such an
    input is ambiguous and is not recorded. A second, pairs-preserving parse of text that
    orjson already accepted costs about 4 µs for a typical input.
    """
    try:
        json.loads(text, object_pairs_hook=_unique_members)
    except _DuplicateKey as e:
        raise InvalidInput(f"the key {str(e)!r} is given more than once in one object; "
                           "send each key once") from None
    except RecursionError:
        # Deeper than Python's parser goes (orjson goes to 1024): too deep for the
        # contract anyway, and parse_inbound says so with the limit.
        return
    except ValueError as e:  # orjson accepted it: should not happen
        raise InvalidInput(f"not JSON: {e}") from None


def inbound_json_schema(limits: Limits | None = None) -> dict[str, Any]:
    """The JSON Schema of one inbound object (touchpoint or sales action).

    Args:
        limits: the configured bounds (default: :data:`DEFAULT_LIMITS`); the schema
            states the largest amount and the properties' bounds it allows.
    """
    limits = limits or DEFAULT_LIMITS
    schema = _INBOUND.json_schema()
    schema["$defs"]["SalesAction"]["properties"]["amount"]["maximum"] = limits.max_amount
    schema["$defs"]["Touchpoint"]["properties"]["properties"]["description"] = (
        f"free-form data: at most {limits.max_property_depth} levels deep and "
        f"{limits.max_property_keys} keys, integers within 64 bits; the whole input at "
        f"most {limits.max_input_bytes} bytes")
    schema["$defs"]["Touchpoint"]["properties"]["properties"]["maxProperties"] = (
        limits.max_property_keys)
    for model in schema["$defs"].values():
        for name, field in model.get("properties", {}).items():
            for option in field.get("anyOf", [field]):
                if option.get("type") == "string" and "pattern" not in option:
                    option["pattern"] = _PATTERN_FREE_TEXT if name in _FREE_TEXT else _PATTERN
    schema["title"] = "Lead lifecycle inbound input"
    schema["$comment"] = (
        "An object with touchpoint_id is a Touchpoint; one with action_id is a SalesAction."
    )
    return schema
