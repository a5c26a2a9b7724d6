"""Event-sourced lead lifecycle engine.

Touchpoints and sales actions go in; every lead is an event-sourced aggregate that turns
them into lifecycle facts; projections and reports read those facts.

This module is the library's public API; the names in ``__all__`` are what a program
that embeds the engine needs, and they keep their meaning across releases:

- the application: :func:`build_application` wires a :class:`LeadLifecycle` from
  :class:`Settings` (every field also read from ``LIFECYCLE_<FIELD>``);
  :meth:`LeadLifecycle.record` / ``record_batch`` return a :class:`Result` per input
  (its ``outcome``: ``accepted``, ``duplicate`` or ``rejected``, with a ``code``);
- the inbound contract: :class:`Touchpoint`, :class:`SalesAction` (with its
  :class:`LossReason`), :class:`Profile`, :class:`Limits`, and :func:`parse_inbound` /
  :func:`parse_inbound_json` / :func:`inbound_json_schema` (see :mod:`lifecycle.contracts`);
- the errors: :class:`LifecycleError` and its tree (drawn in :mod:`lifecycle.errors`).

Example::

    import lifecycle

    app = lifecycle.build_application(lifecycle.Settings(database_url="sqlite:///leads.db"))
    try:
        result = app.record(lifecycle.parse_inbound_json(line))
    except lifecycle.InvalidInput as e:
        print(e.code, e)

Importing ``lifecycle`` imports the errors only (the standard library's share); the
application, settings and contracts are imported on first use of their names, so a
program that needs the errors or the version does not load the engine, and no module of
the engine imports a half-initialised ``lifecycle``.

Everything else (``lifecycle.application``'s helpers, ``persistence``, ``recorders``,
``chain``, ``privacy``, ``projections``, ``adapters``, ``worker_engine``, ...) is the
engine's internals: importable, used by the CLI and the tests, but no promise to a
library user. The ``lifecycle`` command (:mod:`lifecycle.cli`) and the Kafka publisher
(:mod:`lifecycle.client`) are documented entry points of their own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Every error of the tree in lifecycle.errors is public: its __all__ is part of ours.
from lifecycle import errors
from lifecycle.errors import *  # noqa: F403

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle, Result, build_application
    from lifecycle.contracts import (
        Limits,
        LossReason,
        Profile,
        SalesAction,
        Touchpoint,
        inbound_json_schema,
        parse_inbound,
        parse_inbound_json,
    )
    from lifecycle.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "LeadLifecycle",
    "Limits",
    "LossReason",
    "Profile",
    "Result",
    "SalesAction",
    "Settings",
    "Touchpoint",
    "__version__",
    "build_application",
    "inbound_json_schema",
    "parse_inbound",
    "parse_inbound_json",
]
__all__ += errors.__all__

# Where each lazily imported name lives. Lazy: importing the application loads
# eventsourcing, both database drivers and the aggregate (about a second), which
# ``import lifecycle`` for the version or an error class should not cost.
_LAZY = {
    "LeadLifecycle": "lifecycle.application",
    "Result": "lifecycle.application",
    "build_application": "lifecycle.application",
    "Settings": "lifecycle.settings",
    "Limits": "lifecycle.contracts",
    "LossReason": "lifecycle.contracts",
    "Profile": "lifecycle.contracts",
    "SalesAction": "lifecycle.contracts",
    "Touchpoint": "lifecycle.contracts",
    "inbound_json_schema": "lifecycle.contracts",
    "parse_inbound": "lifecycle.contracts",
    "parse_inbound_json": "lifecycle.contracts",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
