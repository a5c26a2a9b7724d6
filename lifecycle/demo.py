"""A deterministic, realistic synthetic B2B history for ``lifecycle demo``.

:func:`generate` returns inbound objects (touchpoints and sales actions, as plain
JSON-ready dicts that :func:`lifecycle.contracts.parse_inbound` accepts) in delivery
order: mostly business-time order, with ~2 % of touchpoints delivered late (after later
events of the same lead), ~1 % exact redeliveries of earlier inputs, and a few sales
actions that the engine must reject on purpose (illegal transitions and actions for
leads nobody captured). :func:`generate_with_stats` also says what went in.

What a sales or marketing leader should recognise:

* channels of different quality: referral, event and partner leads fit the ideal
  customer profile and close well; paid search and social bring volume and poor fit;
  SEO and content sit in between; webinars produce MQLs through engagement;
* three funnels: SaaS (most leads), industrial equipment (bigger companies, longer
  cycles, larger amounts in EUR) and generic B2B; each lead's first touchpoint names its
  template and carries a profile; a few free-mail and university addresses are screened
  out by the engine; some event and partner leads arrive with only an external id and
  give their email later;
* behaviour (page views, downloads, webinars, email, pricing pages, demo requests, trial
  starts) and sales interactions (meetings, replies, quotes and revised quotes);
* named SDRs and AEs who accept MQLs after a realistic delay (some MQLs are never
  worked: the MQL→SQL leak), assess BANT, advance deals through the template's stages
  (some stall, a few skip a stage with a reason), win with an amount, lose with a
  reason from the taxonomy, disqualify, recycle to nurturing, reopen and write notes.

Sales actions must fit the engine's state machine, which grades leads itself (MQL by
thresholds or instant kinds, automatic SQL by the template's rule). So every lead's
story is generated together with a small shadow of the engine's stage rules
(:class:`_Shadow`, built on the engine's own scoring functions and templates) fed in
delivery order; a salesperson only acts on what the engine will show them.

Only ``random.Random(seed)`` is used: the same arguments give the same output. The one
clock read is the default ``end`` (now, truncated to the hour).
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import math
import random
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from lifecycle.scoring import (
    BantAssessment,
    ScoringConfig,
    decay_factor,
    fit_score,
    grade,
    load_scoring,
    screen,
)
from lifecycle.templates import CLOSED_STAGES, FunnelTemplate, TemplateRegistry, load_templates

__all__ = ["GeneratedStats", "generate", "generate_with_stats"]

LATE_SHARE = 0.07
"""Chance that an eligible touchpoint (web, email, meeting, reply) is delivered hours or
days late; about 2 % of all touchpoints end up behind later inputs of their lead."""
REDELIVERY_SHARE = 0.01
"""Share of inputs delivered a second time, byte for byte."""
ILLEGAL_SHARE = 0.002
"""Sales actions that break the state machine on purpose, as a share of all inputs."""
UNKNOWN_LEAD_SHARE = 0.001
"""Sales actions for leads nobody captured, as a share of all inputs."""

_K = TypeVar("_K")
_GRADE_ORDER = {"cold": 0, "warm": 1, "hot": 2}
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)

# --- catalogue ----------------------------------------------------------------------------

TEMPLATE_SHARES: dict[str, float] = {"saas": 0.50, "industrial": 0.30, "generic_b2b": 0.20}


@dataclass(frozen=True, slots=True)
class _Channel:
    """How leads from one acquisition channel look and behave."""

    weight: dict[str, float]  # share of the template's leads (relative)
    fit: float  # mean latent fit quality, 0-1
    intent: float  # chance the lead raises a hand (demo request, contact sales, trial)
    engage: float  # mean number of marketing touches
    deal: float  # multiplier on stage conversion once sales works the lead
    free_mail: float  # share of private (free-mail) addresses
    education: float  # share of students with a university address


CHANNELS: dict[str, _Channel] = {
    "paid_search": _Channel({"saas": 30, "industrial": 16, "generic_b2b": 24},
                            0.36, 0.24, 4, 0.72, 0.035, 0.002),
    "social": _Channel({"saas": 19, "industrial": 7, "generic_b2b": 14},
                       0.30, 0.15, 3, 0.62, 0.05, 0.01),
    "seo": _Channel({"saas": 16, "industrial": 15, "generic_b2b": 17},
                    0.52, 0.32, 6, 0.90, 0.025, 0.008),
    "content": _Channel({"saas": 10, "industrial": 8, "generic_b2b": 10},
                        0.50, 0.26, 7, 0.85, 0.025, 0.012),
    "webinar": _Channel({"saas": 9, "industrial": 9, "generic_b2b": 9},
                        0.60, 0.22, 9, 0.95, 0.015, 0.01),
    "email": _Channel({"saas": 5, "industrial": 6, "generic_b2b": 6},
                      0.50, 0.24, 6, 0.82, 0.02, 0.0),
    "event": _Channel({"saas": 3, "industrial": 17, "generic_b2b": 8},
                      0.72, 0.58, 5, 1.20, 0.01, 0.0),
    "referral": _Channel({"saas": 4, "industrial": 9, "generic_b2b": 6},
                         0.78, 0.72, 4, 1.35, 0.0, 0.0),
    "partner": _Channel({"saas": 2, "industrial": 9, "generic_b2b": 3},
                        0.70, 0.62, 4, 1.15, 0.0, 0.0),
    "direct": _Channel({"saas": 3, "industrial": 4, "generic_b2b": 3},
                       0.55, 0.55, 4, 1.00, 0.03, 0.0),
}

INDUSTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # template: (ideal-profile targets, adjacent, poor fit)
    "saas": (("software", "saas", "financial_services"), ("retail", "healthcare", "telecom"),
             ("education", "media", "hospitality", "nonprofit", "professional_services")),
    "industrial": (("manufacturing", "industrial_machinery", "logistics"),
                   ("energy", "construction", "automotive"),
                   ("agriculture", "chemicals", "mining")),
    "generic_b2b": (("financial_services", "logistics", "software", "manufacturing"),
                    ("retail", "healthcare", "energy", "telecom"),
                    ("professional_services", "media", "government")),
}

MEDIAN_EMPLOYEES = {"saas": 180.0, "industrial": 900.0, "generic_b2b": 300.0}

COUNTRIES: dict[str, dict[str, float]] = {
    "saas": {"US": 26, "GB": 12, "DE": 12, "FR": 6, "NL": 5, "CA": 5, "AU": 4, "SE": 3,
             "CH": 2, "ES": 4, "IT": 3, "PL": 2, "IE": 2, "DK": 1, "SG": 2, "JP": 1,
             "IN": 5, "BR": 3, "MX": 1, "ZA": 1},
    "industrial": {"DE": 28, "AT": 6, "CH": 6, "IT": 8, "FR": 7, "NL": 5, "PL": 6, "SE": 4,
                   "US": 10, "GB": 5, "ES": 4, "CZ": 3, "TR": 3, "CN": 2, "IN": 3},
    "generic_b2b": {"US": 20, "GB": 12, "DE": 16, "FR": 8, "NL": 6, "BE": 3, "SE": 4,
                    "NO": 2, "FI": 2, "ES": 5, "IT": 5, "PL": 4, "IE": 2, "AU": 3, "CA": 3,
                    "IN": 3, "BR": 2},
}

_COUNTRY_INFO: dict[str, tuple[str, str, str]] = {
    # country: (top-level domain, legal form, dialling code)
    "DE": ("de", "GmbH", "49"), "AT": ("at", "GmbH", "43"), "CH": ("ch", "AG", "41"),
    "GB": ("co.uk", "Ltd", "44"), "IE": ("ie", "Ltd", "353"), "US": ("com", "Inc.", "1"),
    "CA": ("ca", "Inc.", "1"), "FR": ("fr", "SAS", "33"), "NL": ("nl", "B.V.", "31"),
    "BE": ("be", "NV", "32"), "SE": ("se", "AB", "46"), "NO": ("no", "AS", "47"),
    "DK": ("dk", "A/S", "45"), "FI": ("fi", "Oy", "358"), "IT": ("it", "S.p.A.", "39"),
    "ES": ("es", "S.L.", "34"), "PL": ("pl", "Sp. z o.o.", "48"),
    "AU": ("com.au", "Pty Ltd", "61"), "JP": ("co.jp", "K.K.", "81"),
    "SG": ("com.sg", "Pte. Ltd.", "65"), "IN": ("in", "Pvt. Ltd.", "91"),
    "BR": ("com.br", "Ltda.", "55"), "MX": ("com.mx", "S.A. de C.V.", "52"),
    "ZA": ("co.za", "(Pty) Ltd", "27"), "CZ": ("cz", "s.r.o.", "420"),
    "TR": ("com.tr", "A.S.", "90"), "CN": ("cn", "Co., Ltd.", "86"),
}

_GBP = {"GB"}
_USD = {"US", "CA", "AU", "SG", "JP", "IN", "BR", "MX", "ZA", "CN"}

FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Felix", "Grace", "Hannah", "Isaac", "Julia",
    "Karim", "Laura", "Mateo", "Nina", "Oscar", "Paula", "Quentin", "Rosa", "Samuel", "Tara",
    "Umar", "Vera", "William", "Yara", "Zoé", "Lukas", "Sophie", "Jonas", "Emma", "Noah",
    "Mia", "Liam", "Chloé", "Hugo", "Inês", "Jan", "Katarzyna", "Lars", "Marta", "Niklas",
    "Olivia", "Pedro", "Ravi", "Sara", "Tomás", "Ulrike", "Victor", "Wei", "Yusuf", "Aiko",
    "Björn", "Céline", "Dmitri", "Esther", "Fatima", "Giulia", "Henrik", "Ingrid", "Jürgen",
    "Kenji", "Leonie", "Marco", "Nadia", "Omar", "Priya", "Rafael", "Sven", "Teresa",
)
LAST_NAMES = (
    "Schneider", "Meyer", "Wagner", "Becker", "Hoffmann", "Smith", "Johnson", "Brown",
    "Taylor", "Wilson", "Martin", "Bernard", "Dubois", "Moreau", "de Jong", "Jansen",
    "Bakker", "Johansson", "Andersson", "Nilsson", "Rossi", "Russo", "Ferrari", "García",
    "Fernández", "López", "Kowalski", "Nowak", "Murphy", "Kelly", "O'Brien", "Tanaka", "Sato",
    "Lee", "Chen", "Nguyen", "Patel", "Sharma", "Silva", "Santos", "Novák", "Dvořák",
    "Keller", "Weber", "Fischer", "Schulz", "Lambert", "Fontaine", "Hansen", "Larsen",
    "Müller", "Schmidt", "Koch", "Richter", "Wolf", "Neumann", "Clarke", "Walsh", "Evans",
    "Hughes", "Romano", "Colombo", "Virtanen", "Korhonen", "Berg", "Lindqvist", "Yilmaz",
)

_COMPANY_ROOTS = (
    "Nord", "Alpen", "Blue", "Stern", "Falken", "Helio", "Quanta", "Terra", "Vektor", "Kron",
    "Lumen", "Orbit", "Polar", "Rhein", "Silver", "Summit", "Titan", "Unity", "Vista",
    "Weser", "Apex", "Bright", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor",
    "Iris", "Juno", "Kestrel", "Linde", "Meridian", "Nova", "Oak", "Pioneer", "Quarry",
    "River", "Solace", "Tide", "Upland", "Vale", "Wren", "Zenith", "Aurora", "Beacon",
    "Cobalt", "Dune", "Echo", "Forge", "Gala", "Hansa", "Isar", "Jade", "Kappa", "Lotus",
    "Mosel", "Nexus", "Onyx", "Prism", "Rubin", "Saturn", "Tessa", "Ultra", "Volta", "Wega",
)

_COMPANY_WORDS: dict[str, tuple[str, ...]] = {
    "software": ("Software", "Labs", "Digital", "Tech"),
    "saas": ("Cloud", "Apps", "Platform", "Online"),
    "financial_services": ("Capital", "Finance", "Payments", "Insurance"),
    "manufacturing": ("Werke", "Manufacturing", "Components", "Fabrication"),
    "industrial_machinery": ("Maschinenbau", "Machinery", "Automation", "Engineering"),
    "logistics": ("Logistics", "Freight", "Logistik", "Transport"),
    "retail": ("Retail", "Stores", "Commerce"),
    "healthcare": ("Health", "Medical", "Care"),
    "energy": ("Energy", "Power", "Energie"),
    "telecom": ("Telecom", "Networks", "Connect"),
    "construction": ("Bau", "Construction", "Builders"),
    "automotive": ("Automotive", "Motors", "Drive"),
    "education": ("Academy", "Learning"),
    "media": ("Media", "Studios"),
    "hospitality": ("Hotels", "Hospitality"),
    "nonprofit": ("Foundation", "Trust"),
    "professional_services": ("Consulting", "Partners", "Advisory"),
    "government": ("Public Services", "Agency"),
    "agriculture": ("Agrar", "Farms"),
    "chemicals": ("Chemie", "Chemicals"),
    "mining": ("Mining", "Resources"),
}

# Titles by seniority level (the scoring file's keywords decide what each is worth).
_TITLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "office": (
        ("CEO", "CTO", "CFO", "COO", "Founder", "VP Sales", "VP Marketing",
         "Head of Revenue Operations", "Head of IT", "Chief Digital Officer"),
        ("Director of Sales", "Marketing Director", "IT Director", "Director of Operations",
         "Finance Director"),
        ("Sales Manager", "Marketing Manager", "IT Manager", "Operations Manager",
         "Team Lead Sales Ops", "Product Manager", "Principal Consultant"),
        ("Software Engineer", "Data Analyst", "Solutions Architect", "Marketing Specialist",
         "IT Consultant", "Business Analyst"),
        ("Marketing Coordinator", "Office Administrator", "Executive Assistant", "Freelancer"),
    ),
    "industrial": (
        ("CEO", "Owner", "Head of Procurement", "VP Engineering", "COO", "Head of Production"),
        ("Director of Operations", "Technical Director", "Purchasing Director",
         "Managing Director"),
        ("Plant Manager", "Maintenance Manager", "Procurement Manager", "Production Lead",
         "Project Manager"),
        ("Process Engineer", "Maintenance Engineer", "Purchasing Specialist",
         "Design Engineer", "Cost Analyst"),
        ("Buyer", "Technician", "Shift Supervisor", "Foreman"),
    ),
}

_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de", "web.de",
              "icloud.com", "proton.me")
_UNIVERSITIES = ("northfield.edu", "westbury.ac.uk", "uni-hamburg.de", "lakeside.edu",
                 "uni-stuttgart.de", "kingsbridge.ac.uk")
_STUDENT_TITLES = ("Student", "MSc Student", "Research Intern", "Working Student")

SDRS: tuple[tuple[str, float], ...] = (
    # name, how quickly they pick up MQLs (multiplier on the delay)
    ("Lena Fischer", 0.7), ("Marco Rossi", 1.0), ("Aisha Khan", 0.8),
    ("Tom Becker", 1.6), ("Sofia Lindqvist", 0.9), ("Jonas Weber", 1.2),
)
AES: dict[str, tuple[tuple[str, float], ...]] = {
    # name, skill (multiplier on deal quality)
    "saas": (("Emma Clarke", 1.15), ("Lukas Hoffmann", 1.0), ("Priya Nair", 1.08),
             ("Daniel Moreau", 0.88)),
    "industrial": (("Klaus Richter", 1.1), ("Ingrid Olsen", 1.0),
                   ("Pieter de Vries", 0.92)),
    "generic_b2b": (("Sarah Mitchell", 1.05), ("Oliver Grant", 0.95)),
}

COMPETITORS: dict[str, tuple[str, ...]] = {
    "saas": ("Flowlytics", "Stackwise", "Cloudmetric", "Pipelane"),
    "industrial": ("Kessler Maschinenbau", "Nordtec Industries", "Voss Anlagenbau"),
    "generic_b2b": ("Brightline Solutions", "Optima Group", "Stackwise"),
}

# Median days a deal spends in each stage (before the decision to move on).
DWELL_DAYS: dict[str, dict[str, float]] = {
    "saas": {"sql": 3, "demo": 6, "trial": 12, "commercial_negotiation": 8, "closing": 5},
    "industrial": {"sql": 7, "technical_evaluation": 18, "bidding": 16,
                   "pre_bid_clarification": 12, "closing": 9},
    "generic_b2b": {"sql": 4, "discovery": 8, "proposal": 10, "negotiation": 8,
                    "closing": 6},
}
_QUOTE_STAGE = {"saas": "commercial_negotiation", "industrial": "bidding",
                "generic_b2b": "proposal"}
_REVISION_STAGE = {"saas": "commercial_negotiation", "industrial": "pre_bid_clarification",
                   "generic_b2b": "negotiation"}
_SKIPS: dict[str, tuple[str, str, str]] = {
    # template: (from stage, to stage, why)
    "saas": ("demo", "commercial_negotiation",
             "customer ran the product at a previous company; no trial needed"),
    "industrial": ("bidding", "closing", "bid accepted as submitted; no clarification round"),
    "generic_b2b": ("proposal", "closing", "customer accepted the proposal at list price"),
}
_MEAN_DAYS_TO_HAND_RAISE = {"saas": 8.0, "industrial": 16.0, "generic_b2b": 11.0}
_TEAM = 1.8  # how much better than the templates' benchmark conversions this team sells

_LOSS_TEXT: dict[str, tuple[str, ...]] = {
    "need_mismatch": ("Needs on-premise deployment we do not offer.",
                      "Use case is a one-off project, not a recurring need.",
                      "Requirements point to a different product category."),
    "competitor_won": ("Lost on price against {c}.", "{c} is already used by their parent company.",
                       "{c} offered a bigger multi-year discount.",
                       "Chose {c}: existing framework agreement."),
    "no_budget": ("Budget frozen until next fiscal year.", "CFO cut the project budget.",
                  "Could not get funding approved."),
    "decision_postponed": ("Project moved to next year after a reorganisation.",
                           "Decision postponed until the new CIO starts.",
                           "Board paused all investments this quarter."),
    "no_response": ("No reply after five follow-ups.", "Champion left the company; went silent.",
                    "Stopped answering after the quote."),
    "other": ("Company was acquired; purchasing moved to the parent.",
              "Legal could not accept our data-processing terms."),
}
_RECYCLE_TEXT: dict[str, tuple[str, ...]] = {
    "decision_postponed": ("Timing: revisit next quarter.", "Re-engage after their budget cycle."),
    "no_response": ("No answer after two weeks of outreach; back to nurture.",
                    "Could not reach the contact; nurture."),
    "no_budget": ("No budget this year; keep warm.",),
}
_NOTES = ("Discovery call went well; pain is manual reporting across sites.",
          "Champion is {n}; economic buyer is the CFO.",
          "Asked for two customer references in their industry.",
          "Security questionnaire sent to their IT.",
          "Procurement wants a three-year price lock.",
          "Competing offer from {c} on the table.",
          "Technical workshop scheduled with their engineering team.",
          "Customer asked to split delivery into two phases.")

_ASSETS = ("state-of-the-industry-report", "roi-calculator", "buyers-guide", "case-study",
           "whitepaper-automation", "checklist-implementation", "benchmark-2024")
_WEBINARS = ("pipeline-analytics-101", "forecasting-masterclass", "smart-factory-live",
             "predictive-maintenance-qa", "customer-panel")
_EVENTS = ("Hannover Messe", "SaaStr Europa", "Automatica", "Web Summit", "LogiMAT",
           "Revenue Summit")
_PAGES = ("/", "/product", "/product/features", "/solutions", "/customers", "/blog",
          "/integrations", "/about", "/resources", "/security")
_CAMPAIGNS = ("brand", "competitor-terms", "solution-keywords", "retargeting", "q-promo")


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedStats:
    """What :func:`generate_with_stats` produced, as the generator's model sees it.

    ``by_outcome`` is each lead's final state under the engine's rules (as the
    generator predicts it): ``won``, ``lost``, ``disqualified`` (by sales),
    ``screened_out`` (free-mail or university address, disqualified at capture),
    ``opportunity`` (an open opportunity stage), ``sql``, ``mql`` or ``nurturing``.
    The engine should accept every input except ``expected_rejections`` (the
    deliberately invalid sales actions, whose ids are in ``deliberate_ids``), and report
    ``expected_duplicates`` (the redeliveries) as duplicates.
    """

    seed: int
    start: datetime
    end: datetime
    leads: int
    inputs: int
    touchpoints: int
    sales_actions: int
    by_channel: dict[str, int]
    by_template: dict[str, int]
    by_outcome: dict[str, int]
    funnel: dict[str, int]
    wins_by_channel: dict[str, int]
    won_amounts: dict[str, float]
    actions_by_kind: dict[str, int]
    touchpoints_by_kind: dict[str, int]
    loss_reasons: dict[str, int]
    screened: int
    external_id_first: int
    redeliveries: int
    late: int
    illegal_actions: int
    unknown_lead_actions: int
    deliberate_ids: tuple[str, ...]

    @property
    def expected_rejections(self) -> int:
        return self.illegal_actions + self.unknown_lead_actions

    @property
    def expected_duplicates(self) -> int:
        return self.redeliveries

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (without the list of deliberate ids)."""
        return {
            "seed": self.seed, "start": self.start.isoformat(), "end": self.end.isoformat(),
            "leads": self.leads, "inputs": self.inputs, "touchpoints": self.touchpoints,
            "sales_actions": self.sales_actions, "by_channel": self.by_channel,
            "by_template": self.by_template, "by_outcome": self.by_outcome,
            "funnel": self.funnel, "wins_by_channel": self.wins_by_channel,
            "won_amounts": self.won_amounts, "actions_by_kind": self.actions_by_kind,
            "touchpoints_by_kind": self.touchpoints_by_kind, "loss_reasons": self.loss_reasons,
            "screened": self.screened, "external_id_first": self.external_id_first,
            "redeliveries": self.redeliveries, "late": self.late,
            "illegal_actions": self.illegal_actions,
            "unknown_lead_actions": self.unknown_lead_actions,
            "expected_rejections": self.expected_rejections,
            "expected_duplicates": self.expected_duplicates,
        }


def generate(
    *,
    leads: int = 3000,
    days: int = 180,
    seed: int = 7,
    end: datetime | None = None,
    templates: TemplateRegistry | None = None,
    scoring: ScoringConfig | None = None,
) -> list[dict[str, object]]:
    """A synthetic history of ``leads`` leads over ``days`` days ending at ``end``.

    Args:
        leads: how many leads are captured.
        days: how long the history is.
        seed: the only source of randomness; the same arguments give the same output.
        end: when the history ends (timezone-aware); default: now (UTC), to the hour.
        templates: the engine's templates (default: the built-in ones); the history uses
            ``saas``, ``industrial`` and ``generic_b2b``.
        scoring: the engine's scoring configuration (default: the built-in one); the
            generator follows its thresholds so that sales actions stay legal.

    Returns:
        Inbound objects in delivery order, each valid for
        :func:`lifecycle.contracts.parse_inbound`.
    """
    return generate_with_stats(leads=leads, days=days, seed=seed, end=end,
                               templates=templates, scoring=scoring)[0]


def generate_with_stats(
    *,
    leads: int = 3000,
    days: int = 180,
    seed: int = 7,
    end: datetime | None = None,
    templates: TemplateRegistry | None = None,
    scoring: ScoringConfig | None = None,
) -> tuple[list[dict[str, object]], GeneratedStats]:
    """Like :func:`generate`, and also says what was generated."""
    if leads < 0:
        raise ValueError(f"leads must be >= 0, got {leads}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif end.tzinfo is None:
        raise ValueError("end must be timezone-aware")
    end = end.astimezone(UTC).replace(second=0, microsecond=0)
    registry = templates or load_templates()
    for name in TEMPLATE_SHARES:
        if name not in registry:
            raise ValueError(f"the demo needs the {name!r} template; loaded: "
                             f"{', '.join(registry.names())}")
    gen = _Generator(leads=leads, days=days, seed=seed, end=end, registry=registry,
                     scoring=scoring or load_scoring())
    return gen.run()


# --- the engine's stage rules, in small -----------------------------------------------------


class _Illegal(Exception):
    """The shadow model would reject this sales action (a generator bug if unplanned)."""


class _Shadow:
    """The stage, scores and BANT of one lead, following the Lead aggregate's rules.

    Fed with the lead's inputs in delivery order, it tells the generator what stage
    the engine will show, so that sales actions stay legal. It reuses the engine's own
    scoring functions, so thresholds are met (or missed) exactly as in the engine.
    """

    __slots__ = ("bant", "behaviour", "behaviour_at", "config", "fit", "lost_from",
                 "newest_at", "profile", "reached", "stage", "template")

    def __init__(self, template: FunnelTemplate, config: ScoringConfig) -> None:
        self.template = template
        self.config = config
        self.stage = "new"
        self.profile: dict[str, object] = {}
        self.fit = 0.0
        self.behaviour = 0.0
        self.behaviour_at = datetime.min.replace(tzinfo=UTC)
        self.newest_at = self.behaviour_at
        self.bant = BantAssessment()
        self.lost_from: str | None = None
        self.reached: set[str] = set()

    def capture(self, at: datetime, email: str | None, profile: dict[str, object],
                kind: str) -> None:
        self.profile = dict(profile)
        self.fit = fit_score(self.profile, self.config.fit)[0]
        self.stage = "captured"
        self.behaviour_at = self.newest_at = at
        phone = profile.get("phone")
        why = screen(email, phone if isinstance(phone, str) else None,
                     b2b=self.template.b2b, config=self.config.screen)
        if why is not None:
            self.stage = "disqualified"
        self.touch(at, kind, None)

    def touch(self, at: datetime, kind: str, profile: dict[str, object] | None) -> None:
        points = self.config.behaviour.weights[kind]
        half_life = self.config.half_life_seconds
        if at >= self.behaviour_at:
            beh = self.behaviour * decay_factor(self.behaviour_at, at, half_life) + points
            beh_at = at
        else:
            beh = self.behaviour + points * decay_factor(at, self.behaviour_at, half_life)
            beh_at = self.behaviour_at
        if profile:
            changes = {k: v for k, v in profile.items() if self.profile.get(k) != v}
            if changes:
                self.profile = {**self.profile, **changes}
                self.fit = fit_score(self.profile, self.config.fit)[0]
        self.behaviour = round(beh, 6)
        self.behaviour_at = beh_at
        self.newest_at = max(self.newest_at, at)
        self._evaluate(self.newest_at, kind)

    def legal(self, action: str, *, stage: str | None = None,
              skip_reason: str | None = None) -> bool:
        try:
            self._target(action, stage, skip_reason)
        except _Illegal:
            return False
        return True

    def act(self, at: datetime, action: str, *, stage: str | None = None,
            skip_reason: str | None = None, bant: BantAssessment | None = None) -> None:
        target = self._target(action, stage, skip_reason)
        if action == "bant" and bant is not None:
            self.bant = self.bant.merged(bant)
        if target is not None:
            if action == "lose":
                self.lost_from = self.stage
            elif action == "reopen":
                self.lost_from = None
            self.stage = target
            self.reached.add(target)
            self.newest_at = max(self.newest_at, at)
        if action in ("bant", "recycle", "reopen"):
            self._evaluate(max(self.newest_at, at), None)

    def _target(self, action: str, stage: str | None, skip_reason: str | None) -> str | None:
        """The stage the action leads to (None: unchanged), or _Illegal."""
        opp = self.template.opportunity_stages
        current = self.stage
        in_sales = current == "sql" or current in opp
        if action == "accept":
            if current in ("captured", "nurturing") and skip_reason:
                return "sql"
            if current == "mql":
                return "sql"
        elif action in ("advance", "win") and in_sales:
            pos = -1 if current == "sql" else opp.index(current)
            if action == "win":
                if skip_reason or pos == len(opp) - 1:
                    return "won"
            else:
                target = stage or (opp[pos + 1] if pos + 1 < len(opp) else None)
                if target in opp and opp.index(target) > pos and (
                        skip_reason or opp.index(target) == pos + 1):
                    return target
        elif action == "lose" and in_sales:
            return "lost"
        elif action == "disqualify" and current not in CLOSED_STAGES:
            return "disqualified"
        elif action == "recycle" and (current == "mql" or in_sales):
            return "nurturing"
        elif action == "reopen" and current == "lost" and self.lost_from is not None:
            return self.lost_from
        elif (action == "bant" and current not in CLOSED_STAGES) or action == "note":
            return None
        raise _Illegal(f"{action} in stage {current}")

    def _evaluate(self, at: datetime, kind: str | None) -> None:
        if self.stage in CLOSED_STAGES:
            return
        config = self.config
        beh = self.behaviour * decay_factor(self.behaviour_at, at, config.half_life_seconds)
        if self.stage == "captured":
            self.stage = "nurturing"
        template = self.template
        if self.stage == "nurturing":
            rule = template.mql
            if (self.fit >= rule.min_fit and beh >= rule.min_behaviour) or (
                    kind in rule.instant_kinds and self.fit >= rule.instant_min_fit):
                self.stage = "mql"
                self.reached.add("mql")
        if self.stage == "mql" and template.sql.auto:
            sql = template.sql
            grade_ok = True
            if sql.min_grade is not None:  # the grade is only needed here
                now = grade(self.fit, beh, self.bant, config.grading).grade
                grade_ok = _GRADE_ORDER[now] >= _GRADE_ORDER[sql.min_grade]
            if grade_ok and ((sql.on_kinds and kind in sql.on_kinds) or (
                    sql.min_bant is not None and self.bant.met >= sql.min_bant)):
                self.stage = "sql"
                self.reached.add("sql")


# --- generation -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    delivered: datetime
    order: int
    occurred: datetime
    lead: int
    data: dict[str, object]
    is_action: bool
    late: bool = False
    deliberate: bool = False


class _Stop(Exception):
    """The lead's story reached the end of the history."""


@dataclass(slots=True)
class _Lead:
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


class _Generator:
    def __init__(self, *, leads: int, days: int, seed: int, end: datetime,
                 registry: TemplateRegistry, scoring: ScoringConfig) -> None:
        self.n_leads = leads
        self.seed = seed
        self.end = end
        self.start = end - timedelta(days=days)
        self.registry = registry
        self.scoring = scoring
        self.rng = random.Random(seed)
        self.items: list[_Item] = []
        self.order = 0
        self.emails: set[str] = set()
        self.domains: set[str] = set()
        self.companies: dict[str, list[tuple[str, str, str, int, str]]] = {
            t: [] for t in TEMPLATE_SHARES}
        self.stories: list[_Story] = []

    def next_order(self) -> int:
        self.order += 1
        return self.order

    def run(self) -> tuple[list[dict[str, object]], GeneratedStats]:
        rng = self.rng
        times = sorted(self._capture_time() for _ in range(self.n_leads))
        for no, at in enumerate(times, start=1):
            lead = self._make_lead(no, at)
            story = _Story(self, lead, random.Random(rng.getrandbits(64)))
            story.run()
            self.stories.append(story)
        illegal = self._add_illegal_actions()
        unknown = self._add_unknown_lead_actions()
        redelivered = self._add_redeliveries()
        self.items.sort(key=lambda i: (i.delivered, i.order))
        data = [i.data for i in self.items]
        stats = self._stats(illegal, unknown, redelivered)
        return data, stats

    # -- leads -----------------------------------------------------------------------------

    def _capture_time(self) -> datetime:
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

    def _make_lead(self, no: int, at: datetime) -> _Lead:
        rng = self.rng
        template = _pick(rng, TEMPLATE_SHARES)
        channel = _pick(rng, {c: spec.weight[template] for c, spec in CHANNELS.items()})
        spec = CHANNELS[channel]
        k = 4.0
        quality = rng.betavariate(spec.fit * k, (1 - spec.fit) * k)
        country = _pick(rng, COUNTRIES[template])
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        student = rng.random() < spec.education
        free_mail = not student and rng.random() < spec.free_mail
        company, domain, industry, employees = self._company(template, quality, country)
        titles = _TITLES["industrial" if template == "industrial" else "office"]
        if student:
            title = rng.choice(_STUDENT_TITLES)
            industry = "education"
        else:
            q = quality
            level = _pick(rng, {0: 0.08 + 0.30 * q, 1: 0.10 + 0.15 * q, 2: 0.30,
                                3: 0.32 - 0.27 * q, 4: 0.20 - 0.18 * q})
            title = rng.choice(titles[level])
        profile: dict[str, object] = {"name": f"{first} {last}", "company": company,
                                      "industry": industry, "employees": employees,
                                      "title": title, "country": country}
        if student or (free_mail and rng.random() < 0.4):
            del profile["company"]
            del profile["employees"]
        local = _local_part(rng, first, last)
        email: str | None
        if student:
            email = self._unique_email(local, rng.choice(_UNIVERSITIES))
        elif free_mail:
            email = self._unique_email(local + str(rng.randint(1, 99)), rng.choice(_FREE_MAIL))
        else:
            email = self._unique_email(local, domain)
        external_id: str | None = None
        later_email: str | None = None
        ext_share = {"event": 0.22, "partner": 0.20}.get(channel, 0.0)
        if not (student or free_mail) and rng.random() < ext_share:
            prefix = "EVT" if channel == "event" else "PRM"
            external_id = f"{prefix}-{self.seed}-{no:05d}"
            later_email, email = email, None
        if external_id is not None or rng.random() < 0.25:
            code = _COUNTRY_INFO[country][2]
            profile["phone"] = f"+{code} {rng.randint(20, 999)} {rng.randint(100000, 9999999)}"
        first_profile = dict(profile)
        if channel in ("paid_search", "social") and rng.random() < 0.45:
            # lead-gen forms ask little; the rest comes with a later form
            for key in ("employees", "title"):
                first_profile.pop(key, None)
        amount, currency = self._deal_size(template, employees, country)
        sdr = rng.choice(SDRS)
        ae = rng.choice(AES[template])
        intent = min(0.95, spec.intent * (0.65 + quality))
        return _Lead(no=no, template=template, channel=channel, quality=quality,
                     profile=profile, first_profile=first_profile, email=email,
                     later_email=later_email, external_id=external_id,
                     invalid=student or free_mail, captured_at=at, sdr=sdr, ae=ae,
                     amount=amount, currency=currency, intent=intent)

    def _company(self, template: str, quality: float,
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
        tld, legal, _ = _COUNTRY_INFO[country]
        for attempt in range(50):
            root = rng.choice(_COMPANY_ROOTS)
            word = rng.choice(_COMPANY_WORDS[industry])
            base = f"{root} {word}" if attempt < 10 else f"{root} {word} {attempt}"
            domain = f"{_slug(root + word)}{attempt if attempt >= 10 else ''}.{tld}"
            if domain not in self.domains:
                break
        self.domains.add(domain)
        name = f"{base} {legal}"
        known.append((name, domain, industry, employees, country))
        return name, domain, industry, employees

    def _unique_email(self, local: str, domain: str) -> str:
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email

    def _deal_size(self, template: str, employees: int, country: str) -> tuple[float, str]:
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
            currency = "GBP" if country in _GBP else "USD" if country in _USD else "EUR"
        return float(round(value / step) * step), currency

    # -- the deliberate mistakes and the redeliveries --------------------------------------

    def _add_illegal_actions(self) -> int:
        """Sales actions the state machine must reject: acting on closed leads."""
        rng = self.rng
        wanted = max(2, round(ILLEGAL_SHARE * len(self.items))) if self.stories else 0
        candidates = [s for s in self.stories
                      if s.shadow.stage in ("won", "disqualified")
                      and s.last_at < self.end - timedelta(hours=3)]
        rng.shuffle(candidates)
        made = 0
        for story in candidates[:wanted]:
            at = story.last_at + timedelta(minutes=rng.randint(60, 14 * 1440))
            at = min(at, self.end - _MINUTE * 5)
            stage = story.shadow.stage
            choices: tuple[tuple[str, dict[str, object]], ...]
            if stage == "won":
                choices = (
                    ("advance", {}), ("bant", {"budget": False}),
                    ("lose", {"reason": "decision_postponed",
                              "text": "Customer reconsidering; logged on the wrong record."}),
                    ("reopen", {"text": "Upsell opportunity"}),
                    ("recycle", {"reason": "other", "text": "Nurture for upsell."}),
                )
            else:
                choices = (
                    ("accept", {}),
                    ("win", {"amount": 12_000.0, "currency": "EUR",
                             "skip_reason": "closed on the wrong record"}),
                    ("advance", {}),
                    ("reopen", {"text": "Thought it was lost, not disqualified."}),
                )
            action, extra = rng.choice(choices)
            assert not story.shadow.legal(action, skip_reason=_str(extra.get("skip_reason")))
            data = story.action_data(at, story.lead.ae[0], action, extra,
                                     action_id=f"sa-{self.seed}-{story.lead.no:05d}-x")
            self.items.append(_Item(at + timedelta(seconds=rng.randint(1, 50)),
                                    self.next_order(), at, story.lead.no, data, True,
                                    deliberate=True))
            made += 1
        return made

    def _add_unknown_lead_actions(self) -> int:
        """Sales actions about people the engine never saw (a CRM record typed by hand)."""
        rng = self.rng
        wanted = max(1, round(UNKNOWN_LEAD_SHARE * len(self.items))) if self.stories else 0
        span = int((self.end - self.start).total_seconds() // 60) - 10
        for n in range(wanted):
            at = self.start + timedelta(minutes=rng.randint(60, max(span, 61)))
            data: dict[str, object] = {
                "action_id": f"sa-{self.seed}-unknown-{n:04d}",
                "occurred_at": _iso(at),
                "actor": rng.choice(SDRS)[0],
            }
            if n % 2:
                data["external_id"] = f"CRM-{self.seed}-{900000 + n}"
            else:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                data["email"] = f"{_slug(first)}.{_slug(last)}@unlisted-prospect-{n}.com"
            kind = rng.choice(("accept", "note", "bant"))
            data["action"] = kind
            if kind == "note":
                data["text"] = "Called from a trade-show list; not in marketing's system."
            elif kind == "bant":
                data["need"] = True
            self.items.append(_Item(at + timedelta(seconds=rng.randint(1, 50)),
                                    self.next_order(), at, 0, data, True, deliberate=True))
        return wanted

    def _add_redeliveries(self) -> int:
        rng = self.rng
        pool = [i for i in self.items if not i.deliberate]
        count = round(REDELIVERY_SHARE * len(pool))
        for original in rng.sample(pool, count):
            delay = timedelta(seconds=rng.randint(30, 2 * 86_400))
            at = min(original.delivered + delay, self.end)
            self.items.append(_Item(max(at, original.delivered), self.next_order(),
                                    original.occurred, original.lead,
                                    copy.deepcopy(original.data), original.is_action))
        return count

    def _stats(self, illegal: int, unknown: int, redelivered: int) -> GeneratedStats:
        by_outcome: Counter[str] = Counter()
        wins: Counter[str] = Counter()
        funnel: Counter[str] = Counter()
        for s in self.stories:
            reached = s.shadow.reached
            funnel["leads"] += 1
            funnel["mql"] += "mql" in reached
            funnel["sql"] += "sql" in reached
            funnel["opportunity"] += any(st in reached for st in s.template.opportunity_stages)
            funnel["won"] += "won" in reached
            stage = s.shadow.stage
            if stage == "disqualified" and s.lead.invalid:
                outcome = "screened_out"
            elif stage in s.template.opportunity_stages:
                outcome = "opportunity"
            else:
                outcome = stage
            by_outcome[outcome] += 1
            if stage == "won":
                wins[s.lead.channel] += 1
        actions: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        amounts: dict[str, float] = {}
        seen: set[str] = set()
        for item in self.items:
            d = item.data
            input_id = str(d.get("action_id") or d.get("touchpoint_id"))
            if item.deliberate or input_id in seen:
                continue
            seen.add(input_id)
            if item.is_action:
                actions[str(d["action"])] += 1
                if d["action"] == "lose":
                    reasons[str(d["reason"])] += 1
                elif d["action"] == "win" and isinstance(d.get("amount"), float):
                    currency = str(d["currency"])
                    amounts[currency] = amounts.get(currency, 0.0) + float(str(d["amount"]))
            else:
                kinds[str(d["kind"])] += 1
        n_actions = sum(1 for i in self.items if i.is_action)
        return GeneratedStats(
            seed=self.seed, start=self.start, end=self.end, leads=len(self.stories),
            inputs=len(self.items), touchpoints=len(self.items) - n_actions,
            sales_actions=n_actions,
            by_channel=_sorted(Counter(s.lead.channel for s in self.stories)),
            by_template=_sorted(Counter(s.lead.template for s in self.stories)),
            by_outcome=_sorted(by_outcome), funnel=dict(funnel), wins_by_channel=_sorted(wins),
            won_amounts={c: round(v, 2) for c, v in sorted(amounts.items())},
            actions_by_kind=_sorted(actions), touchpoints_by_kind=_sorted(kinds),
            loss_reasons=_sorted(reasons),
            screened=sum(1 for s in self.stories if s.lead.invalid),
            external_id_first=sum(1 for s in self.stories if s.lead.external_id),
            redeliveries=redelivered, late=sum(s.late for s in self.stories),
            illegal_actions=illegal, unknown_lead_actions=unknown,
            deliberate_ids=tuple(str(i.data["action_id"]) for i in self.items if i.deliberate),
        )


class _Story:
    """One lead's history: marketing touches, then (maybe) sales, kept legal by a shadow."""

    def __init__(self, gen: _Generator, lead: _Lead, rng: random.Random) -> None:
        self.gen = gen
        self.lead = lead
        self.rng = rng
        self.template = gen.registry[lead.template]
        self.shadow = _Shadow(self.template, gen.scoring)
        self.end = gen.end
        self.last_at = lead.captured_at - _MINUTE
        self.counter = 0
        self.linked = lead.external_id is None
        self.pending: list[tuple[datetime, int, datetime, str]] = []
        self.own: list[_Item] = []
        self.late = 0
        self.reopened = False
        self.quality = (CHANNELS[lead.channel].deal * (0.6 + 0.8 * min(lead.quality, 1.0))
                        * lead.ae[1] * rng.lognormvariate(0, 0.15))
        self.quote_no = 0
        self.amount = lead.amount
        self._raised = False  # the lead asked for sales (demo, contact, trial)
        self.self_serve = False  # it started a trial on its own

    # -- the plot ----------------------------------------------------------------------------

    def run(self) -> None:
        with contextlib.suppress(_Stop):
            self._plot()
        self._flush(self.end + _DAY)
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
        mql_at = t if self.shadow.stage in ("mql", "sql") else self._marketing(t, cycle=1)
        if mql_at is not None:
            self._sales(mql_at, raised=self._raised, cycle=1)

    def _first_touch(self) -> datetime:
        lead, rng = self.lead, self.rng
        channel, tmpl = lead.channel, lead.template
        props: dict[str, object] = {}
        source = "website"
        if channel == "paid_search":
            kind = "form_submit"
            props = {"utm_source": "google", "utm_campaign": rng.choice(_CAMPAIGNS),
                     "form": "gated-content"}
        elif channel == "social":
            kind = "form_submit"
            props = {"utm_source": rng.choice(("linkedin", "linkedin", "facebook")),
                     "form": "lead-gen"}
        elif channel in ("seo", "content"):
            kind = "content_download" if rng.random() < 0.7 else "form_submit"
            props = {"asset": rng.choice(_ASSETS)}
        elif channel == "webinar":
            kind, source = "webinar_registered", "webinar_platform"
            props = {"webinar": rng.choice(_WEBINARS)}
        elif channel == "email":
            kind, source = "email_click", "marketing_automation"
            props = {"campaign": "newsletter"}
        elif channel == "event":
            kind, source = "event_attended", "event_app"
            props = {"event": rng.choice(_EVENTS), "badge_scan": True}
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
        return self.touch(lead.captured_at, kind, channel=channel, source=source,
                          props=props or None, first=True, late_ok=False)

    def _referrer(self) -> str:
        known = self.gen.companies[self.lead.template]
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
        n = int(rng.expovariate(1 / (spec.engage * (0.5 + lead.quality + 0.5 * interest))))
        if cycle > 1:
            n = rng.randint(1, 4)
        gap = 5.0 if lead.template == "industrial" else 3.5
        if lead.channel == "webinar":
            gap *= 0.7
        hand_raise_at: float | None = None
        if rng.random() < (lead.intent if cycle == 1 else 0.5):
            mean = _MEAN_DAYS_TO_HAND_RAISE[lead.template]
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
            if self.shadow.stage in ("mql", "sql"):
                return t
            if self.shadow.stage != "nurturing":
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
                   "pricing_page_view": 4.0 + 6 * self.lead.intent,
                   "event_attended": 5.0 if self.lead.template == "industrial" else 1.5,
                   "form_submit": 3.0, "unsubscribe": 1.0, "email_bounced": 0.4}
        if unsubscribed:
            for k in ("email_open", "email_click", "unsubscribe", "email_bounced"):
                weights[k] = 0.0
        return _pick(rng, weights)

    def _hand_raise(self, t: datetime, profile: dict[str, object] | None) -> datetime | None:
        lead, rng = self.lead, self.rng
        if lead.template != "industrial" and rng.random() < 0.6:
            t = self.touch(t, "pricing_page_view") + timedelta(minutes=rng.randint(2, 40))
        if lead.template == "saas":
            kind = _pick(rng, {"demo_requested": 0.6, "trial_started": 0.25,
                               "contact_sales": 0.15})
        elif lead.template == "industrial":
            kind = "contact_sales"
        else:
            kind = _pick(rng, {"demo_requested": 0.55, "contact_sales": 0.45})
        source = "product" if kind == "trial_started" else "website"
        self.self_serve = kind == "trial_started"
        t = self.touch(t, kind, source=source, channel="direct", late_ok=False,
                       profile=profile or lead.profile)
        self._raised = True
        stage = self.shadow.stage
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

    # -- sales -------------------------------------------------------------------------------

    def _sales(self, t: datetime, *, raised: bool, cycle: int) -> None:
        lead, rng, shadow = self.lead, self.rng, self.shadow
        sdr = lead.sdr[0]
        p_leak = (0.08 if raised else 0.38) + {"paid_search": 0.08, "social": 0.12,
                                                "referral": -0.06, "partner": -0.06,
                                                "event": -0.04}.get(lead.channel, 0.0)
        if shadow.stage == "mql" and rng.random() < p_leak:
            self._quiet_tail(t)  # nobody works this MQL
            return
        median_h = (14.0 if raised else 50.0) * lead.sdr[1]
        t = self._work(t + timedelta(hours=rng.lognormvariate(math.log(median_h), 0.9)))
        self._sync(t)
        if shadow.stage == "mql":
            if rng.random() < 0.7:
                t = self.touch(t, "reply_received", channel="email", source="crm")
            if lead.template == "industrial":
                t = self.touch(self._work(t + timedelta(days=rng.uniform(0.5, 4))),
                               "meeting_held", channel="direct", source="calendar",
                               props={"meeting": "qualification_call"})
                self.act(t + 30 * _MINUTE, sdr, "bant", self._bant(sdr_call=True))
                t = self.last_at
            if shadow.stage == "mql":
                p_accept = max(0.2, min(0.93, 0.58 + 0.3 * (self.quality - 1)
                                        + (0.15 if raised else 0.0)))
                u = rng.random()
                if u < p_accept:
                    self.act(t + 10 * _MINUTE, sdr, "accept", {})
                elif u < p_accept + (1 - p_accept) * 0.55:
                    t = self._work(t + timedelta(days=rng.uniform(10, 21)))
                    self._recycle(t, sdr, rng.choice(("no_response", "decision_postponed")))
                    self._maybe_return(cycle)
                    return
                else:
                    reason = _pick(rng, {"need_mismatch": 0.6, "no_budget": 0.3, "other": 0.1})
                    text = rng.choice(_LOSS_TEXT[reason])
                    self.act(t + 10 * _MINUTE, sdr, "disqualify", {"reason": reason,
                                                                   "text": text})
                    return
        if shadow.stage == "sql":
            self._opportunity(self.last_at, cycle)

    def _opportunity(self, t: datetime, cycle: int) -> None:
        lead, rng, shadow = self.lead, self.rng, self.shadow
        ae = lead.ae[0]
        opp = self.template.opportunity_stages
        dwell = DWELL_DAYS[lead.template]
        if not shadow.bant.assessed:
            t = self._work(t + timedelta(days=rng.uniform(0.5, 4)))
            t = self.touch(t, "meeting_held", channel="direct", source="calendar",
                           props={"meeting": "discovery"})
            self.act(t + 45 * _MINUTE, ae, "bant", self._bant(sdr_call=False))
            if rng.random() < 0.35:
                self.act(self.last_at + 5 * _MINUTE, ae, "note", {"text": self._note()})
            t = self.last_at
        if self.self_serve and shadow.stage == "sql":
            # self-serve trial made it an SQL: the AE joins the running trial
            t = self._work(t + timedelta(days=rng.uniform(0.5, 3)))
            self.act(t, ae, "advance", {"stage": "trial",
                                        "skip_reason": "self-serve trial already running"})
        while True:
            stage = shadow.stage
            if stage not in ("sql", *opp):
                return
            pos = -1 if stage == "sql" else opp.index(stage)
            days = rng.lognormvariate(math.log(dwell.get(stage, 10.0)), 0.55)
            t = self._stage_touches(t, stage, days)
            t = self._work(t + timedelta(hours=rng.uniform(1, 30)))
            self._sync(t)
            if shadow.stage != stage:
                return
            if rng.random() < self._conversion(stage):
                if pos == len(opp) - 1:
                    self._win(t, ae, skip=False)
                    return
                skip = _SKIPS[lead.template]
                if stage == skip[0] and rng.random() < 0.08:
                    self.act(t, ae, "advance", {"stage": skip[1], "skip_reason": skip[2]})
                elif pos == len(opp) - 2 and rng.random() < 0.05:
                    self._win(t, ae, skip=True)
                    return
                else:
                    extra: dict[str, object] = {}
                    if opp[pos + 1] == _QUOTE_STAGE[lead.template]:
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
        return max(0.05, min(0.97, 1 - (1 - bench) / (self.quality * _TEAM)))

    def _fall_out(self, t: datetime, ae: str, pos: int, cycle: int) -> bool:
        """A deal that does not move on: stalls, is recycled, disqualified or lost.

        Returns:
            Whether the deal goes on (it was lost and then reopened).
        """
        lead, rng, shadow = self.lead, self.rng, self.shadow
        u = rng.random()
        if u < 0.20:
            return False  # stalls: nobody records anything more
        if u < 0.33:
            t = self._work(t + timedelta(days=rng.uniform(14, 35)))
            reason = _pick(rng, {"decision_postponed": 0.6, "no_budget": 0.25,
                                 "no_response": 0.15})
            if lead.template == "industrial" and shadow.bant.met >= 3:
                # the timeline moved: otherwise the template's BANT rule re-qualifies it
                self.act(t, ae, "bant", {"timeline": False, "budget": False})
                t = self.last_at + 5 * _MINUTE
            self._recycle(t, ae, reason)
            self._maybe_return(cycle)
            return False
        if u < 0.38 and pos <= 0:
            self.act(t, ae, "disqualify", {"reason": "need_mismatch",
                                           "text": rng.choice(_LOSS_TEXT["need_mismatch"])})
            return False
        reason = self._loss_reason(pos)
        if reason == "no_response":
            t = self._work(t + timedelta(days=rng.uniform(18, 40)))
        extra: dict[str, object] = {"reason": reason}
        text = rng.choice(_LOSS_TEXT[reason])
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
        return _pick(self.rng, weights)

    def _win(self, t: datetime, ae: str, *, skip: bool) -> None:
        extra: dict[str, object] = {"amount": self.amount, "currency": self.lead.currency}
        if skip:
            extra["skip_reason"] = "signed during negotiation; no separate closing step"
        self.act(t, ae, "win", extra)
        if self.rng.random() < 0.3:
            self.act(self.last_at + 20 * _MINUTE, ae, "note", {
                "text": f"Closed won: {self.amount:,.0f} {self.lead.currency}; handed to "
                        "onboarding."})

    def _recycle(self, t: datetime, actor: str, reason: str) -> None:
        texts = _RECYCLE_TEXT.get(reason, ("Back to nurture.",))
        self.act(t, actor, "recycle", {"reason": reason, "text": self.rng.choice(texts)})

    def _maybe_return(self, cycle: int) -> None:
        """A recycled lead sometimes comes back months later, ready to talk."""
        if cycle >= 2 or self.rng.random() > 0.3:
            self._quiet_tail(self.last_at)
            return
        t = self.last_at + timedelta(days=self.rng.uniform(25, 90))
        if self.shadow.stage == "mql":
            mql_at: datetime | None = t
        else:
            self._raised = False
            mql_at = self._marketing(t, cycle=2)
        if mql_at is not None and self.shadow.stage in ("mql", "sql"):
            self._sales(mql_at, raised=self._raised, cycle=2)

    def _quiet_tail(self, t: datetime) -> None:
        """A few nurture emails still opened now and then."""
        rng = self.rng
        for _ in range(rng.randint(0, 3)):
            t = self.touch(t + timedelta(days=rng.uniform(7, 30)),
                           rng.choice(("email_open", "email_open", "page_view")))

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
            plan += [("meeting_held", {"meeting": meeting})] * rng.randint(1, 3 if
                                                                         tmpl == "industrial"
                                                                         else 2)
            plan += [("reply_received", None)] * rng.randint(0, 2)
            if rng.random() < 0.4:
                plan.append(("content_download", {"asset": "case-study"}))
        elif stage == "trial":
            if not self.self_serve:
                plan.append(("trial_started", {"plan": "team-trial"}))
            plan += [("page_view", {"path": "/docs"})] * rng.randint(1, 4)
            if rng.random() < 0.5:
                plan.append(("meeting_held", {"meeting": "trial_check_in"}))
        elif stage == _QUOTE_STAGE[tmpl] or stage == _REVISION_STAGE[tmpl]:
            if stage == _QUOTE_STAGE[tmpl]:
                plan.append(("quote_sent", None))
            if stage == _REVISION_STAGE[tmpl]:
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
            props = {"quote": f"Q-{self.gen.seed}-{lead.no:05d}-{self.quote_no}",
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
        text = self.rng.choice(_NOTES)
        name = str(self.lead.profile.get("name", "the contact"))
        return text.format(n=name, c=self.rng.choice(COMPETITORS[self.lead.template]))

    # -- emitting ------------------------------------------------------------------------

    def touch(self, t: datetime, kind: str, *, channel: str | None = None,
              source: str | None = None, props: dict[str, object] | None = None,
              profile: dict[str, object] | None = None, first: bool = False,
              link: bool = False, late_ok: bool = True) -> datetime:
        """Emits a touchpoint at (about) ``t``; returns its business time."""
        lead = self.lead
        at = self._moment(t)
        if channel is None or source is None:
            default_channel, default_source = _channel_of(kind, lead.channel, self.rng)
            channel = channel or default_channel
            source = source or default_source
        data: dict[str, object] = {
            "touchpoint_id": self._id("tp"), "occurred_at": _iso(at),
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
        late_ok = late_ok and kind in _LATE_KINDS and not first and not link
        late = self._emit(at, data, is_action=False, late_ok=late_ok)
        if first:
            self.shadow.capture(at, lead.email, lead.first_profile, kind)
        elif not late:
            shown = data.get("profile")
            self.shadow.touch(at, kind, shown if isinstance(shown, dict) else None)
        return at

    def _default_props(self, kind: str) -> dict[str, object] | None:
        rng = self.rng
        if kind == "page_view":
            return {"path": rng.choice(_PAGES)}
        if kind == "pricing_page_view":
            return {"path": "/pricing"}
        if kind == "content_download":
            return {"asset": rng.choice(_ASSETS)}
        if kind in ("webinar_registered", "webinar_attended"):
            return {"webinar": rng.choice(_WEBINARS)}
        if kind == "event_attended":
            return {"event": rng.choice(_EVENTS)}
        if kind in ("email_open", "email_click", "unsubscribe"):
            return {"campaign": rng.choice(("newsletter", "nurture", "product-update"))}
        return None

    def act(self, t: datetime, actor: str, action: str, extra: dict[str, object]) -> datetime:
        """Emits a sales action at (about) ``t``; it must be legal by the shadow."""
        at = self._moment(t)
        self._flush(at)
        shadow = self.shadow
        stage = extra.get("stage")
        if not shadow.legal(action, stage=_str(stage), skip_reason=_str(extra.get("skip_reason"))):
            raise RuntimeError(f"demo generator bug: lead {self.lead.no} in {shadow.stage} "
                               f"cannot {action} {extra}")
        data = self.action_data(at, actor, action, extra, action_id=self._id("sa"))
        self._emit(at, data, is_action=True, late_ok=False)
        bant = None
        if action == "bant":
            bant = BantAssessment(*(_bool(extra.get(k)) for k in
                                    ("budget", "authority", "need", "timeline")))
        shadow.act(at, action, stage=_str(stage), skip_reason=_str(extra.get("skip_reason")),
                   bant=bant)
        return at

    def action_data(self, at: datetime, actor: str, action: str, extra: dict[str, object],
                    *, action_id: str) -> dict[str, object]:
        data: dict[str, object] = {"action_id": action_id, "occurred_at": _iso(at),
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
        return f"{prefix}-{self.gen.seed}-{self.lead.no:05d}-{self.counter:03d}"

    def _moment(self, t: datetime) -> datetime:
        """``t`` to the minute, after the lead's previous input; stops at the end."""
        at = t.replace(second=0, microsecond=0)
        if at <= self.last_at:
            at = self.last_at + _MINUTE
        if at > self.end - 2 * _MINUTE:
            raise _Stop
        return at

    def _sync(self, t: datetime) -> None:
        """Lets late inputs delivered by ``t`` reach the shadow before a decision."""
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
            if d < self.end - _MINUTE:
                delivered, late = d, True
        item = _Item(delivered, self.gen.next_order(), at, self.lead.no, data, is_action, late)
        self.gen.items.append(item)
        self.own.append(item)
        if late:
            heapq.heappush(self.pending, (delivered, item.order, at, str(data["kind"])))
            return True
        self._flush(at)
        return False

    def _flush(self, until: datetime) -> None:
        """Applies late touchpoints delivered at or before ``until`` (whole minutes)."""
        while self.pending and self.pending[0][0] <= until:
            _, _, at, kind = heapq.heappop(self.pending)
            self.shadow.touch(at, kind, None)

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
            t = (t + _DAY).replace(hour=8 + rng.randrange(3), minute=rng.randrange(60))
        while t.weekday() >= 5:
            t = (t + _DAY).replace(hour=8 + rng.randrange(3), minute=rng.randrange(60))
        return t


_WEB_CHANNELS = frozenset({"seo", "paid_search", "social", "content"})
_LATE_KINDS = frozenset({"page_view", "email_open", "email_click", "content_download",
                         "pricing_page_view", "webinar_attended", "meeting_held",
                         "reply_received"})


# --- helpers --------------------------------------------------------------------------------


def _channel_of(kind: str, lead_channel: str, rng: random.Random) -> tuple[str, str]:
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
    if u < 0.75 or lead_channel not in _WEB_CHANNELS:
        return "seo", "website"
    return lead_channel, "website"  # e.g. a retargeting ad brings them back


def _pick(rng: random.Random, weights: Mapping[_K, float]) -> _K:
    """A key drawn with probability proportional to its weight."""
    u = rng.random() * sum(weights.values())
    key = None
    for key, w in weights.items():
        u -= w
        if u < 0:
            return key
    assert key is not None, "no weights to pick from"
    return key


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())


def _local_part(rng: random.Random, first: str, last: str) -> str:
    f, la = _slug(first), _slug(last)
    style = rng.random()
    if style < 0.6:
        return f"{f}.{la}"
    if style < 0.85:
        return f"{f[0]}.{la}"
    return f"{f}{la[0]}"


def _iso(at: datetime) -> str:
    return at.isoformat()


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

