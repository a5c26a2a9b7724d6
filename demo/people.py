"""Who the demo's leads are: when they arrive, their person, company, address, deal size.

:class:`Casting` draws one :class:`Prospect` after another from the catalogue; the
stories then decide what each of them does.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from demo.buyers import Buyer, buyer
from demo.catalogue import (
    AES,
    CHANNELS,
    COMPANY_ROOTS,
    COMPANY_WORDS,
    COUNTRIES,
    COUNTRY_INFO,
    FIRST_NAMES,
    FREE_MAIL,
    GBP_COUNTRIES,
    INDUSTRIES,
    LAST_NAMES,
    MEDIAN_EMPLOYEES,
    SDRS,
    STUDENT_TITLES,
    TEMPLATE_SHARES,
    TITLES,
    UNIVERSITIES,
    USD_COUNTRIES,
)
from demo.common import pick, slug

Company = tuple[str, str, str, int, str]
"""name, domain, industry, employees, country"""


@dataclass(slots=True)
class Prospect:
    """One lead as the story knows it (the engine learns it input by input)."""

    no: int
    template: str
    channel: str
    quality: float
    profile: dict[str, object]
    first_profile: dict[str, object]
    email: str | None
    later_email: str | None
    external_id: str | None
    invalid: bool
    captured_at: datetime
    sdr: tuple[str, float]
    ae: tuple[str, float]
    amount: float
    currency: str
    intent: float
    employees: int
    """The company's head count (also when the profile does not say it)."""
    buyer: Buyer
    """What really makes this lead buy (:mod:`demo.buyers`)."""


@dataclass(slots=True)
class Casting:
    """Draws prospects; remembers addresses and domains so that each is used once."""

    seed: int
    start: datetime
    end: datetime
    rng: random.Random
    emails: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    companies: dict[str, list[Company]] = field(
        default_factory=lambda: {t: [] for t in TEMPLATE_SHARES})

    def capture_time(self) -> datetime:
        """More leads lately (+40 % over the period), fewer at weekends and at night."""
        rng = self.rng
        span = (self.end - self.start).total_seconds()
        while True:
            a = 0.4
            u = rng.random()
            x = (-1 + math.sqrt(1 + 2 * a * u * (1 + a / 2))) / a  # inverse CDF of 1 + a x
            t = self.start + timedelta(seconds=x * span * 0.995)
            if t.weekday() >= 5 and rng.random() > 0.35:
                continue
            hour = int(rng.triangular(5, 23, 13))
            t = t.replace(hour=hour, minute=rng.randrange(60), second=0, microsecond=0)
            if self.start <= t < self.end - timedelta(hours=2):
                return t

    def prospect(self, no: int, at: datetime) -> Prospect:
        """Lead number ``no``, captured at ``at``: channel, person, company, deal size."""
        rng = self.rng
        template = pick(rng, TEMPLATE_SHARES)
        channel = pick(rng, {c: spec.weight[template] for c, spec in CHANNELS.items()})
        spec = CHANNELS[channel]
        k = 4.0
        quality = rng.betavariate(spec.fit * k, (1 - spec.fit) * k)
        country = pick(rng, COUNTRIES[template])
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        student = rng.random() < spec.education
        free_mail = not student and rng.random() < spec.free_mail
        company, domain, industry, employees = self.company(template, quality, country)
        titles = TITLES["industrial" if template == "industrial" else "office"]
        if student:
            title = rng.choice(STUDENT_TITLES)
            industry = "education"
        else:
            q = quality
            level = pick(rng, {0: 0.08 + 0.30 * q, 1: 0.10 + 0.15 * q, 2: 0.30,
                               3: 0.32 - 0.27 * q, 4: 0.20 - 0.18 * q})
            title = rng.choice(titles[level])
        profile: dict[str, object] = {"name": f"{first} {last}", "company": company,
                                      "industry": industry, "employees": employees,
                                      "title": title, "country": country}
        if student or (free_mail and rng.random() < 0.4):
            del profile["company"]
            del profile["employees"]
        local = local_part(rng, first, last)
        email: str | None
        if student:
            email = self.unique_email(local, rng.choice(UNIVERSITIES))
        elif free_mail:
            email = self.unique_email(local + str(rng.randint(1, 99)), rng.choice(FREE_MAIL))
        else:
            email = self.unique_email(local, domain)
        external_id: str | None = None
        later_email: str | None = None
        ext_share = {"event": 0.22, "partner": 0.20}.get(channel, 0.0)
        if not (student or free_mail) and rng.random() < ext_share:
            prefix = "EVT" if channel == "event" else "PRM"
            external_id = f"{prefix}-{self.seed}-{no:05d}"
            later_email, email = email, None
        if external_id is not None or rng.random() < 0.25:
            code = COUNTRY_INFO[country][2]
            profile["phone"] = f"+{code} {rng.randint(20, 999)} {rng.randint(100000, 9999999)}"
        first_profile = dict(profile)
        if channel in ("paid_search", "social") and rng.random() < 0.45:
            # lead-gen forms ask little; the rest comes with a later form
            for key in ("employees", "title"):
                first_profile.pop(key, None)
        amount, currency = self.deal_size(template, employees, country)
        sdr = rng.choice(SDRS)
        ae = rng.choice(AES[template])
        intent = min(0.95, spec.intent * (0.65 + quality))
        return Prospect(no=no, template=template, channel=channel, quality=quality,
                        profile=profile, first_profile=first_profile, email=email,
                        later_email=later_email, external_id=external_id,
                        invalid=student or free_mail, captured_at=at, sdr=sdr, ae=ae,
                        amount=amount, currency=currency, intent=intent,
                        employees=employees,
                        buyer=buyer(self.seed, no, template=template, employees=employees,
                                    country=country, industry=industry))

    def company(self, template: str, quality: float,
                country: str) -> tuple[str, str, str, int]:
        """A company (sometimes one already in the history: a second contact there)."""
        rng = self.rng
        known = self.companies[template]
        if known and rng.random() < 0.08:
            name, domain, industry, employees, _ = rng.choice(known)
            return name, domain, industry, employees
        targets, adjacent, other = INDUSTRIES[template]
        p_target = 0.2 + 0.7 * quality
        u = rng.random()
        if u < p_target:
            industry = rng.choice(targets)
        elif u < p_target + (1 - p_target) * 0.55:
            industry = rng.choice(adjacent)
        else:
            industry = rng.choice(other)
        median = MEDIAN_EMPLOYEES[template] * math.exp(1.6 * (quality - 0.5))
        employees = max(1, min(250_000, round(median * rng.lognormvariate(0, 0.9))))
        tld, legal, _ = COUNTRY_INFO[country]
        for attempt in range(50):
            root = rng.choice(COMPANY_ROOTS)
            word = rng.choice(COMPANY_WORDS[industry])
            base = f"{root} {word}" if attempt < 10 else f"{root} {word} {attempt}"
            domain = f"{slug(root + word)}{attempt if attempt >= 10 else ''}.{tld}"
            if domain not in self.domains:
                break
        self.domains.add(domain)
        name = f"{base} {legal}"
        known.append((name, domain, industry, employees, country))
        return name, domain, industry, employees

    def unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email

    def deal_size(self, template: str, employees: int, country: str) -> tuple[float, str]:
        rng = self.rng
        if template == "saas":
            value = 6_000 * (max(employees, 5) / 50) ** 0.45 * rng.lognormvariate(0, 0.35)
            value, step = min(max(value, 3_000), 250_000), 100
        elif template == "industrial":
            value = 60_000 * (max(employees, 20) / 200) ** 0.5 * rng.lognormvariate(0, 0.5)
            value, step = min(max(value, 25_000), 3_500_000), 1_000
        else:
            value = 15_000 * (max(employees, 10) / 100) ** 0.4 * rng.lognormvariate(0, 0.4)
            value, step = min(max(value, 5_000), 400_000), 500
        if template == "industrial":
            currency = "EUR"
        else:
            currency = ("GBP" if country in GBP_COUNTRIES
                        else "USD" if country in USD_COUNTRIES else "EUR")
        return float(round(value / step) * step), currency


def local_part(rng: random.Random, first: str, last: str) -> str:
    """The part of an address before the @, in one of the usual company styles."""
    f, la = slug(first), slug(last)
    style = rng.random()
    if style < 0.6:
        return f"{f}.{la}"
    if style < 0.85:
        return f"{f[0]}.{la}"
    return f"{f}{la[0]}"
