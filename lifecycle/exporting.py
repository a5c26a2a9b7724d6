"""Export every lead with its scores: one row per lead, as JSON lines or CSV.

Rows are streamed: lead ids come from the funnel projection (``lc_leads``, by capture
time), the leads themselves from the event store :data:`~lifecycle.people.BATCH` at a
time (:func:`lifecycle.people.leads_with_events`, personal fields decrypted, an erased
lead's read as ``(erased)``), so memory holds one batch whatever the number of leads.
Scores are those of ``lifecycle lead show`` (:func:`lifecycle.views.lead_summary`):
behaviour and total decayed to the moment asked for; with an active model, its
``predicted`` probability at that moment, one prediction call per batch of leads.

Filtering (``--where``) is a small language, parsed (never evaluated as code)::

    EXPR  := COND ("," COND)*           every condition must hold (AND)
    COND  := FIELD OP VALUE
    FIELD := a column of COLUMNS, or property:NAME (a property of the lead)
    OP    := =  !=  >  >=  <  <=  ~     (~: contains, ignoring case)
    VALUE := text up to the next "," (spaces around it dropped), or "double quoted"
             (\\" and \\\\ inside), which may hold commas

``=``, ``!=`` and ``~`` compare text, ignoring case (``true``/``false`` for yes/no
columns; an empty value matches a missing one); ``>``, ``>=``, ``<``, ``<=`` compare
numbers, or times for ``last_touch`` and ``captured_at`` (an ISO 8601 date or time).
A row without the value never satisfies an ordering. Examples: ``stage=mql``,
``grade!=cold,total>=50``, ``property:segment="SMB, EU"``, ``captured_at>=2024-01-01``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, Literal

import orjson

from lifecycle.aggregates.lead import Lead
from lifecycle.people import BATCH, leads_with_events, person_of, uuids
from lifecycle.reports.layout import as_number
from lifecycle.views import lead_summary, predicted

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle
    from lifecycle.projections.store import ProjectionStore

__all__ = ["COLUMNS", "Condition", "ExportFormat", "WhereError", "export_leads", "lead_rows",
           "parse_where", "write_rows"]

ExportFormat = Literal["jsonl", "csv"]

COLUMNS = ("key", "keys", "lead_id", "name", "company", "owner", "template", "stage",
           "grade", "grade_now", "fit", "behaviour", "total", "contactable", "last_touch",
           "captured_at", "channel", "source", "country", "industry", "employees", "title",
           "properties", "predicted", "predicted_model", "predicted_factors")
"""The columns of a row, in the CSV's order. ``key`` is the lead's first key (an
external id or an email), ``keys`` all of them; ``grade`` is the grade the lead holds,
``grade_now`` the one regrading at the moment would give; ``fit``, ``behaviour`` and
``total`` are scored at that moment; ``owner`` is who last accepted it for sales;
``channel`` and ``source`` are its first touch's; ``properties`` holds each property's
first value (the one recorded first, as ``lead show`` and ``--by property:NAME`` take
it). ``predicted`` is the active model's probability that the lead is won, at that
moment, ``predicted_model`` its id and ``predicted_factors`` the top factors (empty
without an active model: ``lifecycle model activate``). In CSV, ``keys``,
``properties`` and ``predicted_factors`` are JSON text."""

_TIMES = frozenset({"last_touch", "captured_at"})
_OPS = ("!=", ">=", "<=", "=", ">", "<", "~")
_FIELD = re.compile(r"\s*(property:[^=!<>~,\"]+?|[a-z_]+)\s*(!=|>=|<=|=|>|<|~)")


class WhereError(ValueError):
    """A ``--where`` expression that cannot be read; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``FIELD OP VALUE`` of a ``--where`` expression."""

    field: str
    op: str
    value: str
    number: float | None
    """The value as a number, for an ordering (or None)."""

    def holds(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` satisfies the condition."""
        have = _value_of(row, self.field)
        if self.op in ("=", "!=", "~"):
            text = _as_text(have).casefold()
            want = self.value.casefold()
            if self.op == "~":
                return want in text
            same = text == want or (self.number is not None and as_number(have) == self.number)
            return same if self.op == "=" else not same
        left = _moment(have) if self.field in _TIMES else as_number(have)
        if left is None or self.number is None:
            return False
        if self.op == ">":
            return left > self.number
        if self.op == ">=":
            return left >= self.number
        if self.op == "<":
            return left < self.number
        return left <= self.number


def parse_where(text: str) -> tuple[Condition, ...]:
    """Reads a ``--where`` expression (see the module's docstring).

    Raises:
        WhereError: the expression is malformed: an unknown field, a missing operator
            or value, an unclosed quote, or an ordering whose value is not a number (a
            time, for ``last_touch`` and ``captured_at``).
    """
    conditions: list[Condition] = []
    pos = 0
    while True:
        match = _FIELD.match(text, pos)
        if match is None:
            rest = text[pos:].strip() or "(nothing)"
            raise WhereError(f"expected FIELD OP VALUE at position {pos + 1}, got {rest!r}; "
                             f"operators: {' '.join(_OPS)}; e.g. stage=mql,total>=50")
        field, op = match.group(1).strip(), match.group(2)
        if not field.startswith("property:") and field not in COLUMNS:
            raise WhereError(f"unknown field {field!r}; fields: {', '.join(COLUMNS)}, "
                             "property:NAME")
        value, pos = _value(text, match.end())
        conditions.append(_condition(field, op, value))
        if pos >= len(text):
            return tuple(conditions)
        pos += 1  # the comma


def _value(text: str, start: int) -> tuple[str, int]:
    """The value from ``start``, and the position of the comma after it (or the end)."""
    pos = start
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while True:
            if pos >= len(text):
                raise WhereError(f"unclosed quote in the value at position {start + 1}")
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                out.append(text[pos + 1])
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                out.append(char)
                pos += 1
        tail = text.find(",", pos)
        end = len(text) if tail < 0 else tail
        if text[pos:end].strip():
            raise WhereError(f"unexpected {text[pos:end].strip()!r} after a quoted value at "
                             f"position {pos + 1}")
        return "".join(out), end
    tail = text.find(",", pos)
    end = len(text) if tail < 0 else tail
    value = text[pos:end].strip()
    if '"' in value:
        raise WhereError(f"a quote inside the value {value!r}: quote the whole value, "
                         'e.g. name="Ada \\"the\\" Lovelace"')
    return value, end


def _condition(field: str, op: str, value: str) -> Condition:
    number: float | None = None
    if op in (">", ">=", "<", "<="):
        number = _moment(value) if field in _TIMES else as_number(value)
        if number is None:
            what = "an ISO 8601 date or time" if field in _TIMES else "a number"
            raise WhereError(f"{field}{op}{value!r}: {op} needs {what}")
    elif op != "~":
        number = as_number(value)
    return Condition(field, op, value, number)


def _value_of(row: dict[str, Any], field: str) -> Any:
    if field.startswith("property:"):
        properties = row.get("properties") or {}
        return properties.get(field.removeprefix("property:").strip())
    return row.get(field)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(_as_text(v) for v in value)
    return str(value)


def _moment(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


# -- rows ------------------------------------------------------------------------------


def lead_rows(app: LeadLifecycle, store: ProjectionStore, *, at: datetime,
              where: Iterable[Condition] = ()) -> Iterator[dict[str, Any]]:
    """Every lead as a row (:data:`COLUMNS`), in order of capture, those that satisfy
    every condition of ``where``; read a batch of leads at a time."""
    conditions = tuple(where)
    ids = uuids(row[0] for row in store.query(
        "SELECT lead_id FROM lc_leads ORDER BY captured_at, lead_id"))
    leads = leads_with_events(app, ids)
    # The model scores a batch of leads in one call (a call per lead costs most of the time).
    while batch := list(islice(leads, BATCH)):
        rows = [lead_row(lead, events, app, at=at) for lead, events in batch]
        scored = predicted(app, [lead for lead, _ in batch], at, [e for _, e in batch])
        for row, p in zip(rows, scored, strict=True):
            row["predicted"] = None if p is None else p["probability"]
            row["predicted_model"] = None if p is None else p["model_id"]
            row["predicted_factors"] = None if p is None else p["factors"]
            if all(c.holds(row) for c in conditions):
                yield row


def lead_row(lead: Lead, events: list[Lead.Event], app: LeadLifecycle, *,
             at: datetime) -> dict[str, Any]:
    """One lead's row: its state, its scores at ``at`` (as ``lead show`` gives them)."""
    summary = lead_summary(lead, [], app.scoring, at=at, history=0)  # no lines of history
    scores = summary["scores"]
    person = person_of(lead)
    profile = lead.profile
    return {
        "key": lead.keys[0] if lead.keys else None,
        "keys": list(lead.keys),
        "lead_id": str(lead.id),
        "name": person.name,
        "company": person.company,
        "owner": _latest_owner(events),
        "template": lead.template,
        "stage": lead.stage,
        "grade": lead.grade,
        "grade_now": scores["grade_now"],
        "fit": scores["fit"]["score"],
        "behaviour": scores["behaviour"]["score"],
        "total": scores["total"],
        "contactable": lead.contactable,
        "last_touch": summary["last_touch_at"],
        "captured_at": summary["captured_at"],
        "channel": lead.first_channel,
        "source": lead.first_source,
        "country": profile.get("country"),
        "industry": profile.get("industry"),
        "employees": profile.get("employees"),
        "title": profile.get("title"),
        "properties": dict(lead.properties),
    }


def _latest_owner(events: list[Lead.Event]) -> str | None:
    """The actor of the last ``SalesAccepted`` recorded (a lead recycled and accepted
    again belongs to whoever accepted it last)."""
    owner: str | None = None
    for event in events:
        if isinstance(event, Lead.SalesAccepted):
            owner = event.actor
    return owner


# -- writing ---------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return value


def write_rows(rows: Iterable[dict[str, Any]], out: IO[str], fmt: ExportFormat, *,
               on_row: Callable[[], None] | None = None) -> int:
    """Writes rows as JSON lines or CSV (header first, :data:`COLUMNS` in order), one
    at a time. Returns how many rows were written."""
    n = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(row.get(c)) for c in COLUMNS])
            n += 1
            if on_row is not None:
                on_row()
        return n
    for row in rows:
        out.write(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS).decode())
        out.write("\n")
        n += 1
        if on_row is not None:
            on_row()
    return n


def export_leads(app: LeadLifecycle, store: ProjectionStore, out: IO[str], *,
                 fmt: ExportFormat = "jsonl", at: datetime, where: str | None = None) -> int:
    """Writes every lead that satisfies ``where`` to ``out``; returns how many.

    Raises:
        WhereError: ``where`` cannot be read (nothing is written).
    """
    conditions = parse_where(where) if where else ()
    return write_rows(lead_rows(app, store, at=at, where=conditions), out, fmt)
