"""A lead's whole story: marketing (:mod:`demo.journeys`), then sales outcomes.

An SDR accepts or recycles an MQL (some are never worked: the MQL->SQL leak); an AE
assesses BANT, moves the deal through the template's stages with meetings, replies and
quotes, and wins it with an amount, loses it with a reason from the taxonomy,
disqualifies or recycles it; a few lost deals are reopened. Every decision is taken on
the stage the engine shows (:attr:`Timeline.engine`), so every action is legal.
"""

from __future__ import annotations

import contextlib
import math
import random
from datetime import datetime, timedelta

from demo.catalogue import (
    COMPETITORS,
    DWELL_DAYS,
    LOSS_TEXT,
    NOTES,
    QUOTE_STAGE,
    RECYCLE_TEXT,
    REVISION_STAGE,
    SKIPS,
    TEAM,
)
from demo.common import DAY, MINUTE, History, Stop, pick
from demo.journeys import Journey
from demo.people import Company, Prospect


class Story(Journey):
    """One lead's history: marketing touches, then (maybe) sales."""

    def __init__(self, history: History, lead: Prospect, rng: random.Random,
                 companies: list[Company]) -> None:
        super().__init__(history, lead, rng, companies)
        self.reopened = False
        self.quote_no = 0
        self.amount = lead.amount

    def run(self) -> None:
        with contextlib.suppress(Stop):
            self._plot()
        self._flush(self.end + DAY)
        self._count_late()

    def _plot(self) -> None:
        lead, rng = self.lead, self.rng
        t = self._first_touch()
        if lead.external_id is not None:
            t = self._link(t + timedelta(hours=rng.uniform(20, 6 * 24)))
        if lead.invalid:
            for _ in range(rng.randint(0, 3)):
                t = self.touch(t + timedelta(days=rng.expovariate(1 / 4)),
                               rng.choice(("page_view", "email_open", "content_download")))
            return
        mql_at = t if self.engine.stage in ("mql", "sql") else self._marketing(t, cycle=1)
        if mql_at is not None:
            self._sales(mql_at, raised=self._raised, cycle=1)

    # -- sales -------------------------------------------------------------------------------

    def _sales(self, t: datetime, *, raised: bool, cycle: int) -> None:
        lead, rng, engine = self.lead, self.rng, self.engine
        sdr = lead.sdr[0]
        p_leak = (0.08 if raised else 0.38) + {"paid_search": 0.08, "social": 0.12,
                                               "referral": -0.06, "partner": -0.06,
                                               "event": -0.04}.get(lead.channel, 0.0)
        if engine.stage == "mql" and rng.random() < p_leak:
            self._quiet_tail(t)  # nobody works this MQL
            return
        median_h = (14.0 if raised else 50.0) * lead.sdr[1]
        t = self._work(t + timedelta(hours=rng.lognormvariate(math.log(median_h), 0.9)))
        self._sync(t)
        if engine.stage == "mql":
            if rng.random() < 0.7:
                t = self.touch(t, "reply_received", channel="email", source="crm")
            if lead.template == "industrial":
                t = self.touch(self._work(t + timedelta(days=rng.uniform(0.5, 4))),
                               "meeting_held", channel="direct", source="calendar",
                               props={"meeting": "qualification_call"})
                self.act(t + 30 * MINUTE, sdr, "bant", self._bant(sdr_call=True))
                t = self.last_at
            if engine.stage == "mql":
                p_accept = max(0.2, min(0.93, 0.58 + 0.3 * (self.quality - 1)
                                        + 0.1 * lead.buyer.lean
                                        + (0.15 if raised else 0.0)))
                u = rng.random()
                if u < p_accept:
                    self.act(t + 10 * MINUTE, sdr, "accept", {})
                elif u < p_accept + (1 - p_accept) * 0.55:
                    t = self._work(t + timedelta(days=rng.uniform(10, 21)))
                    self._recycle(t, sdr, rng.choice(("no_response", "decision_postponed")))
                    self._maybe_return(cycle)
                    return
                else:
                    reason = pick(rng, {"need_mismatch": 0.6, "no_budget": 0.3, "other": 0.1})
                    text = rng.choice(LOSS_TEXT[reason])
                    self.act(t + 10 * MINUTE, sdr, "disqualify", {"reason": reason,
                                                                  "text": text})
                    return
        if engine.stage == "sql":
            self._opportunity(self.last_at, cycle)

    def _opportunity(self, t: datetime, cycle: int) -> None:
        lead, rng, engine = self.lead, self.rng, self.engine
        ae = lead.ae[0]
        opp = self.template.opportunity_stages
        dwell = DWELL_DAYS[lead.template]
        if not engine.bant.assessed:
            t = self._work(t + timedelta(days=rng.uniform(0.5, 4)))
            t = self.touch(t, "meeting_held", channel="direct", source="calendar",
                           props={"meeting": "discovery"})
            self.act(t + 45 * MINUTE, ae, "bant", self._bant(sdr_call=False))
            if rng.random() < 0.35:
                self.act(self.last_at + 5 * MINUTE, ae, "note", {"text": self._note()})
            t = self.last_at
        if self.self_serve and engine.stage == "sql":
            # self-serve trial made it an SQL: the AE joins the running trial
            t = self._work(t + timedelta(days=rng.uniform(0.5, 3)))
            self.act(t, ae, "advance", {"stage": "trial",
                                        "skip_reason": "self-serve trial already running"})
        while True:
            stage = engine.stage
            if stage not in ("sql", *opp):
                return
            pos = -1 if stage == "sql" else opp.index(stage)
            days = rng.lognormvariate(math.log(dwell.get(stage, 10.0)), 0.55)
            t = self._stage_touches(t, stage, days)
            t = self._work(t + timedelta(hours=rng.uniform(1, 30)))
            self._sync(t)
            if engine.stage != stage:
                return
            if rng.random() < self._conversion(stage):
                if pos == len(opp) - 1:
                    self._win(t, ae, skip=False)
                    return
                skip = SKIPS[lead.template]
                if stage == skip[0] and rng.random() < 0.08:
                    self.act(t, ae, "advance", {"stage": skip[1], "skip_reason": skip[2]})
                elif pos == len(opp) - 2 and rng.random() < 0.05:
                    self._win(t, ae, skip=True)
                    return
                else:
                    extra: dict[str, object] = {}
                    if opp[pos + 1] == QUOTE_STAGE[lead.template]:
                        extra = {"amount": self.amount, "currency": lead.currency}
                    self.act(t, ae, "advance", extra)
                t = self.last_at
                continue
            if not self._fall_out(t, ae, pos, cycle):
                return
            t = self.last_at

    def _conversion(self, stage: str) -> float:
        if stage == "sql":
            bench = self.template.lead_pool.sql.benchmark_conversion
        else:
            bench = next(s.benchmark_conversion for s in self.template.stages if s.name == stage)
        # The buyer's hidden lean (demo.buyers) moves every stage; BANT answers follow
        # the visible quality only, so the rules see it no better than a salesperson.
        quality = self.quality * self.lead.buyer.factor
        return max(0.05, min(0.97, 1 - (1 - bench) / (quality * TEAM)))

    def _fall_out(self, t: datetime, ae: str, pos: int, cycle: int) -> bool:
        """A deal that does not move on: stalls, is recycled, disqualified or lost.

        Returns:
            Whether the deal goes on (it was lost and then reopened).
        """
        lead, rng, engine = self.lead, self.rng, self.engine
        u = rng.random()
        if u < 0.20:
            return False  # stalls: nobody records anything more
        if u < 0.33:
            t = self._work(t + timedelta(days=rng.uniform(14, 35)))
            reason = pick(rng, {"decision_postponed": 0.6, "no_budget": 0.25,
                                "no_response": 0.15})
            if lead.template == "industrial" and engine.bant.met >= 3:
                # the timeline moved: otherwise the template's BANT rule re-qualifies it
                self.act(t, ae, "bant", {"timeline": False, "budget": False})
                t = self.last_at + 5 * MINUTE
            self._recycle(t, ae, reason)
            self._maybe_return(cycle)
            return False
        if u < 0.38 and pos <= 0:
            self.act(t, ae, "disqualify", {"reason": "need_mismatch",
                                           "text": rng.choice(LOSS_TEXT["need_mismatch"])})
            return False
        reason = self._loss_reason(pos)
        if reason == "no_response":
            t = self._work(t + timedelta(days=rng.uniform(18, 40)))
        extra: dict[str, object] = {"reason": reason}
        text = rng.choice(LOSS_TEXT[reason])
        if reason == "competitor_won":
            competitor = rng.choice(COMPETITORS[lead.template])
            extra["competitor"] = competitor
            text = text.format(c=competitor)
        extra["text"] = text
        if pos >= 1:
            extra["amount"], extra["currency"] = self.amount, lead.currency
        self.act(t, ae, "lose", extra)
        if (not self.reopened and reason != "need_mismatch" and rng.random() < 0.12):
            self.reopened = True
            t = self.last_at + timedelta(days=rng.uniform(20, 80))
            t = self.touch(t, "reply_received", channel="email", source="crm")
            self.act(self._work(t + timedelta(hours=rng.uniform(2, 48))), ae, "reopen", {
                "text": rng.choice(("Customer came back: the competitor could not deliver.",
                                    "Budget released after all; picking up where we left.",
                                    "New project lead wants to restart the evaluation."))})
            self.quality *= 1.15
            return True
        return False

    def _loss_reason(self, pos: int) -> str:
        n = len(self.template.opportunity_stages)
        if pos <= 0:
            weights = {"need_mismatch": 30, "no_budget": 25, "no_response": 20,
                       "decision_postponed": 15, "competitor_won": 6, "other": 4}
        elif pos < n - 2:
            weights = {"competitor_won": 35, "decision_postponed": 20, "no_budget": 15,
                       "no_response": 15, "need_mismatch": 10, "other": 5}
        else:
            weights = {"competitor_won": 45, "decision_postponed": 25, "no_budget": 12,
                       "no_response": 10, "other": 8}
        if self.lead.channel in ("paid_search", "social"):
            weights["need_mismatch"] = weights.get("need_mismatch", 0) + 15
        return pick(self.rng, weights)

    def _win(self, t: datetime, ae: str, *, skip: bool) -> None:
        extra: dict[str, object] = {"amount": self.amount, "currency": self.lead.currency}
        if skip:
            extra["skip_reason"] = "signed during negotiation; no separate closing step"
        self.act(t, ae, "win", extra)
        if self.rng.random() < 0.3:
            self.act(self.last_at + 20 * MINUTE, ae, "note", {
                "text": f"Closed won: {self.amount:,.0f} {self.lead.currency}; handed to "
                        "onboarding."})

    def _recycle(self, t: datetime, actor: str, reason: str) -> None:
        texts = RECYCLE_TEXT.get(reason, ("Back to nurture.",))
        self.act(t, actor, "recycle", {"reason": reason, "text": self.rng.choice(texts)})

    def _maybe_return(self, cycle: int) -> None:
        """A recycled lead sometimes comes back months later, ready to talk."""
        if cycle >= 2 or self.rng.random() > 0.3:
            self._quiet_tail(self.last_at)
            return
        t = self.last_at + timedelta(days=self.rng.uniform(25, 90))
        if self.engine.stage == "mql":
            mql_at: datetime | None = t
        else:
            self._raised = False
            mql_at = self._marketing(t, cycle=2)
        if mql_at is not None and self.engine.stage in ("mql", "sql"):
            self._sales(mql_at, raised=self._raised, cycle=2)

    def _stage_touches(self, t: datetime, stage: str, days: float) -> datetime:
        """What happens during ``days`` in ``stage``: meetings, replies, quotes."""
        lead, rng = self.lead, self.rng
        tmpl = lead.template
        plan: list[tuple[str, dict[str, object] | None]] = []
        if stage == "sql":
            plan.append(("reply_received", None))
        elif stage in ("demo", "discovery", "technical_evaluation"):
            meeting = {"demo": "product_demo", "discovery": "discovery_workshop",
                       "technical_evaluation": "technical_workshop"}[stage]
            meetings = rng.randint(1, 3 if tmpl == "industrial" else 2)
            plan += [("meeting_held", {"meeting": meeting})] * meetings
            plan += [("reply_received", None)] * rng.randint(0, 2)
            if rng.random() < 0.4:
                plan.append(("content_download", {"asset": "case-study"}))
        elif stage == "trial":
            if not self.self_serve:
                plan.append(("trial_started", {"plan": "team-trial"}))
            plan += [("page_view", {"path": "/docs"})] * rng.randint(1, 4)
            if rng.random() < 0.5:
                plan.append(("meeting_held", {"meeting": "trial_check_in"}))
        elif stage == QUOTE_STAGE[tmpl] or stage == REVISION_STAGE[tmpl]:
            if stage == QUOTE_STAGE[tmpl]:
                plan.append(("quote_sent", None))
            if stage == REVISION_STAGE[tmpl]:
                first = 1 if tmpl == "industrial" else 0
                revisions = first
                while revisions < 6 and rng.random() < (0.55 if tmpl == "industrial" else 0.4):
                    revisions += 1
                plan += [("quote_revised", None)] * revisions
            plan += [("reply_received", None)] * rng.randint(1, 2)
            if rng.random() < 0.5:
                plan.append(("meeting_held", {"meeting": "negotiation"}))
        else:  # closing and the like
            plan += [("reply_received", None)] * rng.randint(1, 2)
            if rng.random() < 0.3:
                plan.append(("meeting_held", {"meeting": "contract_review"}))
        start = t
        offsets = sorted(rng.uniform(0.05, 0.95) * days for _ in plan)
        sequence = self._order_stage_plan(plan)
        for (kind, props), offset in zip(sequence, offsets, strict=True):
            at = start + timedelta(days=offset)
            if kind != "page_view":  # meetings, quotes and most replies in office hours
                at = self._work(at)
            t = self._sales_touch(at, kind, props)
        if rng.random() < 0.15:
            t = self.act(self._work(t + timedelta(hours=rng.uniform(1, 24))), lead.ae[0],
                         "note", {"text": self._note()})
        return max(t, start + timedelta(days=days))

    @staticmethod
    def _order_stage_plan(
        plan: list[tuple[str, dict[str, object] | None]],
    ) -> list[tuple[str, dict[str, object] | None]]:
        """Quotes before revisions, a trial start first; the rest keeps its order."""
        first = {"trial_started": 0, "quote_sent": 1, "quote_revised": 2}
        return sorted(plan, key=lambda p: first.get(p[0], 3))

    def _sales_touch(self, at: datetime, kind: str,
                     props: dict[str, object] | None) -> datetime:
        lead = self.lead
        if kind in ("quote_sent", "quote_revised"):
            if kind == "quote_sent":
                self.quote_no += 1
            else:
                self.amount = float(round(self.amount * self.rng.uniform(0.93, 0.99), -2))
            props = {"quote": f"Q-{self.history.seed}-{lead.no:05d}-{self.quote_no}",
                     "amount": self.amount, "currency": lead.currency}
            return self.touch(at, kind, channel="direct", source="cpq", props=props)
        if kind == "reply_received":
            return self.touch(at, kind, channel="email", source="crm")
        if kind == "meeting_held":
            return self.touch(at, kind, channel="direct", source="calendar", props=props)
        if kind == "trial_started":
            return self.touch(at, kind, channel="direct", source="product", props=props,
                              late_ok=False)
        return self.touch(at, kind, props=props)

    def _bant(self, *, sdr_call: bool) -> dict[str, object]:
        """BANT answers that follow deal quality (3+ confirmed qualifies industrial MQLs)."""
        rng = self.rng
        p = max(0.2, min(0.95, 0.45 + 0.35 * (self.quality - 0.8)))
        answers: dict[str, object] = {k: rng.random() < p
                                      for k in ("budget", "authority", "need", "timeline")}
        if not sdr_call and rng.random() < 0.3:
            del answers["timeline"]  # not asked yet
        if not sdr_call:
            answers["need"] = True  # it was accepted for a reason
        return answers

    def _note(self) -> str:
        text = self.rng.choice(NOTES)
        name = str(self.lead.profile.get("name", "the contact"))
        return text.format(n=name, c=self.rng.choice(COMPETITORS[self.lead.template]))
