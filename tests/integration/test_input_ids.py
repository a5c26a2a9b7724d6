"""Input ids are global and content-checked; keys that name two leads are rejected.

A ``touchpoint_id`` / ``action_id`` names one input for good: a redelivery with the same
(normalised) content is ``duplicate``, with other content or for another lead it is
rejected ``id_conflict`` naming what differs — in any later batch, in the same batch,
from another application instance and after a restart. An input whose external id and
email belong to two different leads is rejected ``identity_conflict`` naming both,
unless ``identity_conflict = "first_key"``. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome, Result
from lifecycle.contracts import SalesAction, Touchpoint, parse_inbound_json
from lifecycle.errors import LeadNotFound
from lifecycle.inputs import INPUTS_TABLE
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings, persistence_env
from lifecycle.templates import TemplateRegistry
from streams.ingest import DeadLetter, Message, PartitionIngest
from tests.support import EMAIL, FIT45, T0, action, action_data, hours, touchpoint, touchpoint_data

pytestmark = pytest.mark.integration

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
BO = "bo@initech.io"

Inbound = Touchpoint | SalesAction
AppFactory = Callable[..., LeadLifecycle]


@pytest.fixture
def open_app(
    database_url: str, templates: TemplateRegistry, scoring: ScoringConfig
) -> Iterator[AppFactory]:
    """Opens application instances (each with empty caches) on the test's database."""
    opened: list[LeadLifecycle] = []

    def factory(**overrides: Any) -> LeadLifecycle:
        app = LeadLifecycle(Settings(database_url=database_url, **overrides),
                            templates=templates, scoring=scoring, clock=lambda: NOW)
        opened.append(app)
        return app

    yield factory
    for app in opened:
        app.close()


def query(app: LeadLifecycle, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Rows read past the application, on either backend."""
    url = app.settings.database_url
    env = persistence_env(url)
    if env["PERSISTENCE_MODULE"].endswith("sqlite"):
        conn = sqlite3.connect(env["SQLITE_DBNAME"], isolation_level=None)
        try:
            return conn.execute(statement, params).fetchall()
        finally:
            conn.close()
    with psycopg.connect(url, autocommit=True) as pg:
        cur = pg.execute(statement.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def head(app: LeadLifecycle) -> int | None:
    return app.recorder.max_notification_id()


def causes_by_lead(app: LeadLifecycle) -> dict[str, dict[UUID, Counter[str]]]:
    """For every input cause in the store: lead → how many events of each type it caused."""
    out: dict[str, dict[UUID, Counter[str]]] = {}
    for n in app.recorder.select_notifications(1, 1_000_000):
        event = app.mapper.to_domain_event(n)
        if isinstance(event, Lead.Event) and event.cause_id.startswith(("touchpoint:",
                                                                         "action:")):
            out.setdefault(event.cause_id, {}).setdefault(
                event.originator_id, Counter())[type(event).__name__] += 1
    return out


def outcomes(results: Sequence[Result]) -> list[str]:
    return [r.code or r.outcome.value for r in results]


def json_input(data: dict[str, Any]) -> Inbound:
    return parse_inbound_json(orjson.dumps(data))


# -- the same content: duplicate -----------------------------------------------------------


def originals() -> list[Inbound]:
    return [
        touchpoint("t-1", "form_submit", profile={**FIT45, "name": "Ada Lovelace"},
                   properties={"plan": "pro", "seats": 12, "tags": ["a", "b"],
                               "utm": {"source": "x", "medium": "y"}}),
        touchpoint("t-2", "demo_requested", at=T0 + hours(1)),
        action("a-1", "accept", at=T0 + hours(2), skip_reason="asked for a quote"),
        action("a-2", "bant", at=T0 + hours(3), budget=True, need=True),
        action("a-3", "note", at=T0 + hours(3), text="call back on Monday"),
    ]


def rewritten() -> list[Inbound]:
    """The originals as another system (or a retry) might serialise them: other key
    order, other case of the email, other offset of the same instant, blanks around
    values, explicit nulls — the same validated content."""
    plus2 = timezone(timedelta(hours=2))
    return [
        json_input({
            "properties": {"utm": {"medium": "y", "source": "x"}, "tags": ["a", "b"],
                           "seats": 12, "plan": "pro"},
            "profile": {"name": " Ada Lovelace ", "country": "us", "industry": "Software"},
            "email": "  ADA@Acme.COM ", "kind": "form_submit", "channel": "seo",
            "source": "website", "occurred_at": T0.astimezone(plus2).isoformat(),
            "template": None, "external_id": None, "touchpoint_id": "t-1",
        }),
        json_input(touchpoint_data("t-2", "demo_requested", at=(T0 + hours(1)).astimezone(plus2),
                                   email="Ada@acme.com")),
        json_input({**action_data("a-1", "accept", at=T0 + hours(2), email=EMAIL.upper(),
                                  skip_reason="asked for a quote "), "stage": None}),
        json_input(action_data("a-2", "bant", at=T0 + hours(3), need=True, budget=True)),
        json_input(action_data("a-3", "note", at=T0 + hours(3), text=" call back on Monday")),
    ]


def test_a_redelivery_with_the_same_content_is_a_duplicate_in_any_later_batch(
    open_app: AppFactory,
) -> None:
    app = open_app()
    first = app.record_batch(originals())
    assert outcomes(first) == ["accepted"] * 5
    lead_id = first[0].lead_id
    written = head(app)
    for batch in (originals(), rewritten(), rewritten()[::-1]):
        again = app.record_batch(batch)
        assert {(r.outcome, r.lead_id, r.events) for r in again} == {
            (Outcome.DUPLICATE, lead_id, 0)}
    for item in rewritten():  # one at a time
        assert app.record(item).outcome is Outcome.DUPLICATE
    assert head(app) == written
    app.close()

    restarted = open_app()  # empty caches: the answers come from the store
    assert outcomes(restarted.record_batch(rewritten())) == ["duplicate"] * 5
    assert outcomes([restarted.record(item) for item in originals()]) == ["duplicate"] * 5
    assert head(restarted) == written
    assert all(len(leads) == 1 for leads in causes_by_lead(restarted).values())


# -- other content: id_conflict naming the fields ----------------------------------------------


CHANGES: list[tuple[Inbound, tuple[str, ...]]] = [
    (touchpoint("t-1", "page_view", profile={**FIT45, "name": "Ada Lovelace"},
                properties={"plan": "pro", "seats": 12, "tags": ["a", "b"],
                            "utm": {"source": "x", "medium": "y"}}), ("kind",)),
    (touchpoint("t-1", "form_submit", at=T0 + hours(1), profile={**FIT45, "name": "Ada L."},
                properties={"plan": "pro", "seats": 12, "tags": ["a", "b"],
                            "utm": {"source": "x", "medium": "y"}}),
     ("occurred_at", "profile.name")),
    (touchpoint("t-1", "form_submit", profile={**FIT45, "name": "Ada Lovelace"},
                properties={"plan": "team", "seats": 12.0, "tags": ["b", "a"],
                            "utm": {"source": "x", "medium": "y"}, "coupon": "X"}),
     ("properties.coupon", "properties.plan", "properties.seats", "properties.tags")),
    (touchpoint("t-1", "form_submit", profile=FIT45), ("profile.name", "properties")),
    (touchpoint("t-2", "demo_requested", at=T0 + hours(1), template="saas",
                external_id="crm-7"), ("external_id", "template")),
    (action("a-1", "accept", at=T0 + hours(2), skip_reason="asked for a demo"),
     ("skip_reason",)),
    (action("a-2", "bant", at=T0 + hours(3), budget=False, need=True, timeline=True),
     ("budget", "timeline")),
    (action("a-3", "recycle", at=T0 + hours(3), reason="decision_postponed",
            text="call back on Monday"), ("action", "reason")),
]


def test_the_same_id_with_other_content_is_an_id_conflict_naming_the_fields(
    open_app: AppFactory,
) -> None:
    app = open_app()
    lead_id = app.record_batch(originals())[0].lead_id
    assert lead_id is not None
    written = head(app)
    for reopen in (False, True):
        if reopen:
            app.close()
            app = open_app()
        results = app.record_batch([item for item, _ in CHANGES])
        for (item, fields), result in zip(CHANGES, results, strict=True):
            assert (result.outcome, result.code) == (Outcome.REJECTED, "id_conflict"), result
            assert result.reason is not None
            assert f"differs in: {', '.join(fields)})" in result.reason, result.reason
            assert f"{item.input_id!r} was already recorded for lead {lead_id}" in result.reason
        # one by one, the same answers
        assert [app.record(item).reason for item, _ in CHANGES] == [r.reason for r in results]
    assert head(app) == written
    recorded = app.get_lead(lead_id)
    assert (recorded.bant.budget, recorded.bant.timeline) == (True, None)  # the originals hold


def test_the_same_id_for_another_or_a_new_lead_is_an_id_conflict_naming_both(
    open_app: AppFactory,
) -> None:
    app = open_app()
    ada = app.record_batch(originals())[0].lead_id
    bo = app.record(touchpoint("b-1", email=BO)).lead_id
    assert ada is not None
    assert bo is not None
    assert ada != bo
    written = head(app)
    reused: list[Inbound] = [
        touchpoint("t-2", "demo_requested", at=T0 + hours(1), email=BO),  # bo's keys
        action("a-3", "note", at=T0 + hours(3), text="call back on Monday", email=BO),
        touchpoint("t-1", email="cy@globex.de"),  # a person nobody has captured
        action("a-1", "note", external_id="crm-bo", email=BO, text="x"),  # a new key of bo
    ]
    for reopen in (False, True):
        if reopen:
            app.close()
            app = open_app()
        results = app.record_batch(reused)
        assert outcomes(results) == ["id_conflict"] * 4
        reasons = [r.reason or "" for r in results]
        for item, reason in zip(reused, reasons, strict=True):
            kind = "touchpoint_id" if isinstance(item, Touchpoint) else "action_id"
            assert f"{kind} {item.input_id!r} is already recorded for lead {ada}" in reason
        assert f"keys point to lead {bo}; its content differs too (in: email)" in reasons[0]
        assert f"keys point to lead {bo}; its content differs too (in: email)" in reasons[1]
        assert ("keys point to no lead yet; its content differs too (in: email, kind, "
                "profile.country, profile.industry, profile.name, properties)") in reasons[2]
        assert "(in: action, email, external_id, occurred_at, skip_reason, text)" in reasons[3]
    assert head(app) == written
    with pytest.raises(LeadNotFound):  # not captured under a borrowed id
        app.find_lead("cy@globex.de")
    with pytest.raises(LeadNotFound):  # no key linked by a rejected input
        app.find_lead("crm-bo")
    assert app.lead_events(bo)[-1].cause_id == "touchpoint:b-1"


def test_one_id_twice_in_one_batch(open_app: AppFactory) -> None:
    app = open_app()
    tp = touchpoint("t-1", "form_submit", profile=FIT45)
    note = action("a-1", "note", text="hello")
    results = app.record_batch([
        tp, rewritten_touchpoint(tp), touchpoint("t-1", "page_view", profile=FIT45),
        touchpoint("t-1", "form_submit", profile=FIT45, email=BO),
        note, action("a-1", "note", text="hello"), action("a-1", "note", text="bye"),
        touchpoint("a-1", "page_view"),  # a touchpoint id is not an action id
    ])
    assert outcomes(results) == ["accepted", "duplicate", "id_conflict", "id_conflict",
                                 "accepted", "duplicate", "id_conflict", "accepted"]
    ada = results[0].lead_id
    assert ada is not None
    assert "(differs in: kind)" in (results[2].reason or "")
    assert "keys point to no lead yet" in (results[3].reason or "")
    assert "(differs in: text)" in (results[6].reason or "")
    with pytest.raises(LeadNotFound):
        app.find_lead(BO)
    by_cause = causes_by_lead(app)
    assert set(by_cause["touchpoint:t-1"]) == {ada}
    assert by_cause["touchpoint:t-1"][ada]["TouchpointRecorded"] == 1
    assert by_cause["action:a-1"] == {ada: Counter({"NoteAdded": 1})}
    assert by_cause["touchpoint:a-1"] == {ada: Counter({"TouchpointRecorded": 1})}
    # the batch's first occurrence is what was recorded
    restarted = open_app()
    assert outcomes(restarted.record_batch([tp, note])) == ["duplicate", "duplicate"]
    assert outcomes(restarted.record_batch([
        touchpoint("t-1", "page_view", profile=FIT45), action("a-1", "note", text="bye"),
    ])) == ["id_conflict", "id_conflict"]


def rewritten_touchpoint(tp: Touchpoint) -> Touchpoint:
    data = tp.model_dump(mode="json")
    data["email"] = str(data["email"]).upper()
    item = json_input(dict(reversed(list(data.items()))))
    assert isinstance(item, Touchpoint)
    return item


# -- across processes and old stores ---------------------------------------------------


def test_two_writers_recording_one_id_for_two_leads_cannot_both_succeed(
    open_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, racer = open_app(), open_app()
    insert = racer.recorder.insert_events

    def the_other_writer_commits_first(*args: Any, **kwargs: Any) -> Any:
        # after racer read the index (no t-1 yet), writer records t-1 for ada
        monkeypatch.setattr(racer.recorder, "insert_events", insert)
        assert writer.record(touchpoint("t-1")).outcome is Outcome.ACCEPTED
        return insert(*args, **kwargs)

    monkeypatch.setattr(racer.recorder, "insert_events", the_other_writer_commits_first)
    bo_batch: list[Inbound] = [touchpoint("b-0", email=BO), touchpoint("t-1", email=BO)]
    with pytest.raises(IntegrityError):  # the index's primary key, not a lead's version
        racer.record_batch(bo_batch)
    with pytest.raises(LeadNotFound):  # nothing of the failed batch was saved
        writer.find_lead(BO)
    # the retry reads the other writer's row
    assert outcomes(racer.record_batch(bo_batch)) == ["accepted", "id_conflict"]
    ada = writer.find_lead(EMAIL)
    assert set(causes_by_lead(writer)["touchpoint:t-1"]) == {ada}


def test_a_store_written_before_the_index_still_knows_its_redeliveries(
    open_app: AppFactory,
) -> None:
    app = open_app()
    assert outcomes(app.record_batch(originals())) == ["accepted"] * 5
    written = head(app)
    app.close()
    query(app, f"DROP TABLE {INPUTS_TABLE}")  # as before the index existed
    old = open_app()
    assert outcomes(old.record_batch(originals())) == ["duplicate"] * 5  # by the lead's seen
    assert outcomes(old.record_batch(rewritten())) == ["duplicate"] * 5
    assert head(old) == written
    # new inputs are indexed as before
    assert old.record(touchpoint("t-9", at=T0 + hours(5))).outcome is Outcome.ACCEPTED
    assert old.record(touchpoint("t-9", "email_open", at=T0 + hours(5))).code == "id_conflict"


def test_the_index_holds_no_plaintext_and_erasure_leaves_it_unreadable(
    open_app: AppFactory,
) -> None:
    app = open_app()
    secrets = ["ada@acme.com", "Ada Lovelace", "+44 20 7946 0001", "call back on Monday"]
    items: list[Inbound] = [
        touchpoint("t-1", profile={"name": secrets[1], "phone": secrets[2]},
                   properties={"contact": secrets[0]}),
        action("a-3", "note", text=secrets[3]),
    ]
    lead_id = app.record_batch(items)[0].lead_id
    assert lead_id is not None
    rows = query(app, f"SELECT input_id, content FROM {INPUTS_TABLE}")
    assert sorted(r[0] for r in rows) == ["action:a-3", "touchpoint:t-1"]
    for _, content in rows:
        for secret in secrets:
            assert secret.encode() not in bytes(content)
            assert secret.upper().encode() not in bytes(content)
    app.erase(lead_id, actor="dpo", cause="erasure:1")
    reopened = open_app()
    # what it said cannot be read any more: a redelivery is a duplicate, written nowhere
    assert outcomes(reopened.record_batch(items)) == ["duplicate", "duplicate"]
    changed = touchpoint("t-1", "demo_requested")
    assert reopened.record(changed).outcome is Outcome.DUPLICATE  # cannot be compared
    other = reopened.record(touchpoint("t-1", email=BO))
    assert other.code == "id_conflict"
    assert f"already recorded for lead {lead_id}" in (other.reason or "")


def test_an_altered_or_swapped_index_row_is_a_conflict_never_a_duplicate(
    open_app: AppFactory,
) -> None:
    app = open_app()
    assert outcomes(app.record_batch(originals())) == ["accepted"] * 5
    rows = dict(query(app, f"SELECT input_id, content FROM {INPUTS_TABLE}"))
    # t-2's row gets t-1's sealed content (same lead, same key): bound to its own id, it
    # does not open; a-1's row gets one byte flipped
    flipped = bytearray(bytes(rows["action:a-1"]))
    flipped[-1] ^= 1
    for cause, content in (("touchpoint:t-2", bytes(rows["touchpoint:t-1"])),
                           ("action:a-1", bytes(flipped))):
        query(app, f"UPDATE {INPUTS_TABLE} SET content = ? WHERE input_id = ?",
              (content, cause))
    reopened = open_app()
    results = reopened.record_batch(originals())
    assert outcomes(results) == ["duplicate", "id_conflict", "id_conflict", "duplicate",
                                 "duplicate"]
    for result in results[1:3]:
        assert "the recorded content does not decrypt: altered?" in (result.reason or "")


# -- through the distributed path -------------------------------------------------------------


def test_a_reused_id_in_another_partition_goes_to_the_dead_letters(
    open_app: AppFactory,
) -> None:
    app = open_app()
    ingest = PartitionIngest(app, "tp")
    letters: list[DeadLetter] = []

    def msg(partition: int, offset: int, data: dict[str, Any]) -> Message:
        return Message(partition, offset, b"k", orjson.dumps(data))

    counts = ingest.process({
        0: [msg(0, 0, touchpoint_data("t-1")), msg(0, 1, touchpoint_data("t-1", "email_open"))],
        1: [msg(1, 0, touchpoint_data("t-1", email=BO)), msg(1, 1, touchpoint_data("t-1"))],
    }, letters.extend)
    assert counts == (1, 1, 2, 0)
    bodies = [orjson.loads(d.value) for d in letters]
    assert [(b["code"], b["source"]["partition"], b["source"]["offset"]) for b in bodies] == [
        ("id_conflict", 0, 1), ("id_conflict", 1, 0)]
    with pytest.raises(LeadNotFound):
        app.find_lead(BO)


# -- identity conflicts ------------------------------------------------------------------------


def two_leads_of_one_person(app: LeadLifecycle) -> tuple[UUID, UUID]:
    """Ada known to the CRM by its id only, and to marketing by email only: two leads."""
    by_id = app.record(touchpoint("crm-1", external_id="crm-ada", email=None,
                                  profile={**FIT45, "phone": "+1 555 0100"}))
    by_email = app.record(touchpoint("mkt-1", at=T0 + hours(1)))
    assert by_id.lead_id is not None
    assert by_email.lead_id is not None
    assert by_id.lead_id != by_email.lead_id
    return by_id.lead_id, by_email.lead_id


BOTH_KEYS: list[Inbound] = [
    touchpoint("both-1", "webinar_attended", at=T0 + hours(2), external_id="crm-ada"),
    touchpoint("both-2", "page_view", at=T0 + hours(2), external_id="crm-ada",
               email="ADA@acme.com", profile={"name": "Ada"}),
    action("both-3", "note", at=T0 + hours(3), external_id="crm-ada", text="merged?"),
    action("both-4", "bant", at=T0 + hours(3), external_id="crm-ada", budget=True),
]


def test_keys_of_two_different_leads_are_an_identity_conflict_naming_both(
    open_app: AppFactory,
) -> None:
    app = open_app()
    by_id, by_email = two_leads_of_one_person(app)
    written = head(app)
    for reopen in (False, True):
        if reopen:
            app.close()
            app = open_app()
        results = app.record_batch(BOTH_KEYS)
        assert outcomes(results) == ["identity_conflict"] * 4
        for r in results:
            assert (f"its external_id belongs to lead {by_id}, its email belongs to lead "
                    f"{by_email}") in (r.reason or "")
            assert "LIFECYCLE_IDENTITY_CONFLICT=first_key" in (r.reason or "")
    assert head(app) == written
    # nothing linked: each key still finds its own lead
    assert (app.find_lead("crm-ada"), app.find_lead(EMAIL)) == (by_id, by_email)
    # one known key and one new key still link (two systems reach one lead)
    linked = app.record(touchpoint("new-1", at=T0 + hours(4), external_id="crm-new"))
    assert linked.lead_id == by_email
    assert app.find_lead("crm-new") == by_email


def test_first_key_applies_the_input_to_the_external_ids_lead_only(
    open_app: AppFactory,
) -> None:
    app = open_app()
    by_id, by_email = two_leads_of_one_person(app)
    email_lead_events = len(app.lead_events(by_email))
    merged = open_app(identity_conflict="first_key")
    results = merged.record_batch(BOTH_KEYS)
    assert outcomes(results) == ["accepted"] * 4
    assert {r.lead_id for r in results} == {by_id}
    assert len(merged.lead_events(by_email)) == email_lead_events  # nothing on the other
    assert (merged.find_lead("crm-ada"), merged.find_lead(EMAIL)) == (by_id, by_email)
    assert merged.get_lead(by_id).bant.budget is True
    assert merged.get_lead(by_email).bant.budget is None
    # redelivered under either rule: duplicates (the id is checked first)
    assert outcomes(merged.record_batch(BOTH_KEYS)) == ["duplicate"] * 4
    assert outcomes(open_app().record_batch(BOTH_KEYS)) == ["duplicate"] * 4


def test_an_unknown_setting_for_identity_conflicts_is_refused() -> None:
    with pytest.raises(ValueError, match="identity_conflict"):
        Settings(identity_conflict="merge")


# -- random redeliveries and mutations ------------------------------------------------------

PEOPLE = ("ada@acme.com", "bo@initech.io", "cy@globex.de")
KINDS = ("page_view", "email_open", "form_submit", "demo_requested")
# (what, id, person, variant): what 0-1 a touchpoint, 2 a note, 3 a redelivery of an
# earlier input as sent, 4 an earlier input with one thing changed
ops = st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 2), st.integers(0, 7))
_run = itertools.count()


def mutate(item: Inbound, variant: int, person: str) -> Inbound:
    data = item.model_dump(mode="json", exclude_none=True)
    match variant % 4:
        case 0:
            data["email"] = person
        case 1:
            data["occurred_at"] = (item.occurred_at + timedelta(minutes=5)).isoformat()
        case 2:
            if isinstance(item, Touchpoint):
                data["kind"] = KINDS[(KINDS.index(item.kind) + 1) % len(KINDS)]
            else:
                data["text"] = f"{item.text} again"
        case _:
            data["email"] = str(data["email"]).upper()  # the same content, written otherwise
    return json_input(data)


def meaning(item: Inbound) -> dict[str, Any]:
    """The test's own notion of an input's content: the validated fields but the id."""
    return item.model_dump(mode="json", exclude_none=True,
                           exclude={"touchpoint_id", "action_id"})


@settings(deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=st.lists(st.lists(ops, min_size=1, max_size=8), min_size=1, max_size=4))
def test_random_redeliveries_and_mutations_never_record_an_id_twice(
    database_url: str, templates: TemplateRegistry, scoring: ScoringConfig,
    plan: list[list[tuple[int, int, int, int]]],
) -> None:
    run = next(_run)  # examples share the database: ids and people of their own
    people = [p.replace("@", f"+{run}@") for p in PEOPLE]

    def open_app() -> LeadLifecycle:
        return LeadLifecycle(Settings(database_url=database_url), templates=templates,
                             scoring=scoring, clock=lambda: NOW)

    app = open_app()
    try:
        sent, recorded, written = _random_traffic(app, run, people, plan)
        known = len(recorded)
    finally:
        app.close()
    restarted = open_app()  # everything again, with empty caches: nothing new is written
    try:
        again = restarted.record_batch(sent)
        for item, result in zip(sent, again, strict=True):
            cause = _cause(item)
            if cause in recorded:
                assert outcomes([result]) == [
                    "duplicate" if recorded[cause][0] == meaning(item) else "id_conflict"]
            elif result.outcome is Outcome.ACCEPTED:
                # rejected before its lead was captured (a note that overtook it): now
                # accepted, once
                assert isinstance(item, SalesAction)
                recorded[cause] = (meaning(item), str(item.email))
        assert (head(restarted) == written) is (len(recorded) == known)
        _check_one_lead_per_id(restarted, run, recorded)
    finally:
        restarted.close()


def _cause(item: Inbound) -> str:
    return ("touchpoint:" if isinstance(item, Touchpoint) else "action:") + item.input_id


def _check_one_lead_per_id(
    store: LeadLifecycle, run: int, recorded: dict[str, tuple[dict[str, Any], str]]
) -> None:
    mine = {c: leads for c, leads in causes_by_lead(store).items() if f":r{run}-" in c}
    assert set(mine) == set(recorded)
    for cause, leads in mine.items():
        assert len(leads) == 1, (cause, leads)  # one lead per id
        (lead_id,) = leads
        assert lead_id == store.find_lead(recorded[cause][1])
        counts = leads[lead_id]
        assert counts["TouchpointRecorded"] + counts["NoteAdded"] == 1, (cause, counts)


def _random_traffic(
    app: LeadLifecycle, run: int, people: list[str], plan: list[list[tuple[int, int, int, int]]]
) -> tuple[list[Inbound], dict[str, tuple[dict[str, Any], str]], int | None]:
    """Records the plan's batches, checking each outcome against an oracle; returns what
    was sent, what was recorded (cause → content, person) and the store's head."""
    sent: list[Inbound] = []
    recorded: dict[str, tuple[dict[str, Any], str]] = {}  # cause → content, person
    received = 0
    totals: Counter[str] = Counter()
    for ops_of_batch in plan:
        batch: list[Inbound] = []
        for what, n, who, variant in ops_of_batch:
            person = people[who]
            at = T0 + hours(n)
            if what <= 1 or (what >= 3 and not sent):
                item: Inbound = touchpoint(f"r{run}-{n}", KINDS[variant % len(KINDS)], at=at,
                                           email=person)
            elif what == 2:
                item = action(f"r{run}-{n}", "note", at=at, email=person, text=f"n{variant}")
            elif what == 3:
                item = sent[variant % len(sent)]
            else:
                item = mutate(sent[variant % len(sent)], variant, person)
            batch.append(item)
            sent.append(item)
        expected = []
        for item in batch:  # the oracle, in order, as the engine must judge
            cause = _cause(item)
            if cause in recorded:
                expected.append("duplicate" if recorded[cause][0] == meaning(item)
                                else "id_conflict")
            elif isinstance(item, SalesAction) and item.email not in {
                    person for _, person in recorded.values()}:
                expected.append("unknown_lead")
            else:
                recorded[cause] = (meaning(item), str(item.email))
                expected.append("accepted")
        results = app.record_batch(batch)
        received += len(batch)
        assert outcomes(results) == expected
        totals.update(r.outcome.value for r in results)
    assert totals["accepted"] + totals["duplicate"] + totals["rejected"] == received
    _check_one_lead_per_id(app, run, recorded)
    return sent, recorded, head(app)


# -- a key is looked up as it is recorded ---------------------------------------------------

IDN = "josé@bücher.de"  # recorded as the contract normalises it: NFC, Unicode domain


@pytest.mark.parametrize("written", [
    IDN.upper(), "jose\u0301@bücher.de", "josé@xn--bcher-kva.de", "JOSÉ@XN--BCHER-KVA.DE",
    f"email:{IDN.upper()}", "email:josé@xn--bcher-kva.de", f"  {IDN}\t", "josé@bu\u0308cher.de",
])
def test_a_lead_is_found_by_any_form_of_its_email_the_contract_takes_for_the_same(
    open_app: AppFactory, written: str
) -> None:
    # Ingest records an email as email-validator normalises it (NFC, the domain in
    # Unicode, lower case); the lookup of `lead show`, `audit` and `erase` only lowered
    # it, so the punycode or decomposed form of the address said "no lead is known".
    app = open_app()
    item = parse_inbound_json(orjson.dumps(touchpoint_data("idn-1", email=written.strip()
                                                           .removeprefix("email:"))))
    recorded = app.record(item)
    assert recorded.outcome is Outcome.ACCEPTED
    for form in (IDN, written):
        assert app.find_lead(form) == recorded.lead_id
    with pytest.raises(LeadNotFound):
        app.find_lead("josé@bucher.de")


@pytest.mark.parametrize(("first", "second"), [
    ("café-1", "cafe\u0301-1"), ("cafe\u0301-1", "café-1"), ("Å", "A\u030a"),
    ("한국", unicodedata.normalize("NFD", "한국")),
])
def test_the_composed_and_decomposed_forms_of_an_external_id_are_one_lead(
    open_app: AppFactory, first: str, second: str
) -> None:
    assert first != second
    app = open_app()
    one = app.record(parse_inbound_json(orjson.dumps(touchpoint_data(
        "nfc-1", email=None, external_id=first))))
    two = app.record(parse_inbound_json(orjson.dumps(touchpoint_data(
        "nfc-2", email=None, external_id=second, at=T0 + hours(1)))))
    assert (one.outcome, two.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert one.lead_id == two.lead_id
    for form in (first, second, f"external:{second}", unicodedata.normalize("NFKD", first)):
        assert open_app().find_lead(form) == one.lead_id
