"""No input can stop ingestion: one poisoned input is rejected, its batch is recorded.

On real SQLite and PostgreSQL: hostile lines through ``ingest_lines`` (times that leave
the calendar in UTC, NUL and other control characters, loose types, invalid UTF-8, huge
amounts, odd currencies), business times outside the plausible window, a command that
fails half-way (its lead must come back without the half-applied change), a value the
database refuses at save time (only that input is rejected, the positions are stored),
and the same poison through :class:`PartitionIngest`, whose partition must flow on.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import Touch
from lifecycle.application import INTERNAL_ERROR, UNSTORABLE, LeadLifecycle, Outcome, Result
from lifecycle.contracts import Touchpoint, parse_inbound
from lifecycle.ingest import RejectWriter, ingest_lines, read_lines
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from streams.ingest import DeadLetter, Message, PartitionIngest
from tests.integration.test_partition_ingest import Database
from tests.support import T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def open_app(url: str, templates: TemplateRegistry, scoring: ScoringConfig,
             **settings: Any) -> LeadLifecycle:
    return LeadLifecycle(Settings(database_url=url, **settings), templates=templates,
                         scoring=scoring, clock=lambda: NOW)


@pytest.fixture
def app(database_url: str, templates: TemplateRegistry,
        scoring: ScoringConfig) -> Iterator[LeadLifecycle]:
    app = open_app(database_url, templates, scoring)
    yield app
    app.close()


def line(data: dict[str, Any] | str) -> bytes:
    return (data if isinstance(data, str) else json.dumps(data)).encode() + b"\n"


def good(n: int) -> dict[str, Any]:
    return touchpoint_data(f"good-{n}", email=f"good{n}@acme.com", at=T0 + hours(n))


def with_time(n: int, text: object) -> dict[str, Any]:
    return {**touchpoint_data(f"time-{n}", email=f"time{n}@acme.com"), "occurred_at": text}


# (what it is, the line, the code it is rejected with)
HOSTILE: list[tuple[str, bytes, str]] = [
    ("year 9999, negative offset", line(with_time(1, "9999-12-31T23:00:00-05:00")), "schema"),
    ("year 1, positive offset", line(with_time(2, "0001-01-01T00:30:00+01:00")), "schema"),
    ("year 9999 in UTC", line(with_time(3, "9999-12-31T23:00:00+00:00")), "implausible_time"),
    ("year 1 in UTC", line(with_time(4, "0001-01-01T00:00:00Z")), "implausible_time"),
    ("before 1970", line(with_time(5, "1969-12-31T23:59:59Z")), "implausible_time"),
    ("Unix number", line(with_time(6, 1_717_243_200)), "schema"),
    ("NUL in source", line(touchpoint_data("nul-1", email="nul1@acme.com",
                                           source="web\u0000site")), "schema"),
    ("NUL in actor", line({**action_data("nul-2", "note", text="hi"), "actor": "a\u0000b"}),
     "schema"),
    ("ESC in a property key", line(touchpoint_data("esc-1", email="esc1@acme.com",
                                                   properties={"\u001b[31m": 1})), "schema"),
    ("employees true", line(touchpoint_data("loose-1", email="loose1@acme.com",
                                            profile={"employees": True})), "schema"),
    ("a@b@c.com", line(touchpoint_data("mail-1", email="a@b@c.com")), "schema"),
    ("invalid UTF-8 email", line(touchpoint_data("utf-1", email="cafe@acme.com")).replace(
        b"cafe@", b"caf\xe9@"), "schema"),
    ("currency <b>", line(action_data("cur-1", "win", amount=1, currency="<b>")), "schema"),
    ("amount 1e308", line(action_data("amt-1", "win", amount=1e308, currency="EUR")), "schema"),
    ("30-digit integer", line(touchpoint_data("int-1", email="int1@acme.com")).replace(
        b'"email"', b'"properties": {"n": 123456789012345678901234567890}, "email"'), "schema"),
]


def test_hostile_lines_are_rejected_in_order_and_the_rest_of_the_batch_is_recorded(
    app: LeadLifecycle, tmp_path: Path
) -> None:
    # good lines before, between and after every hostile one, all in one batch
    raw = b"".join(line(good(i)) + hostile for i, (_, hostile, _) in enumerate(HOSTILE))
    raw += line(good(len(HOSTILE)))
    with RejectWriter(tmp_path / "rejects.jsonl") as rejects:
        summary = ingest_lines(app, read_lines(io.BytesIO(raw)), rejects, batch_size=10_000)
    assert summary.as_dict() == {"received": 2 * len(HOSTILE) + 1,
                                 "accepted": len(HOSTILE) + 1, "duplicate": 0,
                                 "rejected": len(HOSTILE)}
    records = [json.loads(x) for x in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in records] == [2 * (i + 1) for i in range(len(HOSTILE))]
    for record, (what, hostile, code) in zip(records, HOSTILE, strict=True):
        assert record["code"] == code, (what, record)
        exact = base64.b64decode(record["original_b64"]) if record.get("invalid_utf8") else (
            record["original"].encode())
        assert exact == hostile.rstrip(b"\n"), what
    for i in range(len(HOSTILE) + 1):
        app.get_lead(app.find_lead(f"good{i}@acme.com"))


@pytest.mark.parametrize(("occurred_at", "accepted"), [
    (datetime(1970, 1, 1, tzinfo=UTC), True),
    (NOW + timedelta(days=1), True),
    (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), False),
    (NOW + timedelta(days=1, microseconds=1), False),
    (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), False),
    (datetime(1, 1, 1, tzinfo=UTC), False),
])
def test_business_time_must_lie_between_1970_and_a_day_after_the_recorded_time(
    app: LeadLifecycle, occurred_at: datetime, accepted: bool
) -> None:
    tp = parse_inbound(touchpoint_data("tp-1", at=occurred_at))
    result = app.record(tp)
    if accepted:
        assert result.outcome is Outcome.ACCEPTED
    else:
        assert (result.outcome, result.code) == (Outcome.REJECTED, "implausible_time")
        assert result.reason is not None
        assert "outside the plausible window 1970-01-01T00:00:00+00:00 .. " \
               "2024-06-02T12:00:00+00:00 (recorded time plus 1 day)" in result.reason


def test_the_window_is_configurable(database_url: str, templates: TemplateRegistry,
                                    scoring: ScoringConfig) -> None:
    app = open_app(database_url, templates, scoring,
                   earliest_business_time=datetime(2024, 1, 1, tzinfo=UTC),
                   max_future_skew=timedelta(0))
    try:
        results = app.record_batch([
            parse_inbound(touchpoint_data("old", email="old@acme.com",
                                          at=datetime(2023, 12, 31, tzinfo=UTC))),
            parse_inbound(touchpoint_data("soon", email="soon@acme.com",
                                          at=NOW + timedelta(seconds=1))),
            parse_inbound(touchpoint_data("now", email="now@acme.com", at=NOW)),
        ])
    finally:
        app.close()
    assert [r.code for r in results] == ["implausible_time", "implausible_time", None]


def test_a_command_that_fails_half_way_rejects_its_input_and_leaves_no_trace(
    app: LeadLifecycle, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Lead.record_touchpoint

    def fails_after_emitting(self: Lead, tp: Touch, **kwargs: Any) -> Any:
        result = original(self, tp, **kwargs)  # its events are already pending
        if tp.touchpoint_id.startswith("poison"):
            raise OverflowError("date value out of range")
        return result

    monkeypatch.setattr(Lead, "record_touchpoint", fails_after_emitting)
    ada = [parse_inbound(touchpoint_data(f"ada-{i}", "demo_requested" if i == 2 else
                                         "page_view", at=T0 + hours(i))) for i in range(4)]
    poison = [parse_inbound(touchpoint_data(f"poison-{i}", "demo_requested",
                                            at=T0 + hours(i) + timedelta(minutes=30)))
              for i in range(3)]
    # the same lead: an accepted input, a poison, an accepted one, ... in one batch
    batch = [ada[0], poison[0], ada[1], poison[1], ada[2], poison[2], ada[3]]
    results = app.record_batch(batch)
    assert [(r.input_id, r.outcome, r.code) for r in results] == [
        (item.input_id,
         Outcome.REJECTED if item in poison else Outcome.ACCEPTED,
         INTERNAL_ERROR if item in poison else None) for item in batch]
    reason = results[1].reason
    assert reason is not None
    assert "OverflowError: date value out of range" in reason

    # the stored lead is the one that never saw the poison
    monkeypatch.setattr(Lead, "record_touchpoint", original)
    lead_id = app.find_lead("ada@acme.com")
    stored = app.lead_events(lead_id)
    assert [e.cause_id for e in stored if "poison" in e.cause_id] == []
    assert {f"touchpoint:ada-{i}" for i in range(4)} <= {e.cause_id for e in stored}
    app.evict()
    again = app.record_batch([*ada, *poison])
    assert [r.outcome for r in again] == [Outcome.DUPLICATE] * 4 + [Outcome.ACCEPTED] * 3


def unstorable(touchpoint_id: str, email: str) -> Touchpoint:
    """A touchpoint the contract would refuse, made past it: an integer beyond 64 bits,
    which no JSON encoder of the engine can write."""
    valid = parse_inbound(touchpoint_data(touchpoint_id, email=email))
    assert isinstance(valid, Touchpoint)
    return valid.model_copy(update={"properties": {"n": 2**70}})


def refused_by_the_store(app: LeadLifecycle, monkeypatch: pytest.MonkeyPatch,
                         cause: str) -> None:
    """Makes the store refuse the events of one input, as a database refuses a value
    (eventsourcing's DataError), while everything before the store accepts it."""
    from eventsourcing.persistence import DataError

    mapper = app.fast_mapper
    original = mapper.to_stored_events

    def refusing(events: Any, prev: Any) -> Any:
        if any(getattr(e, "cause_id", None) == cause for e in events):
            raise DataError("value refused by the database")
        return original(events, prev)

    monkeypatch.setattr(mapper, "to_stored_events", refusing)


@pytest.mark.parametrize("poison_at", [0, 3, 6, 11])
def test_a_value_the_store_refuses_rejects_only_its_input_and_positions_are_kept(
    app: LeadLifecycle, poison_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.persistence import Tracking

    db = Database(app)
    items: list[Any] = [parse_inbound(touchpoint_data(f"ok-{i}", email=f"ok{i}@acme.com"))
                        for i in range(12)]
    items[poison_at] = parse_inbound(touchpoint_data("bad-1", email=f"ok{poison_at}@acme.com"))
    refused_by_the_store(app, monkeypatch, "touchpoint:bad-1")
    calls: list[list[Result]] = []
    results = app.record_batch(items, tracking=Tracking("tp:0", 41),
                               before_commit=lambda rs: calls.append(list(rs)))
    assert [(r.outcome, r.code) for r in results] == [
        (Outcome.REJECTED, UNSTORABLE) if i == poison_at else (Outcome.ACCEPTED, None)
        for i in range(12)]
    assert "DataError" in (results[poison_at].reason or "")
    assert calls[-1] == results  # the dead letters are decided on the final results
    assert db.positions() == {"tp:0": 41}
    for i in range(12):
        if i != poison_at:
            app.get_lead(app.find_lead(f"ok{i}@acme.com"))


@pytest.mark.parametrize("poison_at", [0, 5])
def test_a_value_no_encoder_can_write_rejects_only_its_input(
    app: LeadLifecycle, poison_at: int
) -> None:
    items: list[Any] = [parse_inbound(touchpoint_data(f"ok-{i}", email=f"ok{i}@acme.com"))
                        for i in range(6)]
    items[poison_at] = unstorable("bad-1", f"ok{poison_at}@acme.com")
    results = app.record_batch(items)
    assert [r.outcome for r in results] == [
        Outcome.REJECTED if i == poison_at else Outcome.ACCEPTED for i in range(6)]
    assert results[poison_at].code in (INTERNAL_ERROR, UNSTORABLE)
    for i in range(6):
        if i != poison_at:
            app.get_lead(app.find_lead(f"ok{i}@acme.com"))


TOPIC = "tp"


def message(offset: int, value: bytes | dict[str, Any]) -> Message:
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    return Message(0, offset, b"k", raw)


def test_partition_ingest_never_raises_for_an_input_and_its_partition_flows_on(
    app: LeadLifecycle
) -> None:
    messages = [message(2 * i, good(i)) for i in range(len(HOSTILE) + 1)]
    for i, (_, hostile, _) in enumerate(HOSTILE):
        messages.insert(2 * i + 1, message(2 * i + 1, hostile.rstrip(b"\n")))
    messages = [Message(0, offset, m.key, m.value) for offset, m in enumerate(messages)]
    letters: list[DeadLetter] = []
    counts = PartitionIngest(app, TOPIC).process({0: messages}, letters.extend)
    assert counts == (len(HOSTILE) + 1, 0, len(HOSTILE), 0)
    assert Database(app).positions() == {f"{TOPIC}:0": len(messages) - 1}
    bodies = [orjson.loads(d.value) for d in letters]
    assert [b["code"] for b in bodies] == [code for _, _, code in HOSTILE]
    for body, (_, hostile, _) in zip(bodies, HOSTILE, strict=True):
        original = body["original"]
        exact = base64.b64decode(original["base64"]) if "base64" in original else (
            original["text"].encode())
        assert exact == hostile.rstrip(b"\n")
