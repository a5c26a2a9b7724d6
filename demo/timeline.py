"""One lead's inputs on a timeline: touchpoints and sales actions queued for delivery,
some late, each fed to the engine in the order the engine will receive it.

:class:`Timeline` is the base of a story (:mod:`demo.stories`): it turns "at about this
time, this happens" into an input with ids, keys and properties, decides when it is
delivered, and keeps the lead's real aggregate (:class:`demo.engine.EngineLead`) up to
date with what has been delivered so far, so the story acts on what the engine shows.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime, timedelta

from demo.buyers import pages_per_visit
from demo.catalogue import (
    ASSETS,
    CHANNELS,
    EVENTS,
    LATE_KINDS,
    PAGES,
    WEB_CHANNELS,
    WEBINARS,
)
from demo.common import DAY, MINUTE, History, Item, Stop, iso
from demo.engine import EngineLead
from demo.people import Prospect

LATE_SHARE = 0.07
"""Chance that an eligible touchpoint (web, email, meeting, reply) is delivered hours or
days late; about 2 % of all touchpoints end up behind later inputs of their lead."""


class Timeline:
    """The inputs of one lead, and the engine's view of it."""

    def __init__(self, history: History, lead: Prospect, rng: random.Random) -> None:
        self.history = history
        self.lead = lead
        self.rng = rng
        self.template = history.registry[lead.template]
        self.engine = EngineLead(self.template, history.scoring)
        self.end = history.end
        self.last_at = lead.captured_at - MINUTE
        self.counter = 0
        self.linked = lead.external_id is None
        self.pending: list[tuple[datetime, int, dict[str, object]]] = []
        self.own: list[Item] = []
        self.late = 0
        self.quality = (CHANNELS[lead.channel].deal * (0.6 + 0.8 * min(lead.quality, 1.0))
                        * lead.ae[1] * rng.lognormvariate(0, 0.15))

    def touch(self, t: datetime, kind: str, *, channel: str | None = None,
              source: str | None = None, props: dict[str, object] | None = None,
              profile: dict[str, object] | None = None, first: bool = False,
              link: bool = False, late_ok: bool = True) -> datetime:
        """Emits a touchpoint at (about) ``t``; returns its business time."""
        lead = self.lead
        at = self._moment(t)
        if channel is None or source is None:
            default_channel, default_source = channel_of(kind, lead.channel, self.rng)
            channel = channel or default_channel
            source = source or default_source
        data: dict[str, object] = {
            "touchpoint_id": self._id("tp"), "occurred_at": iso(at),
            "source": source, "channel": channel, "kind": kind,
        }
        self._keys(data, marketing=source in ("website", "marketing_automation", "product",
                                              "webinar_platform"))
        if link:
            data["email"] = lead.later_email
        if first:
            data["template"] = lead.template
            data["profile"] = dict(lead.first_profile)
        elif profile is not None:
            data["profile"] = {k: v for k, v in profile.items() if k != "phone"}
        if props is None and not first:
            props = self._default_props(kind)
        if props:
            data["properties"] = dict(props)  # never shared between inputs
        late_ok = late_ok and kind in LATE_KINDS and not first and not link
        if not self._emit(at, data, is_action=False, late_ok=late_ok):
            self._feed(data)
        return at

    def _default_props(self, kind: str) -> dict[str, object] | None:
        rng = self.rng
        if kind == "page_view":
            return {"path": rng.choice(PAGES),
                    "pages_per_visit": pages_per_visit(rng, self.lead.buyer.need)}
        if kind == "pricing_page_view":
            return {"path": "/pricing"}
        if kind == "content_download":
            return {"asset": rng.choice(ASSETS)}
        if kind in ("webinar_registered", "webinar_attended"):
            return {"webinar": rng.choice(WEBINARS)}
        if kind == "event_attended":
            return {"event": rng.choice(EVENTS)}
        if kind in ("email_open", "email_click", "unsubscribe"):
            return {"campaign": rng.choice(("newsletter", "nurture", "product-update"))}
        return None

    def act(self, t: datetime, actor: str, action: str, extra: dict[str, object]) -> datetime:
        """Emits a sales action at (about) ``t``; the engine must accept it."""
        at = self._moment(t)
        self._flush(at)
        data = self.action_data(at, actor, action, extra, action_id=self._id("sa"))
        self._feed(data)  # before it is queued: an action the engine refuses is a bug
        self._emit(at, data, is_action=True, late_ok=False)
        return at

    def action_data(self, at: datetime, actor: str, action: str, extra: dict[str, object],
                    *, action_id: str) -> dict[str, object]:
        data: dict[str, object] = {"action_id": action_id, "occurred_at": iso(at),
                                   "actor": actor, "action": action}
        self._keys(data, marketing=False)
        data.update(extra)
        return data

    def _keys(self, data: dict[str, object], *, marketing: bool) -> None:
        lead = self.lead
        if lead.external_id is None:
            data["email"] = lead.email
        elif not self.linked:
            data["external_id"] = lead.external_id
        elif marketing:
            data["email"] = lead.later_email  # marketing systems only know the email
        else:
            data["external_id"] = lead.external_id
            data["email"] = lead.later_email

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.history.seed}-{self.lead.no:05d}-{self.counter:03d}"

    def _moment(self, t: datetime) -> datetime:
        """``t`` to the minute, after the lead's previous input; stops at the end."""
        at = t.replace(second=0, microsecond=0)
        if at <= self.last_at:
            at = self.last_at + MINUTE
        if at > self.end - 2 * MINUTE:
            raise Stop
        return at

    def _sync(self, t: datetime) -> None:
        """Lets late inputs delivered by ``t`` reach the engine before a decision."""
        self._flush(self._moment(t))

    def _emit(self, at: datetime, data: dict[str, object], *, is_action: bool,
              late_ok: bool) -> bool:
        """Queues an input for delivery; returns whether it is delivered late."""
        rng = self.rng
        self.last_at = at
        delivered = at + timedelta(seconds=1 + int(rng.random() * 50))
        late = False
        if late_ok and rng.random() < LATE_SHARE:
            d = at + timedelta(minutes=rng.randint(120, 5 * 1440))
            if d < self.end - MINUTE:
                delivered, late = d, True
        item = Item(delivered, self.history.next_order(), at, self.lead.no, data, is_action, late)
        self.history.items.append(item)
        self.own.append(item)
        if late:
            heapq.heappush(self.pending, (delivered, item.order, data))
            return True
        self._flush(at)
        return False

    def _flush(self, until: datetime) -> None:
        """Applies late touchpoints delivered at or before ``until`` (whole minutes)."""
        while self.pending and self.pending[0][0] <= until:
            self._feed(heapq.heappop(self.pending)[2])

    def _feed(self, data: dict[str, object]) -> None:
        rejection = self.engine.feed(data)
        if rejection is not None:
            raise RuntimeError(f"demo generator bug: lead {self.lead.no} in stage "
                               f"{self.engine.stage}: the engine rejects {data}: "
                               f"{rejection.reason}")

    def _count_late(self) -> None:
        """Late = delivered after an input of the same lead that happened later."""
        for item in self.own:
            if item.late and any(o.occurred > item.occurred and o.delivered < item.delivered
                                 for o in self.own):
                self.late += 1

    def _work(self, t: datetime) -> datetime:
        """Moves ``t`` into working hours (Mon-Fri, 08:00-18:00 UTC)."""
        rng = self.rng
        if t.hour < 8:
            t = t.replace(hour=8, minute=rng.randrange(60))
        elif t.hour >= 18:
            t = (t + DAY).replace(hour=8 + rng.randrange(3), minute=rng.randrange(60))
        while t.weekday() >= 5:
            t = (t + DAY).replace(hour=8 + rng.randrange(3), minute=rng.randrange(60))
        return t


def channel_of(kind: str, lead_channel: str, rng: random.Random) -> tuple[str, str]:
    """The channel and publishing system a later touchpoint of this kind comes through."""
    if kind in ("email_open", "email_click", "unsubscribe", "email_bounced"):
        return "email", "marketing_automation"
    if kind in ("webinar_registered", "webinar_attended"):
        return "webinar", "webinar_platform"
    if kind == "event_attended":
        return "event", "event_app"
    u = rng.random()
    if u < 0.5:
        return "direct", "website"
    if u < 0.75 or lead_channel not in WEB_CHANNELS:
        return "seo", "website"
    return lead_channel, "website"  # e.g. a retargeting ad brings them back

