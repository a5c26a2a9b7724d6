"""The marketing half of a lead's story: how it arrives, engages, and raises a hand.

:class:`Journey` draws the first touchpoint of the lead's channel, links an external id
to an email, plays marketing touches until the engine makes the lead an MQL (or it goes
quiet), and has an SDR look at hand-raisers who do not fit.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from demo.buyers import requested
from demo.catalogue import ASSETS, CAMPAIGNS, CHANNELS, EVENTS, MEAN_DAYS_TO_HAND_RAISE, WEBINARS
from demo.common import History, pick
from demo.people import Company, Prospect
from demo.timeline import Timeline


class Journey(Timeline):
    """A lead from its first touchpoint to its MQL (the story goes on in sales)."""

    def __init__(self, history: History, lead: Prospect, rng: random.Random,
                 companies: list[Company]) -> None:
        super().__init__(history, lead, rng)
        self.companies = companies  # of the lead's template, known so far (referrers)
        self._raised = False  # the lead asked for sales (demo, contact, trial)
        self.self_serve = False  # it started a trial on its own

    def _first_touch(self) -> datetime:
        lead, rng = self.lead, self.rng
        channel, tmpl = lead.channel, lead.template
        props: dict[str, object] = {}
        source = "website"
        if channel == "paid_search":
            kind = "form_submit"
            props = {"utm_source": "google", "utm_campaign": rng.choice(CAMPAIGNS),
                     "form": "gated-content"}
        elif channel == "social":
            kind = "form_submit"
            props = {"utm_source": rng.choice(("linkedin", "linkedin", "facebook")),
                     "form": "lead-gen"}
        elif channel in ("seo", "content"):
            kind = "content_download" if rng.random() < 0.7 else "form_submit"
            props = {"asset": rng.choice(ASSETS)}
        elif channel == "webinar":
            kind, source = "webinar_registered", "webinar_platform"
            props = {"webinar": rng.choice(WEBINARS)}
        elif channel == "email":
            kind, source = "email_click", "marketing_automation"
            props = {"campaign": "newsletter"}
        elif channel == "event":
            kind, source = "event_attended", "event_app"
            props = {"event": rng.choice(EVENTS), "badge_scan": True}
        elif channel == "referral":
            kind = "form_submit"
            props = {"form": "referral", "referred_by": self._referrer()}
        elif channel == "partner":
            kind, source = "form_submit", "partner_portal"
            props = {"partner": rng.choice(("Axon Consulting", "Brenner Systemhaus",
                                            "Clearpath Integrators"))}
        else:  # direct: people who come to ask
            u = rng.random()
            if u < 0.35:
                kind = "contact_sales"
            elif u < 0.65 and tmpl != "industrial":
                kind = "demo_requested"
            else:
                kind = "form_submit"
        if kind in ("contact_sales", "demo_requested"):
            self._raised = True
            props.update(self._request())
        return self.touch(lead.captured_at, kind, channel=channel, source=source,
                          props=props or None, first=True, late_ok=False)

    def _request(self) -> dict[str, object]:
        """What the hand-raise form asks: how many seats (industrial: units)."""
        lead = self.lead
        name = "units_requested" if lead.template == "industrial" else "seats_requested"
        return {name: requested(self.rng, lead.template, lead.employees, lead.buyer.need)}

    def _referrer(self) -> str:
        known = self.companies
        return known[self.rng.randrange(len(known))][0] if known else "a customer"

    def _link(self, t: datetime) -> datetime:
        """The person behind an external id gives their email (a follow-up form)."""
        source = "event_app" if self.lead.channel == "event" else "partner_portal"
        at = self.touch(t, "form_submit", source=source, channel=self.lead.channel,
                        props={"form": "follow-up"}, link=True, late_ok=False)
        self.linked = True
        return at

    def _marketing(self, t: datetime, *, cycle: int) -> datetime | None:
        """Marketing touches until the lead becomes an MQL (its time) or goes quiet."""
        lead, rng = self.lead, self.rng
        spec = CHANNELS[lead.channel]
        interest = rng.random()
        n = int(rng.expovariate(1 / (spec.engage * lead.buyer.busy
                                     * (0.5 + lead.quality + 0.5 * interest))))
        if cycle > 1:
            n = rng.randint(1, 4)
        gap = 5.0 if lead.template == "industrial" else 3.5
        if lead.channel == "webinar":
            gap *= 0.7
        hand_raise_at: float | None = None
        if rng.random() < (lead.intent if cycle == 1 else 0.5):
            mean = MEAN_DAYS_TO_HAND_RAISE[lead.template]
            hand_raise_at = min(rng.expovariate(1 / mean), 120.0)
        start, elapsed = t, 0.0
        extra: dict[str, object] | None = None
        if lead.first_profile != lead.profile:
            extra = lead.profile  # the next form completes the profile
        upcoming: list[str] = []
        if lead.channel == "webinar" and cycle == 1 and rng.random() < 0.75:
            upcoming.append("webinar_attended")
        unsubscribed = False
        for _ in range(n):
            step = rng.expovariate(1 / gap)
            if hand_raise_at is not None and elapsed + step >= hand_raise_at:
                break
            elapsed += step
            kind = upcoming.pop(0) if upcoming else self._engagement_kind(unsubscribed)
            if kind == "unsubscribe":
                unsubscribed = True
            elif kind == "webinar_registered" and rng.random() < 0.6:
                upcoming.append("webinar_attended")
            elif kind == "webinar_attended":  # the follow-up sequence
                upcoming += [k for k, p in (("content_download", 0.6), ("email_click", 0.5),
                                            ("pricing_page_view", 0.25)) if rng.random() < p]
            profile = None
            if kind in ("form_submit", "content_download") and extra is not None:
                profile, extra = extra, None
            t = self.touch(start + timedelta(days=elapsed), kind, profile=profile)
            if self.engine.stage in ("mql", "sql"):
                return t
            if self.engine.stage != "nurturing":
                return None
        if hand_raise_at is None:
            return None
        return self._hand_raise(start + timedelta(days=max(elapsed + 0.05, hand_raise_at)),
                                extra)

    def _engagement_kind(self, unsubscribed: bool) -> str:
        rng = self.rng
        weights = {"page_view": 30.0, "email_open": 22.0, "email_click": 8.0,
                   "content_download": 10.0,
                   "webinar_registered": 16.0 if self.lead.channel == "webinar" else 5.0,
                   "pricing_page_view": 1.0 + 3.0 * self.lead.intent
                                        + 10.0 * self.lead.buyer.keen,
                   "event_attended": 5.0 if self.lead.template == "industrial" else 1.5,
                   "form_submit": 3.0, "unsubscribe": 1.0, "email_bounced": 0.4}
        if unsubscribed:
            for k in ("email_open", "email_click", "unsubscribe", "email_bounced"):
                weights[k] = 0.0
        return pick(rng, weights)

    def _hand_raise(self, t: datetime, profile: dict[str, object] | None) -> datetime | None:
        lead, rng = self.lead, self.rng
        keen = lead.buyer.keen
        if lead.template != "industrial" and rng.random() < 0.2 + 0.7 * keen:
            t = self.touch(t, "pricing_page_view") + timedelta(minutes=rng.randint(2, 40))
        if lead.template == "saas":
            kind = pick(rng, {"demo_requested": 0.6, "trial_started": 0.05 + 0.45 * keen,
                              "contact_sales": 0.15})
        elif lead.template == "industrial":
            kind = "contact_sales"
        else:
            kind = pick(rng, {"demo_requested": 0.55, "contact_sales": 0.45})
        source = "product" if kind == "trial_started" else "website"
        self.self_serve = kind == "trial_started"
        t = self.touch(t, kind, source=source, channel="direct", late_ok=False,
                       profile=profile or lead.profile, props=self._request())
        self._raised = True
        stage = self.engine.stage
        if stage in ("mql", "sql"):
            return t
        if stage == "nurturing":
            # a hand-raiser who does not fit: an SDR looks at it
            t = self._work(t + timedelta(hours=rng.lognormvariate(math.log(20), 0.8)))
            u = rng.random()
            if u < 0.45:
                self.act(t, lead.sdr[0], "disqualify", {
                    "reason": "need_mismatch",
                    "text": rng.choice(("Company too small for our offering.",
                                        "Looking for a free tool; no commercial need.",
                                        "Outside our service regions."))})
            elif u < 0.55:
                self.act(t, lead.sdr[0], "accept", {
                    "skip_reason": rng.choice(("strategic logo in a target account",
                                               "referred by our CEO"))})
                return t
        return None

    def _quiet_tail(self, t: datetime) -> None:
        """A few nurture emails still opened now and then."""
        rng = self.rng
        for _ in range(rng.randint(0, 3)):
            t = self.touch(t + timedelta(days=rng.uniform(7, 30)),
                           rng.choice(("email_open", "email_open", "page_view")))
