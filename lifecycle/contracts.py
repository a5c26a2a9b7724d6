"""What crosses the engine's boundary: the inbound contract.

Backend systems send one JSON object per input. An object with ``touchpoint_id`` is a
:class:`Touchpoint` (something the lead did or was exposed to); an object with
``action_id`` is a :class:`SalesAction` (something a salesperson decided). Both are
frozen pydantic models that reject unknown fields, so a typo is an error, not a silently
dropped value. ``lifecycle schema`` prints the JSON Schema generated from here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.errors import InvalidInput

__all__ = [
    "CHANNELS",
    "LOSS_REASONS",
    "REASON_TAXONOMY_VERSION",
    "ActionKind",
    "Inbound",
    "LossReason",
    "Profile",
    "SalesAction",
    "Touchpoint",
    "format_validation_error",
    "inbound_json_schema",
    "parse_inbound",
    "parse_inbound_json",
]

REASON_TAXONOMY_VERSION = 1
"""Version of :class:`LossReason`; carried in every event that names a reason."""


class LossReason(StrEnum):
    """Why a lead was lost, disqualified or recycled (taxonomy version 1)."""

    NEED_MISMATCH = "need_mismatch"
    COMPETITOR_WON = "competitor_won"
    NO_BUDGET = "no_budget"
    DECISION_POSTPONED = "decision_postponed"
    NO_RESPONSE = "no_response"
    INVALID_LEAD = "invalid_lead"
    OTHER = "other"


LOSS_REASONS: tuple[str, ...] = tuple(r.value for r in LossReason)

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


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Profile(_Frozen):
    """What the source knows about the person and the company."""

    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    title: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, min_length=2, max_length=2,
                                description="ISO 3166-1 alpha-2 code")
    phone: str | None = Field(default=None, max_length=50)

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

    @field_validator("industry")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


class _Keyed(_Frozen):
    occurred_at: AwareDatetime = Field(
        description="business time, ISO 8601 with an offset (when it happened at the source)"
    )
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)

    @field_validator("email")
    @classmethod
    def _normalize_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        local, at, domain = value.partition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _has_key(self) -> _Keyed:
        if self.external_id is None and self.email is None:
            raise ValueError("a lead key is required: give external_id, email or both")
        return self

    @property
    def lead_key(self) -> str:
        """The key this input is routed by (external id first, then email)."""
        return f"external:{self.external_id}" if self.external_id else f"email:{self.email}"


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

    @field_validator("properties")
    @classmethod
    def _storable(cls, value: dict[str, JsonValue] | None) -> dict[str, JsonValue] | None:
        # The event store encodes events with orjson: a value it cannot encode (an
        # integer beyond 64 bits, nesting past its depth limit) must be rejected here,
        # not fail the whole batch at save time. Wrapped once, as inside an event.
        if value is not None:
            try:
                orjson.dumps([value])
            except orjson.JSONEncodeError as e:
                raise ValueError(f"cannot be stored: {e}") from None
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
    amount: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    reason: LossReason | None = None
    competitor: str | None = Field(default=None, max_length=200)
    budget: bool | None = None
    authority: bool | None = None
    need: bool | None = None
    timeline: bool | None = None
    text: str | None = Field(default=None, max_length=5000)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value is not None else None

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
        path = ".".join(loc) or "(input)"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)


def parse_inbound(data: Any) -> Touchpoint | SalesAction:
    """Validates one decoded input.

    Raises:
        InvalidInput: with every field path and what was wrong with it.
    """
    try:
        return _INBOUND.validate_python(data)
    except ValidationError as e:
        raise InvalidInput(format_validation_error(e)) from None


def parse_inbound_json(text: str | bytes) -> Touchpoint | SalesAction:
    """Decodes and validates one JSON input.

    Raises:
        InvalidInput: not JSON, not an object, or not matching the contract.
    """
    try:
        # orjson, not json: it refuses what the event store could not encode later
        # (NaN, Infinity, lone surrogates) instead of letting it fail a whole batch.
        data = orjson.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(f"not JSON: {e}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"an input must be a JSON object, got {type(data).__name__}")
    return parse_inbound(data)


def inbound_json_schema() -> dict[str, Any]:
    """The JSON Schema of one inbound object (touchpoint or sales action)."""
    schema = _INBOUND.json_schema()
    schema["title"] = "Lead lifecycle inbound input"
    schema["$comment"] = (
        "An object with touchpoint_id is a Touchpoint; one with action_id is a SalesAction."
    )
    return schema
