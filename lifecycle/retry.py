"""Recording a batch while other processes write to the same database.

Two ``lifecycle ingest`` runs (or an ingest and a policy run) may change the same lead
between one's read and its save. eventsourcing then refuses the save with an
``IntegrityError`` (the lead's next version exists already) and nothing of the batch is
stored; :meth:`LeadLifecycle.record_batch` evicts the batch's leads and is safe to call
again with the same items. On SQLite a writer that holds the database past the busy
timeout shows as "database is locked"; that is waited out the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

from eventsourcing.persistence import IntegrityError

from lifecycle.application import LeadLifecycle, Result
from lifecycle.contracts import SalesAction, Touchpoint

__all__ = ["BATCH_ATTEMPTS", "record_batch_retrying"]

BATCH_ATTEMPTS = 12
"""How often one batch is tried while other writers keep changing its leads (the
pauses between tries add up to about 10 s). Measured with three ``ingest`` runs of 3,000
inputs each on 200 shared leads: at most 21 retries per run in batches of 20 (PostgreSQL),
3 in batches of 500; no batch needed more than a few."""


def record_batch_retrying(
    app: LeadLifecycle, items: Sequence[Touchpoint | SalesAction]
) -> list[Result]:
    """``app.record_batch(items)``, again while another writer gets in the way.

    Before each new try every cache of ``app`` is emptied, so the batch is applied to
    the leads as stored now (an input the other writer recorded meanwhile becomes a
    duplicate). Pauses double, with jitter, so writers that collided do not collide again
    in step.

    Raises:
        eventsourcing.persistence.IntegrityError: the batch still conflicted on its last
            try (or the database stayed locked: ``OperationalError``).
    """
    pause = 0.02
    for _ in range(BATCH_ATTEMPTS - 1):
        try:
            return app.record_batch(items)
        except Exception as e:
            if not (isinstance(e, IntegrityError) or app.event_storage.is_busy(e)):
                raise
        app.evict()
        time.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, 2.0)
    return app.record_batch(items)
