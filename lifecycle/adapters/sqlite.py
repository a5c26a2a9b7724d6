"""The sqlite storage adapter: see :mod:`lifecycle.adapters`."""

from __future__ import annotations

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------
