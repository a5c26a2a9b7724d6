"""History import: a CRM's CSV export, through a mapping, into the engine's inputs.

``lifecycle import FILE.csv --mapping MAP.toml`` reads the file (:mod:`.reading`: any
delimiter, encoding accidents, broken rows), maps each row to a capture touchpoint and
its lifecycle history (:mod:`.rows`, by the mapping of :mod:`.mapping`; presets for
HubSpot and Salesforce exports ship in ``presets/``), and records the inputs through the
ordinary ingest path (:mod:`.plan`). Input ids come from the row, so an import run twice
creates nothing the second time. ``docs/bring-your-own-data.md`` is the user's guide.

Errors: a mapping that cannot be used is a :class:`~lifecycle.errors.ConfigError`
(naming the file and the key); a row that cannot be mapped is rejected (counted, and
written to the reject file with its row number), never a stop.
"""

from __future__ import annotations

from lifecycle.importing.mapping import PRESETS, Mapping, load_mapping
from lifecycle.importing.plan import ImportPlan, plan_import, run_import

__all__ = ["PRESETS", "ImportPlan", "Mapping", "load_mapping", "plan_import", "run_import"]
