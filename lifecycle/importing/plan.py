"""A whole file's import: every row mapped or rejected, each lead's rows in time order,
then recorded through the engine's ordinary ingest path.

:func:`plan_import` reads and maps without touching any database (``--dry-run`` prints
its plan); :func:`run_import` records a plan with :func:`lifecycle.ingest.ingest_lines`,
as ``lifecycle ingest`` records JSONL: the same validation, batching, duplicates, reject
file and accounting. A row that cannot be mapped counts as one received input, rejected
(code ``mapping`` or ``schema``); so ``accepted + duplicate + rejected = received`` holds
for an import as for an ingest, and each reject names its CSV row (in the reject file's
``line``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifecycle.contracts import Limits
from lifecycle.errors import ConfigError
from lifecycle.importing.mapping import Mapping, Spec
from lifecycle.importing.reading import CsvRow, CsvTable, read_csv
from lifecycle.importing.rows import MappedRow, RowRejected, map_row
from lifecycle.ingest import IngestSummary, RejectWriter, ingest_lines

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["ImportPlan", "plan_import", "run_import"]


@dataclass
class ImportPlan:
    """What a file becomes: mapped rows (each lead's together, in time order), rejected
    rows with their reasons, and warnings about the file."""

    table: CsvTable
    mapped: list[MappedRow]
    rejected: list[tuple[CsvRow, RowRejected]]
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> Iterator[tuple[int, str, int]]:
        """(CSV row, input JSON, size) for :func:`lifecycle.ingest.ingest_lines`."""
        for row in self.mapped:
            for item in row.inputs:
                yield row.number, item.text, len(item.text.encode("utf-8"))

    def counts(self) -> dict[str, Any]:
        """Rows, leads and inputs by kind: what would be created (or found duplicate)."""
        touchpoints: Counter[str] = Counter()
        actions: Counter[str] = Counter()
        for row in self.mapped:
            for item in row.inputs:
                (touchpoints if item.what == "touchpoint" else actions)[item.kind] += 1
        return {
            "rows": len(self.mapped) + len(self.rejected),
            "rows_mapped": len(self.mapped),
            "rows_rejected": len(self.rejected),
            "blank_rows": self.table.blank,
            "leads": len({row.lead for row in self.mapped}),
            "inputs": touchpoints.total() + actions.total(),
            "touchpoints": dict(sorted(touchpoints.items())),
            "actions": dict(sorted(actions.items())),
        }

    def examples(self, count: int) -> list[dict[str, Any]]:
        """The inputs of the first ``count`` rows of the file, as they would be sent."""
        first = sorted(self.mapped, key=lambda row: row.number)[:count]
        return [{"row": row.number, "inputs": [json.loads(i.text) for i in row.inputs]}
                for row in first]

    def rejects(self) -> list[dict[str, Any]]:
        return [{"row": row.number, "code": why.code, "reason": str(why)}
                for row, why in self.rejected]


def plan_import(data: bytes, mapping: Mapping, *, limits: Limits,
                name: str = "the file") -> ImportPlan:
    """Reads and maps a whole CSV file; touches no database.

    Args:
        data: the file's bytes.
        mapping: the mapping.
        limits: the contract's bounds (as the engine will check them).
        name: the file's name, for messages.

    Raises:
        ConfigError: the header has none of the mapping's key columns (no row could be
            imported).
    """
    csv = mapping.csv
    table = read_csv(data, delimiter=csv.delimiter, encoding=csv.encoding,
                     fallback=csv.fallback_encoding)
    header = set(table.header)
    keys = [c for c in (mapping.key.external_id, mapping.key.email) if c]
    if not header & set(keys):
        raise ConfigError(
            f"{name}: its header has none of the key columns {', '.join(map(repr, keys))} "
            f"(delimiter {table.delimiter!r}; its columns: "
            f"{', '.join(map(repr, table.header[:30])) or 'none'})")
    warnings = list(table.warnings)
    missing = [f"{column!r} ({where})" for where, column in _columns(mapping)
               if column not in header]
    if missing:
        warnings.append(f"columns not in {name}, read as empty: {', '.join(missing)}")
    if table.fallback_decoded:
        warnings.append(f"{table.fallback_decoded} rows are not {csv.encoding}: read as "
                        f"{csv.fallback_encoding}")
    mapped: list[MappedRow] = []
    rejected: list[tuple[CsvRow, RowRejected]] = []
    for row in table.rows:
        try:
            mapped.append(map_row(mapping, row, limits=limits))
        except RowRejected as e:
            rejected.append((row, e))
    return ImportPlan(table, _in_lead_order(mapped), rejected, warnings)


def _in_lead_order(rows: list[MappedRow]) -> list[MappedRow]:
    """Each lead's rows together (leads in the order they first appear), in business
    time order (ties in file order): a later row's touchpoint must not capture a lead
    before its earliest row's."""
    leads: dict[str, list[MappedRow]] = {}
    for row in rows:
        leads.setdefault(row.lead, []).append(row)
    return [row for group in leads.values()
            for row in sorted(group, key=lambda r: (r.at, r.number))]


_COLUMN_FIELDS = frozenset({
    "external_id", "email", "record_id", "date", "name", "first_name", "last_name", "company",
    "industry", "employees", "title", "country", "phone", "amount", "reason", "competitor",
    "text"})


def _columns(mapping: Mapping) -> Iterator[tuple[str, str]]:
    """(where in the mapping, column) for every column the mapping reads."""
    for section in ("key", "capture", "profile", "mql", "sql", "won", "lost"):
        for name, value in getattr(mapping, section):
            column = value.column if isinstance(value, Spec) else (
                value if name in _COLUMN_FIELDS else None)
            if isinstance(column, str):
                yield f"{section}.{name}", column
    for name, value in mapping.import_:
        if getattr(value, "column", None):
            yield f"import.{name}", value.column
    for column in mapping.properties:
        yield "properties", column
    for i, status in enumerate(mapping.status):
        yield f"status[{i}]", status.column


def run_import(app: LeadLifecycle, plan: ImportPlan, rejects: RejectWriter, *,
               after_batch: Callable[[], object] | None = None) -> IngestSummary:
    """Records a plan: its rejected rows to ``rejects``, its inputs through the engine.

    Returns:
        The accounting, rejected rows included (each one input received and rejected).
    """
    for row, why in plan.rejected:
        rejects.write(row.number, why.code, str(why), row.raw)
    def advance() -> None:
        if after_batch is not None:
            after_batch()

    summary = ingest_lines(app, plan.lines(), rejects, batch_size=app.settings.batch_size,
                           after_batch=advance)
    summary.received += len(plan.rejected)
    summary.rejected += len(plan.rejected)
    return summary
