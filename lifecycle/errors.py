"""The engine's exception tree: every error the ``lifecycle`` package raises on purpose.

Every error a user can cause carries a message that says what was attempted and what to
do about it; an :class:`InputRejected` also carries a machine-readable ``code`` (the
reason a reject is counted under). Context that a caller may act on is an attribute,
given to the constructor by keyword (``IdConflict(id_field=..., input_id=..., ...)``);
the message is built from it, so it is worded the same wherever the error is raised::

    LifecycleError                  base: catch it to catch every error raised on purpose
    ├── AnchorInvalid               an audit anchor file cannot be trusted or read
    ├── ConfigError                 a setting, template, scoring or rates file is invalid
    ├── ErasureIncomplete           a key is deleted, but a copy may remain: erase again
    ├── EngineError                 the worker's engine process failed a request, or died
    ├── ModelTampered               stored or imported model bytes fail their hash: refused
    ├── NotEnoughOutcomes           too few won or not-won leads to train a model
    ├── PublishError                the broker did not take a message
    └── InputRejected               an input cannot be applied: kept as a reject  (code)
        ├── InvalidInput            it does not match the contract          schema
        │   └── ImplausibleTime     its business time is implausible        implausible_time
        ├── LeadNotFound            it names a lead nobody captured         unknown_lead
        ├── UnknownTemplate         it names a template that is not loaded  unknown_template
        ├── LeadErased              its lead was erased: no more input      lead_erased
        ├── IdConflict              its id names another input or lead      id_conflict
        ├── IdentityConflict        its keys name two different leads       identity_conflict
        └── IllegalTransition       the lead's state machine forbids it     illegal_transition

Not in the tree, on purpose:

- persistence errors come from eventsourcing and the database drivers unwrapped
  (``eventsourcing.persistence.PersistenceError`` and its subclasses, ``sqlite3`` and
  ``psycopg`` errors, ``OSError`` for a full disk); the CLI turns them into one line and
  exit status 3 (:mod:`lifecycle.cli.failures`). A stored event that cannot be decoded
  (altered, or sealed with another lead's key) is eventsourcing's
  ``MapperDeserialisationError``.
- :class:`pydantic.ValidationError` from building :class:`~lifecycle.settings.Settings`
  with invalid values (the CLI reports it like a :class:`ConfigError`).
- ``ValueError`` / ``TypeError`` for a wrong argument of a Python call (an unknown
  report name, a negative count for the demo): a bug in the caller, not an input.
- ``LookupError`` / ``RuntimeError`` for a broken invariant of the store (a lead
  without a key; an aggregate that emitted before rejecting): a bug or a damaged
  store, never a user's input.
- ``click`` exceptions for a command line the ``lifecycle`` command cannot use.

A line too long to be an input is no error either: :func:`lifecycle.ingest.read_lines`
yields it as an :class:`~lifecycle.ingest.OversizedLine` and the ingest rejects it with
code ``schema``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

__all__ = [
    "AnchorInvalid",
    "ConfigError",
    "EngineError",
    "ErasureIncomplete",
    "IdConflict",
    "IdentityConflict",
    "IllegalTransition",
    "ImplausibleTime",
    "InputRejected",
    "InvalidInput",
    "LeadErased",
    "LeadNotFound",
    "LifecycleError",
    "ModelTampered",
    "NotEnoughOutcomes",
    "PublishError",
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
    """A setting or a configuration file (template, scoring, rates) is missing or invalid."""


class EngineError(LifecycleError):
    """A distributed worker's engine failed a request, or its process is gone.

    The batch it was given is not committed: the worker stops, and the partitions'
    messages are read again from the stored offsets by whichever worker takes them.
    """


class ErasureIncomplete(LifecycleError):
    """A lead's key was deleted, but a copy of it may remain on disk; erase again."""


class ModelTampered(LifecycleError):
    """Stored or imported model bytes whose hash is not the one they were stored under,
    or that are no model artifact: refused, never loaded."""


class NotEnoughOutcomes(LifecycleError):
    """Too few closed leads of a class to train a model (the message says how many
    there are, how many are needed, and why)."""


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
    """A sales action (or a command) names a lead that was never captured.

    Args:
        key: the lead key or id it was looked up by; kept as :attr:`key`.
    """

    code = "unknown_lead"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"no lead is known by {key!r}: a lead is created by its first touchpoint, "
            "so send one (or check the external_id / email) before sales actions"
        )
        self.key = key


class UnknownTemplate(InputRejected):
    """A touchpoint names a funnel template that is not loaded.

    Args:
        name: the template it names; kept as :attr:`name`.
        known: the templates that are loaded (the message lists them).
    """

    code = "unknown_template"

    def __init__(self, name: str, *, known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown funnel template {name!r}; loaded templates: {', '.join(known)}"
        )
        self.name = name


class LeadErased(InputRejected):
    """The lead was erased under data-protection law; it takes no more input."""

    code = "lead_erased"


class IdConflict(InputRejected):
    """An input reuses a ``touchpoint_id`` / ``action_id`` that already names another
    input: other content, or another lead. Ids are global and name one input for good.

    Every argument is keyword-only and kept as the attribute of its name.

    Attributes:
        id_field: ``touchpoint_id`` or ``action_id``.
        input_id: the id.
        recorded_lead: the lead the id was recorded for.
        lead_id: the lead this input's keys point to (None: no lead yet).
        differs: the fields whose content differs from the recorded input (dotted
            paths, e.g. ``profile.name``); empty when only the lead differs.
    """

    code = "id_conflict"

    def __init__(self, *, id_field: str, input_id: str, recorded_lead: UUID,
                 lead_id: UUID | None, differs: Sequence[str]) -> None:
        fields = ", ".join(differs)
        if lead_id == recorded_lead:
            why = (f"{id_field} {input_id!r} was already recorded for lead {recorded_lead} "
                   f"with other content (differs in: {fields}); an id names one input for "
                   f"good: resend the original unchanged, or give the changed input its own "
                   f"{id_field}")
        else:
            target = "no lead yet" if lead_id is None else f"lead {lead_id}"
            also = f"; its content differs too (in: {fields})" if differs else ""
            why = (f"{id_field} {input_id!r} is already recorded for lead {recorded_lead}, "
                   f"but this input's keys point to {target}{also}; ids are global, not per "
                   f"lead: give this input its own {id_field}")
        super().__init__(why)
        self.id_field = id_field
        self.input_id = input_id
        self.recorded_lead = recorded_lead
        self.lead_id = lead_id
        self.differs = tuple(differs)


class IdentityConflict(InputRejected):
    """The input's lead keys (external id and email) belong to two different leads.

    Args:
        leads: which key points where; kept (as a dict) as :attr:`leads`.

    Attributes:
        leads: which key points where (``{"external_id": …, "email": …}``).
    """

    code = "identity_conflict"

    def __init__(self, *, leads: Mapping[str, UUID]) -> None:
        where = ", ".join(f"its {key} belongs to lead {lead}" for key, lead in leads.items())
        super().__init__(
            f"the input's keys name different leads ({where}); one input is for one lead: "
            "send it with the key of the lead it is for, or set "
            "LIFECYCLE_IDENTITY_CONFLICT=first_key to apply such inputs to the lead of "
            "their external_id"
        )
        self.leads = dict(leads)


class IllegalTransition(InputRejected):
    """The lead's state machine does not allow the attempted command.

    Args:
        action: what was attempted (``win``, ``advance to 'trial'``, ...).
        stage: the lead's stage when it was attempted.
        why: what the state machine requires instead (the message ends with it).

    Attributes:
        action: as given.
        stage: as given.
        why: as given.
    """

    code = "illegal_transition"

    def __init__(self, *, action: str, stage: str, why: str) -> None:
        super().__init__(f"cannot {action} a lead in stage {stage!r}: {why}")
        self.action = action
        self.stage = stage
        self.why = why


class PublishError(LifecycleError):
    """Kafka did not take a message of the publisher SDK (:mod:`streams.client`): the
    broker could not be reached, refused it, or did not acknowledge it after the
    producer's own retries. Publishing the same inputs again is safe (ids make them
    duplicates)."""
