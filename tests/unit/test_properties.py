"""Property-based tests: random touchpoints and sales actions never break the lead.

- the Lead aggregate alone: any sequence of commands leaves an event log that obeys the
  state machine, and whose replay (also through the event store's mapper) rebuilds the
  live state exactly;
- the application on a real SQLite file: invariants hold after every batch, the
  outcomes add up, a second application on the same database rebuilds identical leads,
  redelivering any subset of accepted inputs is all ``duplicate`` and writes nothing,
  and the order touchpoints arrive in does not change which of them are recorded or the
  behaviour score.

Steps are drawn as small tuples of integers and decoded here into inputs: one draw per
test keeps generation cheap, and hypothesis still shrinks a failure to a short story.
Sales actions are mostly chosen among those that move the lead on from its current
stage (uniformly random ones are nearly all illegal, so leads would hardly get past
nurturing), and sometimes among all actions, so illegal transitions are tried too.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import project_aggregate
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lifecycle.aggregates.lead import Lead
from lifecycle.application import LeadLifecycle, Outcome
from lifecycle.contracts import LOSS_REASONS, SalesAction, Touchpoint
from lifecycle.errors import InputRejected
from lifecycle.handling import apply_input, keys_of, touch_of
from lifecycle.persistence import FastMapper
from lifecycle.scoring import GRADES, ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate, TemplateRegistry
from tests.support import FIT45, ICP, T0, action, touchpoint

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
FAST_RUNS = settings(deadline=None, max_examples=200, suppress_health_check=_QUIET)
RUNS = settings(deadline=None, max_examples=60, suppress_health_check=_QUIET)

SCORED_KINDS = ("page_view", "email_open", "email_click", "form_submit", "content_download",
                "webinar_attended", "pricing_page_view", "demo_requested", "contact_sales",
                "trial_started", "meeting_held", "quote_sent", "reply_received", "unsubscribe",
                "email_bounced")
KINDS = (*SCORED_KINDS, "fax_received")  # the last one is unknown: rejected
PROFILES: tuple[dict[str, Any] | None, ...] = (
    None, None, FIT45, ICP, {"industry": "retail", "employees": 20}, {"title": "Student"},
    {"phone": "+1 555 0100"},
)
TEMPLATES = (None, None, None, None, None, "saas", "industrial", "retail_store")  # last: unknown
STAGE_NAMES = ("discovery", "proposal", "negotiation", "closing", "demo", "trial", "bidding",
               "mql", "won")
BANT = ("budget", "authority", "need", "timeline")
ACTION_KINDS = ("accept", "advance", "win", "lose", "disqualify", "recycle", "reopen", "bant",
                "note", "qualify")
_ONWARDS = ("advance", "advance", "advance", "win", "lose", "recycle", "disqualify", "bant")
PROGRESS: dict[str, tuple[str, ...]] = {  # actions legal in a stage, moving on weighted up
    "nurturing": ("accept", "accept", "accept", "bant", "note", "qualify"),
    "mql": ("accept", "accept", "accept", "recycle", "disqualify", "bant"),
    "lost": ("reopen", "reopen", "note"),
    "won": ("note",),
    "disqualified": ("note", "reopen", "accept"),
}
PEOPLE = (  # (email, external id); a free-mail address is screened out under B2B templates
    ("ada@acme.com", "crm-ada"), ("ada@acme.com", "crm-ada"), ("ada@acme.com", "crm-ada"),
    ("bo@initech.io", "crm-bo"), ("bo@initech.io", "crm-bo"), ("cy@gmail.com", "crm-cy"),
)

hours = st.integers(min_value=-24 * 30, max_value=24 * 60)
# (what, choice, hours, bits): what 0-3 a touchpoint, 4-5 any action, 6-11 an onward action
steps = st.tuples(st.integers(0, 11), st.integers(0, 2**16), hours, st.integers(0, 2**8 - 1))


def make_touchpoint(n: int, choice: int, at_hours: int, bits: int, **keys: Any) -> Touchpoint:
    return touchpoint(
        f"tp-{n}", KINDS[choice % len(KINDS)], at=T0 + timedelta(hours=at_hours),
        profile=PROFILES[(choice // len(KINDS)) % len(PROFILES)],
        template=TEMPLATES[bits % len(TEMPLATES)], **keys,
    )


def action_kind(what: int, choice: int, stage: str | None) -> str:
    options = ACTION_KINDS if what < 6 or stage is None else PROGRESS.get(stage, _ONWARDS)
    return options[choice % len(options)]


def make_action(
    n: int, kind: str, choice: int, at_hours: int, bits: int, **keys: Any
) -> SalesAction:
    fields: dict[str, Any] = {}
    pick = choice // 16
    if kind in ("lose", "disqualify", "recycle"):
        fields["reason"] = LOSS_REASONS[pick % len(LOSS_REASONS)]
        if fields["reason"] == "competitor_won":
            fields["competitor"] = "Initech"
    elif kind == "bant":
        answers = {k: bool(bits >> (2 * i + 1) & 1) for i, k in enumerate(BANT)
                   if bits >> (2 * i) & 1}
        fields.update(answers or {"budget": True})
    elif kind == "note":
        fields["text"] = "called"
    elif kind in ("reopen", "qualify") and bits & 8:
        fields["text"] = "worth another look"  # a disqualified lead needs one to reopen
    if kind == "qualify" and bits & 16:
        fields["rule"] = "Imported MQL"
    if bits & 32:
        fields["properties"] = {"segment": ("smb", "enterprise")[pick % 2]}
    if kind in ("accept", "advance", "win") and bits & 1:
        fields["skip_reason"] = "sales override"
    if kind == "advance" and bits & 2:
        fields["stage"] = STAGE_NAMES[pick % len(STAGE_NAMES)]
    if kind in ("advance", "win", "lose") and bits & 4:
        fields.update(amount=pick, currency="EUR")
    return action(f"act-{n}", kind, at=T0 + timedelta(hours=at_hours), **keys, **fields)


# -- invariants ---------------------------------------------------------------------------

LEAVES_FROM = (Lead.StageAdvanced, Lead.MarketingQualified, Lead.SalesAccepted,
               Lead.SalesQualified, Lead.Recycled, Lead.Disqualified, Lead.Won, Lead.Lost,
               Lead.Reinstated)


def check_event_log(events: Sequence[Lead.Event], template: FunnelTemplate) -> list[str]:
    """Checks one lead's facts against the state machine; returns the stages it went through."""
    valid = set(template.open_stages) | set(CLOSED_STAGES)
    stage = ""
    path: list[str] = []
    graded: str | None = None
    for n, e in enumerate(events, start=1):
        assert e.originator_version == n
        if n == 1:
            assert isinstance(e, Lead.Captured)
            stage = "captured"
            path.append(stage)
            continue
        assert not isinstance(e, Lead.Captured)
        if isinstance(e, LEAVES_FROM):
            assert e.from_stage == stage, (type(e).__name__, e.from_stage, stage)
        if isinstance(e, Lead.Graded):
            assert stage not in CLOSED_STAGES
            assert (e.previous, e.grade != e.previous) == (graded, True)
            assert e.grade in GRADES
            graded = e.grade
        elif isinstance(e, Lead.NurtureStepSent):
            assert stage == "nurturing"
        elif isinstance(e, Lead.StageAdvanced):
            stage = e.to_stage
        elif isinstance(e, Lead.MarketingQualified):
            assert e.from_stage == "nurturing"
            stage = "mql"
        elif isinstance(e, Lead.SalesAccepted | Lead.SalesQualified):
            stage = "sql"
        elif isinstance(e, Lead.Recycled):
            stage = "nurturing"
        elif isinstance(e, Lead.Disqualified):
            stage = "disqualified"
        elif isinstance(e, Lead.Won):
            stage = "won"
        elif isinstance(e, Lead.Lost):
            stage = "lost"
        elif isinstance(e, Lead.Reopened):
            assert stage in ("lost", "disqualified")
            stage = e.to_stage
        elif isinstance(e, Lead.Reinstated):
            assert e.to_stage in ("captured", "nurturing")  # screens judge the pool only
            stage = e.to_stage
        assert stage in valid, stage
        if stage != path[-1]:
            path.append(stage)
    return path


def check_lead(lead: Lead, events: Sequence[Lead.Event], template: FunnelTemplate) -> None:
    assert lead.template == template.name
    assert lead.version == len(events)
    path = check_event_log(events, template)
    assert path[-1] == lead.stage
    if any(isinstance(e, Lead.Graded) for e in events):
        assert lead.grade in GRADES
    else:
        assert lead.grade is None
    assert (lead.lost_from is not None) == (lead.stage == "lost")
    assert (lead.disqualified_from is not None) == (lead.stage == "disqualified")
    assert {e.cause_id for e in events} == lead.seen
    for stage in set(path) - {"captured", "nurturing"}:
        known = stage in (*CLOSED_STAGES, "mql", "sql")
        event(f"a lead reached {stage if known else 'an opportunity stage'}")


def state(lead: Lead) -> dict[str, Any]:
    return dict(lead.__dict__)


# -- the aggregate alone ------------------------------------------------------------------


@FAST_RUNS
@given(first=steps, plan=st.lists(steps, min_size=1, max_size=40))
def test_any_command_sequence_replays_to_the_same_state(
    templates: TemplateRegistry, scoring: ScoringConfig, first: tuple[int, int, int, int],
    plan: list[tuple[int, int, int, int]],
) -> None:
    _, choice, at_hours, bits = first
    capture = make_touchpoint(0, choice - choice % len(KINDS), at_hours, bits)  # a page view
    name = capture.template or "generic_b2b"
    template = templates[name] if name in templates else templates["generic_b2b"]
    lead_id = uuid5(NAMESPACE_URL, "test:replay")
    lead = Lead.capture(lead_id, touch_of(capture), keys=("email:ada@acme.com",),
                        email=capture.email, external_id=capture.external_id,
                        template=template, config=scoring, recorded_at=T0)
    for n, (what, choice, at_hours, bits) in enumerate(plan, start=1):
        version = lead.version
        try:
            if what < 4:
                lead.record_touchpoint(touch_of(make_touchpoint(n, choice, at_hours, bits)),
                                       template=template, config=scoring, recorded_at=T0)
            else:
                kind = action_kind(what, choice, lead.stage)
                apply_input(lead, make_action(n, kind, choice, at_hours, bits),
                            template=template, config=scoring, recorded_at=T0)
        except InputRejected:
            assert lead.version == version  # guard, then emit: nothing on a rejection
    events = [e for e in lead.pending_events if isinstance(e, Lead.Event)]
    check_lead(lead, events, template)
    live = state(lead)
    lead.collect_events()
    live["_pending_events"] = []

    replayed = project_aggregate(None, events)
    assert isinstance(replayed, Lead)
    assert state(replayed) == live

    mapper = FastMapper()
    decoded = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
    assert [vars(d) for d in decoded] == [vars(e) for e in events]
    from_store = project_aggregate(None, decoded)
    assert isinstance(from_store, Lead)
    assert state(from_store) == live


# -- the application ----------------------------------------------------------------------


def batches(items: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """``items`` cut into batches of the given sizes (the rest in one last batch)."""
    out: list[list[Any]] = []
    i = 0
    for size in (*sizes, len(items)):
        if i >= len(items):
            break
        out.append(list(items[i : i + size]))
        i += size
    return out


def open_app(url: str, templates: TemplateRegistry, scoring: ScoringConfig) -> LeadLifecycle:
    return LeadLifecycle(Settings(database_url=url), templates=templates, scoring=scoring)


def live_lead(app: LeadLifecycle, lead_id: UUID) -> Lead:
    # White box: the application's cache holds the very objects the commands ran on
    # (cache_size is far above the number of leads here, so nothing is evicted).
    lead = app._leads[lead_id]
    assert isinstance(lead, Lead)
    return lead


KEY_STYLES = ("email", "email", "email", "both", "both", "external")
# (who, what, choice, hours, bits): who picks a person and which keys the input carries;
# what 12 redelivers an earlier input
app_steps = st.tuples(st.integers(0, 35), st.integers(0, 12), st.integers(0, 2**16), hours,
                      st.integers(0, 2**8 - 1))


class Traffic:
    """Decodes steps into inputs for a few people, as their leads move on."""

    def __init__(self, app: LeadLifecycle) -> None:
        self.app = app
        self.sent: list[Touchpoint | SalesAction] = []
        self.known: dict[str, UUID] = {}  # lead key -> lead id, as results told us

    def input(self, who: int, what: int, choice: int, at_hours: int, bits: int,
              ) -> Touchpoint | SalesAction:
        n = len(self.sent)
        if what == 12 and self.sent:
            item = self.sent[choice % len(self.sent)]
        else:
            email, external = PEOPLE[who % len(PEOPLE)]
            style = KEY_STYLES[(who // len(PEOPLE)) % len(KEY_STYLES)]
            keys = {"email": email if style != "external" else None,
                    "external_id": external if style != "email" else None}
            if what < 4 or what == 12:
                item = make_touchpoint(n, choice, at_hours, bits, **keys)
            else:
                known = [self.known[k] for k in (f"external:{keys['external_id']}",
                                                 f"email:{keys['email']}") if k in self.known]
                stage = live_lead(self.app, known[0]).stage if known else None
                kind = action_kind(what, choice, stage)
                item = make_action(n, kind, choice, at_hours, bits, **keys)
        self.sent.append(item)
        return item

    def learn(self, item: Touchpoint | SalesAction, lead_id: UUID | None) -> None:
        if lead_id is not None:
            for key in keys_of(item):
                self.known.setdefault(key, lead_id)


@RUNS
@given(plan=st.lists(st.lists(app_steps, min_size=1, max_size=10), min_size=1, max_size=10),
       again=st.lists(st.integers(0, 2**16), max_size=15),
       sizes=st.lists(st.integers(1, 5), max_size=5))
def test_random_inputs_keep_every_invariant_and_replay_identically(
    templates: TemplateRegistry, scoring: ScoringConfig,
    plan: list[list[tuple[int, int, int, int, int]]], again: list[int], sizes: list[int],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'lifecycle.db'}"
        app = open_app(url, templates, scoring)
        try:
            traffic = Traffic(app)
            accepted: dict[str, Touchpoint | SalesAction] = {}
            totals: Counter[Outcome] = Counter()
            lead_ids: set[UUID] = set()
            for batch_plan in plan:
                batch = [traffic.input(*step) for step in batch_plan]
                results = app.record_batch(batch)
                assert [r.input_id for r in results] == [i.input_id for i in batch]
                for item, result in zip(batch, results, strict=True):
                    totals[result.outcome] += 1
                    traffic.learn(item, result.lead_id)
                    if item.input_id in accepted:
                        assert result.outcome is Outcome.DUPLICATE, result
                        assert result.events == 0
                    elif result.outcome is Outcome.ACCEPTED:
                        accepted[item.input_id] = item
                        assert result.lead_id is not None
                        assert result.events > 0
                        lead_ids.add(result.lead_id)
                    else:
                        assert result.outcome is Outcome.REJECTED, result
                        assert result.code in ("schema", "unknown_lead", "unknown_template",
                                               "illegal_transition", "identity_conflict"), result
                        assert result.reason
                        if result.code == "identity_conflict":  # its keys name two leads
                            assert len({traffic.known[k] for k in keys_of(item)}) == 2
                for lead_id in lead_ids:
                    lead = live_lead(app, lead_id)
                    check_lead(lead, app.lead_events(lead_id), templates[lead.template])
            assert sum(totals.values()) == len(traffic.sent) == sum(map(len, plan))
            for outcome in totals:
                event(f"some inputs {outcome.value}")

            live = {lead_id: state(live_lead(app, lead_id)) for lead_id in lead_ids}
            for lead_id in lead_ids:
                assert state(app.get_lead(lead_id)) == live[lead_id]
            head = app.recorder.max_notification_id()

            # redelivery of any subset of what was accepted, in any batches: all duplicate
            ids = sorted(accepted)
            redelivered = [accepted[ids[i % len(ids)]] for i in again] if ids else []
            for batch in batches(redelivered, sizes):
                assert {r.outcome for r in app.record_batch(batch)} == {Outcome.DUPLICATE}
            assert app.recorder.max_notification_id() == head
        finally:
            app.close()

        # a second application on the same database rebuilds the same leads
        reader = open_app(url, templates, scoring)
        try:
            for lead_id in lead_ids:
                assert state(reader.get_lead(lead_id)) == live[lead_id]
            for batch in batches(redelivered, [3]):
                assert {r.outcome for r in reader.record_batch(batch)} == {Outcome.DUPLICATE}
            assert reader.recorder.max_notification_id() == head
        finally:
            reader.close()


@RUNS
@given(
    touches=st.lists(st.tuples(st.sampled_from(SCORED_KINDS), hours), min_size=1, max_size=15),
    data=st.data(),
)
def test_the_order_touchpoints_arrive_in_does_not_change_what_is_recorded(
    templates: TemplateRegistry, scoring: ScoringConfig,
    touches: list[tuple[str, int]], data: st.DataObject,
) -> None:
    sent = [touchpoint(f"tp-{n}", kind, at=T0 + timedelta(hours=h),
                       profile=FIT45 if n == 0 else None)
            for n, (kind, h) in enumerate(touches)]
    shuffled = data.draw(st.permutations(sent))
    leads = []
    for order in (sent, shuffled):
        sizes = data.draw(st.lists(st.integers(1, 6), max_size=5))
        app = open_app("sqlite:///:memory:", templates, scoring)
        try:
            outcomes = [r.outcome for b in batches(order, sizes) for r in app.record_batch(b)]
            assert set(outcomes) == {Outcome.ACCEPTED}
            lead_id = app.find_lead("ada@acme.com")
            recorded = {e.cause_id for e in app.lead_events(lead_id)
                        if isinstance(e, Lead.TouchpointRecorded)}
            assert recorded == {f"touchpoint:{tp.touchpoint_id}" for tp in sent}
            leads.append((lead_id, app.get_lead(lead_id)))
        finally:
            app.close()
    (id_a, a), (id_b, b) = leads
    assert id_a == id_b
    # every touch scored at its own business time: the sum decayed to the newest one
    assert a.behaviour_at == b.behaviour_at == max(tp.occurred_at for tp in sent)
    assert abs(a.behaviour - b.behaviour) <= 1e-5
    assert a.last_touch_at == b.last_touch_at
    assert sorted(a.contributions, key=repr) == sorted(b.contributions, key=repr)
