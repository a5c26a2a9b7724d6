"""Every legal and illegal transition of the Lead state machine (generic_b2b template).

Each case builds a lead in a stage through real commands, applies one sales action at
``ACTION_AT`` and checks the events it emitted and the stage it left the lead in, or
the IllegalTransition it raised (and that nothing was emitted then).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import pytest

from lifecycle.aggregates.lead import Lead
from lifecycle.contracts import REASON_TAXONOMY_VERSION, SalesAction, Touchpoint
from lifecycle.errors import IllegalTransition
from lifecycle.handling import apply_input, touch_of
from lifecycle.scoring import ScoringConfig, fit_score
from lifecycle.templates import FunnelTemplate, TemplateRegistry
from tests.support import EMAIL, FIT45, T0, action, event_names, hours, lead_events, touchpoint

RECORDED_AT = datetime(2024, 6, 1, tzinfo=UTC)
ACTION_AT = T0 + hours(24)
LEAD_ID = uuid5(NAMESPACE_URL, "test:lead")
OPP = ("discovery", "proposal", "negotiation", "closing")
STAGES = ("captured", "nurturing", "mql", "sql", *OPP, "won", "lost", "disqualified")
ACTIONS = ("accept", "advance", "win", "lose", "disqualify", "recycle", "reopen", "bant", "note",
           "qualify")

# The fields each action is sent with in the table (valid under the contract).
ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "accept": {},
    "advance": {"amount": 12_000, "currency": "eur"},
    "win": {"amount": 15_000, "currency": "EUR"},
    "lose": {"reason": "competitor_won", "competitor": "Initech", "text": "cheaper"},
    "disqualify": {"reason": "need_mismatch", "text": "wants consumer product"},
    "recycle": {"reason": "decision_postponed", "text": "next quarter"},
    "reopen": {"text": "budget freed up"},
    "bant": {"budget": True, "authority": True, "need": True},
    "note": {"text": "called, left a voicemail"},
    "qualify": {"rule": "trade_fair_list", "text": "met at the fair, wants a demo"},
}


class Driver:
    """Runs commands against one Lead aggregate, the way the application does."""

    def __init__(self, template: FunnelTemplate, config: ScoringConfig) -> None:
        self.template = template
        self.config = config
        self.count = 0

    def capture(self, tp: Touchpoint) -> Lead:
        return Lead.capture(LEAD_ID, touch_of(tp), keys=(f"email:{EMAIL}",), email=tp.email,
                            external_id=tp.external_id, template=self.template,
                            config=self.config, recorded_at=RECORDED_AT)

    def touch(self, lead: Lead, tp: Touchpoint) -> None:
        lead.record_touchpoint(touch_of(tp), template=self.template, config=self.config,
                               recorded_at=RECORDED_AT)

    def act(self, lead: Lead, kind: str, *, at: datetime = ACTION_AT, **fields: Any) -> None:
        self.count += 1
        # As the application does: the contract mapped onto the named command.
        apply_input(lead, self.action(kind, at=at, **fields), template=self.template,
                    config=self.config, recorded_at=RECORDED_AT)

    def action(self, kind: str, *, at: datetime = ACTION_AT, **fields: Any) -> SalesAction:
        return action(f"{kind}-{self.count}", kind, at=at, **fields)

    def regrade(self, lead: Lead, at: datetime) -> bool:
        return lead.regrade(at, template=self.template, config=self.config,
                            recorded_at=RECORDED_AT, cause="policy:test")

    def send_nurture(self, lead: Lead, at: datetime) -> bool:
        return lead.send_due_nurture(at, config=self.config, recorded_at=RECORDED_AT,
                                     cause="policy:nurture")

    def just_captured(self) -> Lead:
        """A lead between its Captured event and the rules that follow it.

        ``Lead.capture`` always grades the new lead and moves it on to nurturing (or
        disqualifies it), so ``captured`` is never a resting stage; the guards still
        have to hold for it.
        """
        fit, parts = fit_score(FIT45, self.config.fit)
        return Lead._create(
            Lead.Captured, id=LEAD_ID, timestamp=RECORDED_AT, occurred_at=T0,
            source="website", actor="website", cause_id="touchpoint:tp-0",
            template=self.template.name, keys=(f"email:{EMAIL}",), email=EMAIL,
            external_id=None, profile=dict(FIT45), channel="seo", fit=fit, fit_parts=parts,
        )

    def lead_in(self, stage: str) -> Lead:
        """A lead resting in ``stage``, with no pending events left."""
        if stage == "captured":
            lead = self.just_captured()
        else:
            lead = self.capture(touchpoint("tp-1", profile=FIT45))  # cold, nurturing
            if stage == "disqualified":
                self.act(lead, "disqualify", at=T0 + hours(1), reason="invalid_lead")
            elif stage != "nurturing":
                # demo request by a fit-45 lead: instant MQL
                self.touch(lead, touchpoint("tp-2", "demo_requested", at=T0 + hours(1)))
                if stage != "mql":
                    self.act(lead, "accept", at=T0 + hours(2))
                target = {"won": "closing", "lost": "proposal"}.get(stage, stage)
                if target in OPP:
                    for n in range(OPP.index(target) + 1):
                        self.act(lead, "advance", at=T0 + hours(3 + n))
                if stage == "won":
                    self.act(lead, "win", at=T0 + hours(8))
                elif stage == "lost":
                    self.act(lead, "lose", at=T0 + hours(8), reason="no_budget")
        assert lead.stage == stage
        lead.collect_events()
        return lead


@pytest.fixture
def driver(templates: TemplateRegistry, scoring: ScoringConfig) -> Driver:
    return Driver(templates["generic_b2b"], scoring)


@dataclass(frozen=True)
class Legal:
    events: tuple[str, ...]
    stage: str


@dataclass(frozen=True)
class Illegal:
    why: str


NOT_MQL = Illegal("the lead is not marketing-qualified yet; give skip_reason to accept it anyway")
ONLY_MQL = Illegal("only a marketing-qualified lead (mql) can be accepted")
ACCEPT_FIRST = Illegal("only a sales-qualified lead (sql) or an opportunity can advance; "
                       "accept it first (template 'generic_b2b' stages: discovery, proposal, "
                       "negotiation, closing)")
LAST_STAGE = Illegal("it is the template's last stage; win or lose it")
WIN_ONLY = Illegal("only a sales-qualified lead or an open opportunity can be won")
LOSE_ONLY = Illegal("only a sales-qualified lead or an open opportunity can be lost; "
                    "disqualify or recycle a lead earlier in the funnel")
CLOSED = Illegal("the lead is already closed")
RECYCLE_ONLY = Illegal("only an MQL, SQL or open opportunity can be recycled to nurturing")
REOPEN_ONLY = Illegal("only a lost or disqualified lead can be reopened")
BANT_CLOSED = Illegal("the lead is closed; reopen it first")
QUALIFIED = Illegal("it is marketing-qualified already")
QUALIFY_CLOSED = Illegal("the lead is closed; reopen it first")


def skips(*stages: str) -> Illegal:
    return Illegal(f"it skips {', '.join(stages)}; give skip_reason to close early")


def ok(*events: str, stage: str) -> Legal:
    return Legal(events, stage)


DISQUALIFIED = ok("Disqualified", stage="disqualified")
LOST = ok("Lost", stage="lost")
# Recycling restarts nurture: the grade (warm) is unchanged a day later, so the warm
# track's first step goes out at once.
RECYCLED = ok("Recycled", "NurtureStepSent", stage="nurturing")


def bant(stage: str) -> Legal:
    # Three criteria met: the total stays in the lead's grade band, so no Graded.
    return ok("BantAssessed", stage=stage)


def note(stage: str) -> Legal:
    return ok("NoteAdded", stage=stage)


TABLE: dict[str, dict[str, Legal | Illegal]] = {
    "captured": {
        "accept": NOT_MQL, "advance": ACCEPT_FIRST, "win": WIN_ONLY, "lose": LOSE_ONLY,
        "disqualify": DISQUALIFIED, "recycle": RECYCLE_ONLY, "reopen": REOPEN_ONLY,
        # the rules that follow capture run after the assessment: grade, nurture
        "bant": ok("BantAssessed", "Graded", "StageAdvanced", "NurtureStepSent",
                   stage="nurturing"),
        "note": note("captured"),
        # to nurturing first (as accept with skip_reason does), then graded as an MQL
        "qualify": ok("StageAdvanced", "MarketingQualified", "Graded", stage="mql"),
    },
    "nurturing": {
        "accept": NOT_MQL, "advance": ACCEPT_FIRST, "win": WIN_ONLY, "lose": LOSE_ONLY,
        "disqualify": DISQUALIFIED, "recycle": RECYCLE_ONLY, "reopen": REOPEN_ONLY,
        "bant": bant("nurturing"), "note": note("nurturing"),
        "qualify": ok("MarketingQualified", stage="mql"),
    },
    "mql": {
        "accept": ok("SalesAccepted", stage="sql"), "advance": ACCEPT_FIRST,
        "win": WIN_ONLY, "lose": LOSE_ONLY, "disqualify": DISQUALIFIED, "recycle": RECYCLED,
        "reopen": REOPEN_ONLY, "bant": bant("mql"), "note": note("mql"), "qualify": QUALIFIED,
    },
    "sql": {
        "accept": ONLY_MQL, "advance": ok("StageAdvanced", stage="discovery"),
        "win": skips(*OPP), "lose": LOST, "disqualify": DISQUALIFIED, "recycle": RECYCLED,
        "reopen": REOPEN_ONLY, "bant": bant("sql"), "note": note("sql"), "qualify": QUALIFIED,
    },
    "discovery": {
        "accept": ONLY_MQL, "advance": ok("StageAdvanced", stage="proposal"),
        "win": skips("proposal", "negotiation", "closing"), "lose": LOST,
        "disqualify": DISQUALIFIED, "recycle": RECYCLED, "reopen": REOPEN_ONLY,
        "bant": bant("discovery"), "note": note("discovery"), "qualify": QUALIFIED,
    },
    "proposal": {
        "accept": ONLY_MQL, "advance": ok("StageAdvanced", stage="negotiation"),
        "win": skips("negotiation", "closing"), "lose": LOST, "disqualify": DISQUALIFIED,
        "recycle": RECYCLED, "reopen": REOPEN_ONLY, "bant": bant("proposal"),
        "note": note("proposal"), "qualify": QUALIFIED,
    },
    "negotiation": {
        "accept": ONLY_MQL, "advance": ok("StageAdvanced", stage="closing"),
        "win": skips("closing"), "lose": LOST, "disqualify": DISQUALIFIED,
        "recycle": RECYCLED, "reopen": REOPEN_ONLY, "bant": bant("negotiation"),
        "note": note("negotiation"), "qualify": QUALIFIED,
    },
    "closing": {
        "accept": ONLY_MQL, "advance": LAST_STAGE, "win": ok("Won", stage="won"),
        "lose": LOST, "disqualify": DISQUALIFIED, "recycle": RECYCLED,
        "reopen": REOPEN_ONLY, "bant": bant("closing"), "note": note("closing"),
        "qualify": QUALIFIED,
    },
    "won": {
        "accept": ONLY_MQL, "advance": ACCEPT_FIRST, "win": WIN_ONLY, "lose": LOSE_ONLY,
        "disqualify": CLOSED, "recycle": RECYCLE_ONLY, "reopen": REOPEN_ONLY,
        "bant": BANT_CLOSED, "note": note("won"), "qualify": QUALIFY_CLOSED,
    },
    "lost": {
        "accept": ONLY_MQL, "advance": ACCEPT_FIRST, "win": WIN_ONLY, "lose": LOSE_ONLY,
        "disqualify": CLOSED, "recycle": RECYCLE_ONLY,
        "reopen": ok("Reopened", stage="proposal"),  # back where it was lost
        "bant": BANT_CLOSED, "note": note("lost"), "qualify": QUALIFY_CLOSED,
    },
    "disqualified": {  # by a person: only reopen brings it back
        "accept": ONLY_MQL, "advance": ACCEPT_FIRST, "win": WIN_ONLY, "lose": LOSE_ONLY,
        "disqualify": CLOSED, "recycle": RECYCLE_ONLY,
        "reopen": ok("Reopened", stage="nurturing"),  # back where it was disqualified
        "bant": BANT_CLOSED, "note": note("disqualified"), "qualify": QUALIFY_CLOSED,
    },
}

VERBS = {"bant": "assess BANT of"}


def test_the_table_covers_every_stage_and_action() -> None:
    assert tuple(TABLE) == STAGES
    for stage, row in TABLE.items():
        assert tuple(sorted(row)) == tuple(sorted(ACTIONS)), stage


@pytest.mark.parametrize(("stage", "kind"), [(s, a) for s in STAGES for a in ACTIONS], ids=str)
def test_transition(driver: Driver, stage: str, kind: str) -> None:
    lead = driver.lead_in(stage)
    version = lead.version
    expected = TABLE[stage][kind]
    if isinstance(expected, Illegal):
        before = copy.deepcopy(lead.__dict__)
        with pytest.raises(IllegalTransition) as raised:
            driver.act(lead, kind, **ACTION_FIELDS[kind])
        verb = VERBS.get(kind, kind)
        assert str(raised.value) == f"cannot {verb} a lead in stage {stage!r}: {expected.why}"
        assert raised.value.code == "illegal_transition"
        assert raised.value.stage == stage
        assert lead.pending_events == []
        assert lead.version == version
        assert lead.__dict__ == before
    else:
        driver.act(lead, kind, **ACTION_FIELDS[kind])
        events = lead_events(lead)
        assert event_names(events) == list(expected.events)
        assert lead.stage == expected.stage
        assert lead.version == version + len(events)
        first = events[0]
        assert first.occurred_at == ACTION_AT
        assert first.cause_id.startswith(f"action:{kind}-")
        assert first.source == "sales"
        assert first.actor == "sales:bob"
        assert first.timestamp == RECORDED_AT


# -- what the legal transitions carry --------------------------------------------------


def test_lose_carries_reason_competitor_text_and_the_stage_it_left(driver: Driver) -> None:
    lead = driver.lead_in("negotiation")
    driver.act(lead, "lose", **ACTION_FIELDS["lose"])
    (lost,) = lead_events(lead)
    assert isinstance(lost, Lead.Lost)
    assert (lost.from_stage, lost.reason, lost.competitor, lost.text) == (
        "negotiation", "competitor_won", "Initech", "cheaper")
    assert lost.taxonomy_version == REASON_TAXONOMY_VERSION
    assert lead.lost_from == "negotiation"
    assert lead.stage_entered_at == ACTION_AT


def test_disqualify_carries_reason_and_text(driver: Driver) -> None:
    lead = driver.lead_in("mql")
    driver.act(lead, "disqualify", reason="invalid_lead", text="student project")
    (event,) = lead_events(lead)
    assert isinstance(event, Lead.Disqualified)
    assert (event.from_stage, event.reason, event.text, event.competitor) == (
        "mql", "invalid_lead", "student project", None)


def test_reopen_returns_to_the_stage_the_lead_was_lost_from(driver: Driver) -> None:
    lead = driver.lead_in("sql")
    driver.act(lead, "lose", reason="no_response")
    driver.act(lead, "reopen", at=ACTION_AT + hours(1))
    lost, reopened = lead_events(lead)
    assert isinstance(lost, Lead.Lost)
    assert isinstance(reopened, Lead.Reopened)
    assert reopened.to_stage == "sql"
    assert (lead.stage, lead.lost_from) == ("sql", None)
    # reopened once, it is not lost any more: a second reopen is illegal
    with pytest.raises(IllegalTransition, match="only a lost or disqualified lead can be"):
        driver.act(lead, "reopen", at=ACTION_AT + hours(2))


def test_win_and_advance_record_the_deal_amount(driver: Driver) -> None:
    lead = driver.lead_in("negotiation")
    driver.act(lead, "advance", amount=10_000, currency="usd")
    assert (lead.amount, lead.currency) == (10_000, "USD")
    driver.act(lead, "win", at=ACTION_AT + hours(1))  # no amount: the deal's stays
    won = lead_events(lead)[-1]
    assert isinstance(won, Lead.Won)
    assert (won.from_stage, won.skipped, won.skip_reason, won.amount) == (
        "closing", (), None, None)
    assert (lead.stage, lead.amount, lead.currency) == ("won", 10_000, "USD")


def test_recycle_restarts_nurture_from_its_first_step(driver: Driver) -> None:
    lead = driver.lead_in("proposal")
    driver.act(lead, "recycle", reason="decision_postponed")
    recycled, step = lead_events(lead)
    assert isinstance(recycled, Lead.Recycled)
    assert (recycled.from_stage, recycled.reason) == ("proposal", "decision_postponed")
    assert isinstance(step, Lead.NurtureStepSent)
    assert (step.track, step.step, step.content) == ("warm", 0, "customer_case_study")
    assert step.track_started_at == ACTION_AT
    assert (lead.stage, lead.nurture_next_step) == ("nurturing", 1)


def test_note_is_recorded_in_every_stage_and_changes_nothing_else(driver: Driver) -> None:
    lead = driver.lead_in("won")
    before = {k: v for k, v in lead.__dict__.items() if k not in ("_version", "_modified_on",
                                                                   "seen", "_pending_events")}
    driver.act(lead, "note", text="sent a thank-you card")
    (event,) = lead_events(lead)
    assert isinstance(event, Lead.NoteAdded)
    assert event.text == "sent a thank-you card"
    after = {k: v for k, v in lead.__dict__.items() if k in before}
    assert after == before


def test_bant_merges_with_earlier_answers(driver: Driver) -> None:
    lead = driver.lead_in("sql")
    driver.act(lead, "bant", budget=True, need=False)
    driver.act(lead, "bant", at=ACTION_AT + hours(1), need=True, timeline=True)
    first, second = (e for e in lead_events(lead) if isinstance(e, Lead.BantAssessed))
    assert (first.budget, first.authority, first.need, first.timeline) == (True, None, False,
                                                                           None)
    assert (second.budget, second.authority, second.need, second.timeline) == (True, None,
                                                                              True, True)
    assert lead.bant.met == 3


# -- skip_reason rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "events"),
    [
        ("captured", ["StageAdvanced", "MarketingQualified", "SalesAccepted"]),
        ("nurturing", ["MarketingQualified", "SalesAccepted"]),
        ("mql", ["SalesAccepted"]),
    ],
)
def test_accept_with_skip_reason_qualifies_a_pool_lead(
    driver: Driver, stage: str, events: list[str]
) -> None:
    lead = driver.lead_in(stage)
    driver.act(lead, "accept", skip_reason="met at trade fair, urgent need")
    emitted = lead_events(lead)
    assert event_names(emitted) == events
    assert lead.stage == "sql"
    mql = [e for e in emitted if isinstance(e, Lead.MarketingQualified)]
    if stage != "mql":
        assert mql[0].rule == "sales override: met at trade fair, urgent need"
        assert mql[0].from_stage == "nurturing"


@pytest.mark.parametrize("stage", ["sql", *OPP, "won", "lost", "disqualified"])
def test_skip_reason_does_not_make_accept_legal_past_the_pool(driver: Driver, stage: str) -> None:
    lead = driver.lead_in(stage)
    with pytest.raises(IllegalTransition, match=r"only a marketing-qualified lead \(mql\)"):
        driver.act(lead, "accept", skip_reason="please")
    assert lead.pending_events == []


@pytest.mark.parametrize(
    ("stage", "skipped"),
    [
        ("sql", OPP),
        ("discovery", ("proposal", "negotiation", "closing")),
        ("proposal", ("negotiation", "closing")),
        ("negotiation", ("closing",)),
        ("closing", ()),
    ],
)
def test_win_early_needs_skip_reason_and_records_what_it_skipped(
    driver: Driver, stage: str, skipped: tuple[str, ...]
) -> None:
    lead = driver.lead_in(stage)
    driver.act(lead, "win", skip_reason="signed at the first meeting", amount=5, currency="EUR")
    (won,) = lead_events(lead)
    assert isinstance(won, Lead.Won)
    assert won.skipped == skipped
    # the reason is kept only when something was skipped
    assert won.skip_reason == ("signed at the first meeting" if skipped else None)
    assert lead.stage == "won"


@pytest.mark.parametrize(
    ("stage", "target", "skipped"),
    [
        ("sql", "discovery", ()),
        ("sql", "negotiation", ("discovery", "proposal")),
        ("sql", "closing", ("discovery", "proposal", "negotiation")),
        ("discovery", "closing", ("proposal", "negotiation")),
        ("proposal", "negotiation", ()),
    ],
)
def test_advance_to_a_named_stage(
    driver: Driver, stage: str, target: str, skipped: tuple[str, ...]
) -> None:
    lead = driver.lead_in(stage)
    if skipped:
        with pytest.raises(IllegalTransition) as raised:
            driver.act(lead, "advance", stage=target)
        assert str(raised.value) == (
            f"cannot advance to {target!r} a lead in stage {stage!r}: it skips "
            f"{', '.join(skipped)}; give skip_reason to skip stages"
        )
        assert lead.pending_events == []
    driver.act(lead, "advance", stage=target, skip_reason="customer is in a hurry")
    (advanced,) = lead_events(lead)
    assert isinstance(advanced, Lead.StageAdvanced)
    assert (advanced.from_stage, advanced.to_stage, advanced.skipped) == (stage, target, skipped)
    assert advanced.skip_reason == ("customer is in a hurry" if skipped else None)
    assert lead.stage == target


@pytest.mark.parametrize(
    ("stage", "target", "why"),
    [
        ("negotiation", "discovery", "that stage is not ahead of the current one; recycle the "
         "lead instead"),
        ("negotiation", "negotiation", "that stage is not ahead of the current one; recycle "
         "the lead instead"),
        ("sql", "trial", "template 'generic_b2b' has no such stage (discovery, proposal, "
         "negotiation, closing)"),
        ("discovery", "mql", "template 'generic_b2b' has no such stage (discovery, proposal, "
         "negotiation, closing)"),
    ],
)
def test_advance_refuses_backwards_and_unknown_stages_even_with_skip_reason(
    driver: Driver, stage: str, target: str, why: str
) -> None:
    lead = driver.lead_in(stage)
    with pytest.raises(IllegalTransition) as raised:
        driver.act(lead, "advance", stage=target, skip_reason="because")
    assert str(raised.value) == f"cannot advance to {target!r} a lead in stage {stage!r}: {why}"
    assert lead.pending_events == []


# -- every template's opportunity stages -------------------------------------------------


@pytest.mark.parametrize("name", ["generic_b2b", "saas", "industrial"])
def test_every_opportunity_stage_of_every_template_in_order(
    templates: TemplateRegistry, scoring: ScoringConfig, name: str
) -> None:
    template = templates[name]
    drv = Driver(template, scoring)
    tp = touchpoint("tp-1", "contact_sales", profile={**FIT45, "employees": 300}, template=name)
    lead = drv.capture(tp)
    assert lead.stage == "mql"  # contact_sales is an instant MQL kind of every template
    drv.act(lead, "accept", at=T0 + hours(1))
    visited = []
    for n, _ in enumerate(template.opportunity_stages):
        drv.act(lead, "advance", at=T0 + hours(2 + n))
        visited.append(lead.stage)
    assert tuple(visited) == template.opportunity_stages
    with pytest.raises(IllegalTransition, match="last stage"):
        drv.act(lead, "advance", at=T0 + hours(20))
    drv.act(lead, "win", at=T0 + hours(21))
    assert lead.stage == "won"
    stages = [(e.from_stage, e.to_stage) for e in lead_events(lead)
              if isinstance(e, Lead.StageAdvanced)]
    path = ("sql", *template.opportunity_stages)
    assert stages[-len(path) + 1:] == list(itertools.pairwise(path))


def test_capture_never_rests_in_captured(driver: Driver) -> None:
    lead = driver.capture(touchpoint("tp-1"))
    assert event_names(lead_events(lead)) == [
        "Captured", "TouchpointRecorded", "Graded", "StageAdvanced", "NurtureStepSent"]
    assert lead.stage == "nurturing"
    advanced = lead_events(lead)[3]
    assert isinstance(advanced, Lead.StageAdvanced)
    assert (advanced.from_stage, advanced.to_stage) == ("captured", "nurturing")
