"""The engine's exception tree.

Every error a user can cause carries a message that says what was attempted and
what to do about it::

    LifecycleError
    ├── AnchorInvalid               an audit anchor file cannot be trusted or read
    ├── ConfigError                 a template or scoring file is invalid
    ├── ErasureIncomplete           a key is deleted, but a copy may remain: erase again
    ├── InputRejected               an input cannot be applied (kept as a reject)
    │   ├── InvalidInput            it does not match the contract
    │   │   └── ImplausibleTime     its business time is outside the plausible window
    │   ├── LeadNotFound            a sales action names a lead nobody captured
    │   ├── UnknownTemplate         a touchpoint names a template that is not loaded
    │   ├── LeadErased              the lead was erased; nothing more is recorded
    │   └── IllegalTransition       the lead's state machine forbids it
    └── (persistence errors come from eventsourcing and are not wrapped)
"""

from __future__ import annotations

__all__ = [
    "AnchorInvalid",
    "ConfigError",
    "ErasureIncomplete",
    "IllegalTransition",
    "ImplausibleTime",
    "InputRejected",
    "InvalidInput",
    "LeadErased",
    "LeadNotFound",
    "LifecycleError",
    "UnknownTemplate",
]


class LifecycleError(Exception):
    """Base class of every error raised by the engine on purpose."""


class AnchorInvalid(LifecycleError):
    """An audit anchor file is unreadable, altered, or keyed with another key.

    Nothing about the store follows from it: verify against another copy of the anchor
    (or with the right ``LIFECYCLE_AUDIT_KEY``).
    """


class ConfigError(LifecycleError):
    """A configuration file (template, scoring) is missing or invalid."""


class ErasureIncomplete(LifecycleError):
    """A lead's key was deleted, but a copy of it may remain on disk; erase again."""


class InputRejected(LifecycleError):
    """An input cannot be applied; it is kept with this reason and counted.

    Attributes:
        code: a short machine-readable reason (``schema``, ``unknown_lead``, ...).
    """

    code = "rejected"


class InvalidInput(InputRejected):
    """The input does not match the published contract."""

    code = "schema"


class ImplausibleTime(InvalidInput):
    """The input's business time lies outside the window the engine accepts.

    A timestamp in year 1 or 9999 is a bug at the source, and accepting it would poison
    decay, cooling and nurture dates for the lead; see ``LIFECYCLE_EARLIEST_BUSINESS_TIME``
    and ``LIFECYCLE_MAX_FUTURE_SKEW``.
    """

    code = "implausible_time"


class LeadNotFound(InputRejected):
    """A sales action names a lead that was never captured."""

    code = "unknown_lead"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"no lead is known by {key!r}: a lead is created by its first touchpoint, "
            "so send one (or check the external_id / email) before sales actions"
        )
        self.key = key


class UnknownTemplate(InputRejected):
    """A touchpoint names a funnel template that is not loaded."""

    code = "unknown_template"

    def __init__(self, name: str, *, known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown funnel template {name!r}; loaded templates: {', '.join(known)}"
        )
        self.name = name


class LeadErased(InputRejected):
    """The lead was erased under data-protection law; it takes no more input."""

    code = "lead_erased"


class IllegalTransition(InputRejected):
    """The lead's state machine does not allow the attempted command.

    Attributes:
        action: what was attempted (``win``, ``advance to 'trial'``, ...).
        stage: the lead's stage when it was attempted.
    """

    code = "illegal_transition"

    def __init__(self, *, action: str, stage: str, why: str) -> None:
        super().__init__(f"cannot {action} a lead in stage {stage!r}: {why}")
        self.action = action
        self.stage = stage
