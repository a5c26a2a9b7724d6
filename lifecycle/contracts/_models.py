"""The inbound contract's models: :class:`Touchpoint`, :class:`SalesAction`, :class:`Profile`.

Private module: import these names from :mod:`lifecycle.contracts`, whose docstring states
the contract's rules. Here live the pydantic models, the loss-reason taxonomy and the
bounds (:class:`Limits`) a deployment may change; the checks they call are in
:mod:`lifecycle.contracts._checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lifecycle.aggregates.values import LOSS_REASONS, Key, LossReason
from lifecycle.contracts._checks import (
    _CONTROL,
    _CONTROL_IN_FREE_TEXT,
    _CURRENCY_ENUM,
    CURRENCIES,
    BusinessTime,
    _check_properties,
    _checked_email,
    _control_problem,
    _identifier,
)
from lifecycle.vocabulary import country_code, token

CHANNELS: tuple[str, ...] = ("seo", "paid_search", "social", "content", "webinar", "email",
                             "event", "referral", "direct", "partner", "other")
"""The channels the engine's own templates, demo and reports know; a touchpoint may name
any other (its own vocabulary: see :func:`lifecycle.vocabulary.token`)."""

Channel = str
"""A channel: any token (``Organic Search`` is recorded as ``organic_search``)."""

ActionKind = Literal[
    "qualify", "accept", "advance", "bant", "win", "lose", "disqualify", "recycle", "reopen",
    "note",
]

_NAME = r"^[a-z][a-z0-9_]*$"
_TOKEN = r"^[a-z0-9][a-z0-9_]*$"


def _token(value: Any) -> Any:
    """A user's word as a token (``"SMS Sent"`` → ``sms_sent``); the field's pattern then
    rejects what has no letter or digit left."""
    return token(value) if isinstance(value, str) else value


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


def _known_code(value: str | None, codes: frozenset[str], what: str) -> str | None:
    """``value`` upper-cased if it is one of ``codes`` (None stays None); else the error
    says it is not ``what``."""
    if value is None:
        return None
    code = value.upper()
    if code not in codes:
        raise ValueError(f"{value!r} is not {what}")
    return code


# C0 controls, DEL, C1 controls and lone surrogates: none can be stored as text by


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
    country: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="ISO 3166-1 alpha-2 or alpha-3 code or a country's name, recorded as "
        "its alpha-2 code; a value that names no country is kept as given (and counted as "
        "unmatched)")
    phone: str | None = Field(default=None, max_length=50)

    @field_validator("country")
    @classmethod
    def _iso_3166(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return country_code(value) or value

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

    properties: dict[str, JsonValue] | None = Field(
        default=None, description="the source's own fields (segment, lead type, seconds on "
        "site, ...): stored with the lead, shown in its history and exports, usable as a "
        "report dimension (property:NAME) and as a scoring signal")

    _external_id = field_validator("external_id")(_identifier)

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
    channel: str = Field(min_length=1, max_length=60, pattern=_TOKEN,
                         description="where it came from: any word of the source's own "
                         "(recorded as a token: 'Organic Search' is organic_search)")
    kind: str = Field(min_length=1, pattern=_TOKEN, max_length=60,
                      description="what happened, e.g. page_view, demo_requested, sms_sent "
                      "(recorded as a token: 'SMS Sent' is sms_sent)")
    template: str | None = Field(default=None, pattern=_NAME, max_length=60)
    profile: Profile | None = None

    _touchpoint_id = field_validator("touchpoint_id")(_identifier)
    _tokens = field_validator("channel", "kind", mode="before")(_token)

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
    rule: str | None = Field(default=None, min_length=1, max_length=100, pattern=_TOKEN,
                             description="qualify only: the rule or list that qualified "
                             "the lead (default 'manual')")

    _action_id = field_validator("action_id")(_identifier)
    _rule = field_validator("rule", mode="before")(_token)

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
        return _known_code(value, CURRENCIES, "an ISO 4217 currency code (e.g. EUR, USD)")

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
        if self.rule is not None and self.action != "qualify":
            raise ValueError(f"rule is only for action 'qualify', not {self.action!r}")
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
