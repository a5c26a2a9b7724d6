"""One CSV row → the inputs it stands for: a capture touchpoint and its history.

A row becomes, in lifecycle order: the touchpoint that captured the lead (at the created
date), then a ``qualify`` at the became-MQL date, an ``accept`` at the became-SQL date,
and a ``win`` or a loss at the closing date. Each input's id is
``import:<name>:<record id>:<what>`` (``created``, ``mql``, ``sql``, ``won``, ``lost``),
so importing the same file again reports duplicates and creates nothing.

What the engine needs to be told is added, never invented silently:

- a win of a lead with no SQL date is accepted at the win's date first (the engine wins
  only a sales-qualified lead); an accept of a lead with no MQL date carries
  ``skip_reason`` "imported: no MQL date" (the engine records it as a sales override);
  a win carries ``skip_reason`` "imported" (the opportunity stages it skips);
- a lost date on a lead that never reached SQL is a ``disqualify`` (a lead lost before
  sales accepted it), on one that did a ``lose``;
- a stage that only a status column says was reached (no date) is dated ONE SECOND
  after the row's latest date (never after a later stage's own date): at the latest
  date itself, an outcome tied with the capture of a dataset without dates, and
  training, which reads only inputs dated before the outcome, would see none of them;
- a row with no created date is captured at the mapping's ``capture.default_date`` (a
  dataset without dates), else at its earliest date.

Dates that contradict each other (a win before the creation) are imported as they are:
``report quality`` shows them. Every input is validated by the contract here, so a row
is either mapped whole or rejected whole, with its reason naming the column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifecycle.contracts import Limits, normalized_email, parse_inbound_json
from lifecycle.errors import InvalidInput
from lifecycle.importing.mapping import Mapping, Spec, Stage
from lifecycle.importing.reading import CsvRow
from lifecycle.importing.values import (
    BadValue,
    parse_amount,
    parse_count,
    parse_property,
    parse_time,
)
from lifecycle.vocabulary import token

__all__ = ["MappedRow", "Planned", "RowRejected", "map_row"]

_AFTER = timedelta(seconds=1)
"""How long after the row's latest date a stage known only by its status happened."""

class RowRejected(Exception):
    """A row that cannot be mapped (``code`` ``mapping``) or whose input the contract
    rejects (``schema``)."""

    def __init__(self, reason: str, *, code: str = "mapping") -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True, slots=True)
class Planned:
    """One input a row becomes: its JSON text, what it is, its id."""

    text: str
    what: str  # "touchpoint" or "action"
    kind: str  # the touchpoint's kind or the action
    input_id: str


@dataclass(frozen=True, slots=True)
class MappedRow:
    """A mapped row: its number, its lead's key, its capture time and its inputs."""

    number: int
    lead: str
    at: datetime
    inputs: tuple[Planned, ...]


class _Row:
    """A row's cells, read through the mapping's column names."""

    def __init__(self, mapping: Mapping, row: CsvRow) -> None:
        self.mapping = mapping
        self.cells = row.cells
        self.blank = mapping.csv.blank

    def text(self, column: str | None, *, free: bool = False) -> str | None:
        """The cell, trimmed; runs of white space (line breaks too) as one space unless
        ``free`` (notes keep their lines); None when empty or unmapped."""
        if column is None:
            return None
        value = self.cells.get(column, "")
        value = value.strip() if free else " ".join(value.split())
        return value if value and value not in self.blank else None

    def spec(self, spec: Spec | None) -> str | None:
        if spec is None:
            return None
        value = self.text(spec.column)
        # A cell with no letter or digit ("-", "(none)" has some) reads as empty.
        return value if value is not None and token(value) else spec.value

    def time(self, column: str | None) -> datetime | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            return parse_time(value, self.mapping.time.formats, self.mapping.time.zone)
        except BadValue as e:
            raise RowRejected(f"column {column!r}: {e}") from None


def map_row(mapping: Mapping, row: CsvRow, *, limits: Limits) -> MappedRow:
    """The inputs ``row`` stands for, validated by the contract.

    Raises:
        RowRejected: the row has a problem reading it, no key, no date, a value its
            column cannot hold, or an input the contract rejects.
    """
    if row.problem is not None:
        raise RowRejected(row.problem)
    r = _Row(mapping, row)
    key = mapping.key
    external_id, email = r.text(key.external_id), r.text(key.email)
    if external_id is None and email is None:
        names = [repr(c) for c in (key.external_id, key.email) if c]
        raise RowRejected(f"no lead key: {' and '.join(names)} "
                          f"{'is' if len(names) == 1 else 'are'} empty")
    record = r.text(key.record) or external_id or email
    assert record is not None
    if record == email:
        # As the engine records it ("Ada@X.example" is ada@x.example): a later export
        # that spells it otherwise still names the same inputs.
        record = normalized_email(email) or email
    keys = {"external_id": external_id, "email": email}
    dates = {name: r.time(getattr(mapping, name).date) for name in ("mql", "sql", "won", "lost")}
    created = r.time(mapping.capture.date)
    if created is None and mapping.capture.default_date is not None:
        created = parse_time(mapping.capture.default_date, ("iso",), mapping.time.zone)
    known = [d for d in (created, *dates.values()) if d is not None]
    if not known:
        raise RowRejected("no date: the row's created date "
                          f"({mapping.capture.date!r}) and lifecycle dates are empty, and "
                          "the mapping gives no capture.default_date")
    latest = max(known)
    reached = _status(r)
    if ("won" in reached and "lost" in reached) or (dates["won"] and dates["lost"]):
        raise RowRejected("the row says the lead was both won and lost")
    at = _stage_times(dates, reached, latest)
    prefix = f"import:{mapping.import_.name}:{record}"
    actor = r.spec(mapping.import_.actor) or "import"
    inputs = [_capture(r, prefix, keys, created or min(known))]
    common = {**keys, "actor": actor}
    if "mql" in at:
        inputs.append({"action_id": f"{prefix}:mql", "action": "qualify",
                       "occurred_at": at["mql"], "rule": mapping.mql.rule, **common})
    sql_at = at.get("sql") or at.get("won")  # a win needs an SQL: accepted at the win
    if sql_at is not None:
        accept: dict[str, Any] = {"action_id": f"{prefix}:sql", "action": "accept",
                                  "occurred_at": sql_at, **common}
        if "mql" not in at:
            accept["skip_reason"] = "imported: no MQL date"
        inputs.append(accept)
    if "won" in at:
        inputs.append(_win(r, f"{prefix}:won", at["won"], common))
    elif "lost" in at:
        inputs.append(_loss(r, f"{prefix}:lost", at["lost"], common, sold="sql" in at,
                            status=None if dates["lost"] else reached.get("lost")))
    lead = f"external:{external_id}" if external_id else f"email:{record}"
    planned = tuple(_validated(item, limits, mapping) for item in inputs)
    return MappedRow(row.number, lead, created or min(known), planned)


def _stage_times(dates: dict[str, datetime | None], reached: dict[Stage, str],
                 latest: datetime) -> dict[str, datetime]:
    """Each stage's moment: its own date, else (a status said it was reached) one second
    after the row's latest date, but never after a later stage's own date."""
    at: dict[str, datetime] = {}
    order = ("mql", "sql", "won", "lost")
    for no, stage in enumerate(order):
        moment = dates[stage]
        if moment is None and stage in reached:
            later = [d for s in order[no + 1:] if (d := dates[s]) is not None]
            moment = min([latest + _AFTER, *later])
        if moment is not None:
            at[stage] = moment
    return at


def _status(r: _Row) -> dict[Stage, str]:
    """The stages the row's status columns name, each with what said so ("Status: Closed -
    Not Converted"). The stages before one are implied by the engine's rules, not
    invented here (see the module docstring)."""
    reached: dict[Stage, str] = {}
    for status in r.mapping.status:
        value = r.text(status.column)
        stage = status.stages.get(token(value)) if value else None
        if stage is not None:
            reached.setdefault(stage, f"{status.column}: {value}")
    return reached


def _capture(r: _Row, prefix: str, keys: dict[str, str | None], at: datetime) -> dict[str, Any]:
    mapping = r.mapping
    capture = mapping.capture
    touchpoint: dict[str, Any] = {
        "touchpoint_id": f"{prefix}:created", "source": mapping.import_.source,
        "channel": r.spec(capture.channel), "kind": r.spec(capture.kind), "occurred_at": at,
        **keys,
    }
    template = r.spec(capture.template)
    if template is not None:
        touchpoint["template"] = token(template)
    profile = _profile(r)
    if profile:
        touchpoint["profile"] = profile
    properties: dict[str, Any] = {}
    for column, prop in mapping.properties.items():
        value = r.text(column)
        if value is None or prop.name in properties:
            continue
        try:
            properties[prop.name] = parse_property(value, prop.type)
        except BadValue as e:
            raise RowRejected(f"column {column!r}: {e}") from None
    if properties:
        touchpoint["properties"] = properties
    return touchpoint


def _profile(r: _Row) -> dict[str, Any]:
    p = r.mapping.profile
    name = r.text(p.name) or " ".join(
        part for part in (r.text(p.first_name), r.text(p.last_name)) if part) or None
    profile: dict[str, Any] = {"name": name}
    for field in ("company", "industry", "title", "country", "phone"):
        profile[field] = r.text(getattr(p, field))
    employees = r.text(p.employees)
    if employees is not None:
        try:
            profile["employees"] = parse_count(employees, p.employees_range)
        except BadValue as e:
            raise RowRejected(f"column {p.employees!r}: {e}") from None
    return {k: v for k, v in profile.items() if v is not None}


def _win(r: _Row, action_id: str, at: datetime, common: dict[str, Any]) -> dict[str, Any]:
    won = r.mapping.won
    win: dict[str, Any] = {"action_id": action_id, "action": "win", "occurred_at": at,
                           "skip_reason": "imported", **common}
    amount = r.text(won.amount)
    if amount is not None:
        try:
            win["amount"] = parse_amount(amount)
        except BadValue as e:
            raise RowRejected(f"column {won.amount!r}: {e}") from None
        currency = r.spec(won.currency)
        if currency is None:
            raise RowRejected(f"column {won.amount!r}: an amount needs a currency: map "
                              "won.currency to a column or a value (e.g. EUR)")
        win["currency"] = currency
    return win


def _loss(r: _Row, action_id: str, at: datetime, common: dict[str, Any], *, sold: bool,
          status: str | None) -> dict[str, Any]:
    lost = r.mapping.lost
    said = r.text(lost.reason)
    reason = lost.reasons.get(token(said)) if said else None
    competitor = r.text(lost.competitor)
    text = r.text(lost.text, free=True)
    if reason is None:
        # Unmapped (or no reason column): the taxonomy's "other", the words kept.
        reason_value = "competitor_won" if said is None and competitor else "other"
    else:
        reason_value = str(reason)
    if reason_value == "competitor_won" and not competitor:
        reason_value = "other"  # the taxonomy needs the competitor's name
    if reason_value == "other" and said is not None:
        text = f"{said}: {text}" if text else said
    if text is None:
        text = status  # lost by a status column alone: which one said so
    loss: dict[str, Any] = {"action_id": action_id, "action": "lose" if sold else "disqualify",
                            "occurred_at": at, "reason": reason_value, **common}
    if competitor is not None and reason_value == "competitor_won":
        loss["competitor"] = competitor
    if text is not None:
        loss["text"] = text
    return loss


def _validated(item: dict[str, Any], limits: Limits, mapping: Mapping) -> Planned:
    text = json.dumps({k: v.isoformat() if isinstance(v, datetime) else v
                       for k, v in item.items() if v is not None}, ensure_ascii=False)
    try:
        parsed = parse_inbound_json(text, limits=limits)
    except InvalidInput as e:
        what = item.get("action", "touchpoint")
        raise RowRejected(f"{what}: {_columns(str(e), item, mapping)}", code=e.code) from None
    if "touchpoint_id" in item:
        return Planned(text, "touchpoint", item["kind"] and token(item["kind"]),
                       parsed.input_id)
    return Planned(text, "action", item["action"], parsed.input_id)


def _columns(reason: str, item: dict[str, Any], mapping: Mapping) -> str:
    """The contract's reason, each field followed by the column it was read from."""
    action = item.get("action")
    date = {None: mapping.capture.date, "qualify": mapping.mql.date,
            "accept": mapping.sql.date, "win": mapping.won.date}.get(action, mapping.lost.date)
    p = mapping.profile
    columns: dict[str, str | None] = {
        "external_id": mapping.key.external_id, "email": mapping.key.email,
        "touchpoint_id": mapping.key.record, "action_id": mapping.key.record,
        "occurred_at": date, "channel": mapping.capture.channel.column,
        "kind": mapping.capture.kind.column, "actor": mapping.import_.actor.column,
        "amount": mapping.won.amount, "competitor": mapping.lost.competitor,
        "text": mapping.lost.text,
        "template": mapping.capture.template.column if mapping.capture.template else None,
        "currency": mapping.won.currency.column if mapping.won.currency else None,
        "profile.name": p.name or " + ".join(c for c in (p.first_name, p.last_name) if c),
        **{f"profile.{f}": getattr(p, f) for f in
           ("company", "industry", "employees", "title", "country", "phone")},
        **{f"properties.{prop.name}": column for column, prop in mapping.properties.items()},
    }
    parts = []
    for part in reason.split("; "):
        path = part.split(":", 1)[0]
        column = columns.get(path) or next(
            (c for f, c in columns.items() if c and path.startswith(f + ".")), None)
        parts.append(part.replace(path, f"{path} (column {column!r})", 1) if column else part)
    return "; ".join(parts)

