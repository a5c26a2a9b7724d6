"""Storage adapters: the only place that knows which database the engine runs on.

One module per backend (:mod:`lifecycle.adapters.sqlite`, :mod:`lifecycle.adapters.postgres`)
implements the small protocol of :mod:`lifecycle.adapters.protocol`; everything else in the
engine (the chain, privacy, the projection runner, audit) is backend-free code over it.
:func:`adapter_for` picks the implementation from a database URL.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from lifecycle.adapters.protocol import EventStorage

if TYPE_CHECKING:
    from lifecycle.settings import Settings

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------

# A backend is a module of this package with ``SCHEMES`` (the URL prefixes it serves),
# ``ERRORS`` (its driver's error classes) and ``EVENTS`` (its EventStorage class): adding
# one is adding its module. Backends are imported when first asked for, not with this
# package: the chain, persistence and privacy modules the adapters build on import the
# protocol from here.

__all__ += ["EventStorage", "adapter_for", "backends", "driver_errors"]


@cache
def backends() -> tuple[ModuleType, ...]:
    """The backend modules of this package, by name."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name != "protocol":
            module = importlib.import_module(f"{__name__}.{info.name}")
            if hasattr(module, "SCHEMES"):
                found.append(module)
    return tuple(found)


def adapter_for(database: str | Settings) -> EventStorage:
    """The event storage of the database at ``database`` (a URL, or the settings naming
    it).

    Raises:
        ConfigError: no backend serves that URL.
    """
    url = database if isinstance(database, str) else database.database_url
    for module in backends():
        if url.startswith(module.SCHEMES):
            storage: EventStorage = module.EVENTS(url)
            return storage
    from lifecycle.settings import persistence_env

    persistence_env(url)  # says what a URL must look like
    raise AssertionError(f"no storage adapter for {url!r}")  # pragma: no cover


def driver_errors() -> tuple[type[Exception], ...]:
    """The error classes of every backend's driver (the store's failures, never an
    input's)."""
    return tuple(error for module in backends() for error in module.ERRORS)


# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------
