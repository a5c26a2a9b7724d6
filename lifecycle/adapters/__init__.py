"""Storage adapters: the only place that knows which database the engine runs on.

One module per backend (:mod:`lifecycle.adapters.sqlite`, :mod:`lifecycle.adapters.postgres`)
implements the small protocol of :mod:`lifecycle.adapters.protocol`; everything else in the
engine (the chain, privacy, the projection runner, audit) is backend-free code over it.
:func:`adapter_for` picks the implementation from a database URL.
"""

from __future__ import annotations

__all__: list[str] = []

# ---------------------------------------------------------------------------------------
# event log, events of leads, inputs index, chain heads, key store (storage-events)
# ---------------------------------------------------------------------------------------




# ---------------------------------------------------------------------------------------
# notification log, projection tables with positions, leadership (storage-projections)
# ---------------------------------------------------------------------------------------
