"""The demo's cast and scenery, as data: channels, industries, countries, names, the
sales team, competitors, stage dwell times, and the words salespeople write.

Pure data (no logic): the numbers are what the demo's stories draw from, tuned so that
the reports look like a real B2B funnel (good channels close, cheap ones bring volume).
"""

from __future__ import annotations

from dataclasses import dataclass

TEMPLATE_SHARES: dict[str, float] = {"saas": 0.50, "industrial": 0.30, "generic_b2b": 0.20}


@dataclass(frozen=True, slots=True)
class Channel:
    """How leads from one acquisition channel look and behave."""

    weight: dict[str, float]  # share of the template's leads (relative)
    fit: float  # mean latent fit quality, 0-1
    intent: float  # chance the lead raises a hand (demo request, contact sales, trial)
    engage: float  # mean number of marketing touches
    deal: float  # multiplier on stage conversion once sales works the lead
    free_mail: float  # share of private (free-mail) addresses
    education: float  # share of students with a university address


CHANNELS: dict[str, Channel] = {
    "paid_search": Channel({"saas": 30, "industrial": 16, "generic_b2b": 24},
                           0.36, 0.24, 4, 0.72, 0.035, 0.002),
    "social": Channel({"saas": 19, "industrial": 7, "generic_b2b": 14},
                      0.30, 0.15, 3, 0.62, 0.05, 0.01),
    "seo": Channel({"saas": 16, "industrial": 15, "generic_b2b": 17},
                   0.52, 0.32, 6, 0.90, 0.025, 0.008),
    "content": Channel({"saas": 10, "industrial": 8, "generic_b2b": 10},
                       0.50, 0.26, 7, 0.85, 0.025, 0.012),
    "webinar": Channel({"saas": 9, "industrial": 9, "generic_b2b": 9},
                       0.60, 0.22, 9, 0.95, 0.015, 0.01),
    "email": Channel({"saas": 5, "industrial": 6, "generic_b2b": 6},
                     0.50, 0.24, 6, 0.82, 0.02, 0.0),
    "event": Channel({"saas": 3, "industrial": 17, "generic_b2b": 8},
                     0.72, 0.58, 5, 1.20, 0.01, 0.0),
    "referral": Channel({"saas": 4, "industrial": 9, "generic_b2b": 6},
                        0.78, 0.72, 4, 1.35, 0.0, 0.0),
    "partner": Channel({"saas": 2, "industrial": 9, "generic_b2b": 3},
                       0.70, 0.62, 4, 1.15, 0.0, 0.0),
    "direct": Channel({"saas": 3, "industrial": 4, "generic_b2b": 3},
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

COUNTRY_INFO: dict[str, tuple[str, str, str]] = {
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

GBP_COUNTRIES = {"GB"}
USD_COUNTRIES = {"US", "CA", "AU", "SG", "JP", "IN", "BR", "MX", "ZA", "CN"}

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

COMPANY_ROOTS = (
    "Nord", "Alpen", "Blue", "Stern", "Falken", "Helio", "Quanta", "Terra", "Vektor", "Kron",
    "Lumen", "Orbit", "Polar", "Rhein", "Silver", "Summit", "Titan", "Unity", "Vista",
    "Weser", "Apex", "Bright", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor",
    "Iris", "Juno", "Kestrel", "Linde", "Meridian", "Nova", "Oak", "Pioneer", "Quarry",
    "River", "Solace", "Tide", "Upland", "Vale", "Wren", "Zenith", "Aurora", "Beacon",
    "Cobalt", "Dune", "Echo", "Forge", "Gala", "Hansa", "Isar", "Jade", "Kappa", "Lotus",
    "Mosel", "Nexus", "Onyx", "Prism", "Rubin", "Saturn", "Tessa", "Ultra", "Volta", "Wega",
)

COMPANY_WORDS: dict[str, tuple[str, ...]] = {
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
TITLES: dict[str, tuple[tuple[str, ...], ...]] = {
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

FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "gmx.de", "web.de",
             "icloud.com", "proton.me")
UNIVERSITIES = ("northfield.edu", "westbury.ac.uk", "uni-hamburg.de", "lakeside.edu",
                "uni-stuttgart.de", "kingsbridge.ac.uk")
STUDENT_TITLES = ("Student", "MSc Student", "Research Intern", "Working Student")

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
QUOTE_STAGE = {"saas": "commercial_negotiation", "industrial": "bidding",
               "generic_b2b": "proposal"}
REVISION_STAGE = {"saas": "commercial_negotiation", "industrial": "pre_bid_clarification",
                  "generic_b2b": "negotiation"}
SKIPS: dict[str, tuple[str, str, str]] = {
    # template: (from stage, to stage, why)
    "saas": ("demo", "commercial_negotiation",
             "customer ran the product at a previous company; no trial needed"),
    "industrial": ("bidding", "closing", "bid accepted as submitted; no clarification round"),
    "generic_b2b": ("proposal", "closing", "customer accepted the proposal at list price"),
}
MEAN_DAYS_TO_HAND_RAISE = {"saas": 8.0, "industrial": 16.0, "generic_b2b": 11.0}
TEAM = 1.8  # how much better than the templates' benchmark conversions this team sells

LOSS_TEXT: dict[str, tuple[str, ...]] = {
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
RECYCLE_TEXT: dict[str, tuple[str, ...]] = {
    "decision_postponed": ("Timing: revisit next quarter.", "Re-engage after their budget cycle."),
    "no_response": ("No answer after two weeks of outreach; back to nurture.",
                    "Could not reach the contact; nurture."),
    "no_budget": ("No budget this year; keep warm.",),
}
NOTES = ("Discovery call went well; pain is manual reporting across sites.",
         "Champion is {n}; economic buyer is the CFO.",
         "Asked for two customer references in their industry.",
         "Security questionnaire sent to their IT.",
         "Procurement wants a three-year price lock.",
         "Competing offer from {c} on the table.",
         "Technical workshop scheduled with their engineering team.",
         "Customer asked to split delivery into two phases.")

ASSETS = ("state-of-the-industry-report", "roi-calculator", "buyers-guide", "case-study",
          "whitepaper-automation", "checklist-implementation", "benchmark-2024")
WEBINARS = ("pipeline-analytics-101", "forecasting-masterclass", "smart-factory-live",
            "predictive-maintenance-qa", "customer-panel")
EVENTS = ("Hannover Messe", "SaaStr Europa", "Automatica", "Web Summit", "LogiMAT",
          "Revenue Summit")
PAGES = ("/", "/product", "/product/features", "/solutions", "/customers", "/blog",
         "/integrations", "/about", "/resources", "/security")
CAMPAIGNS = ("brand", "competitor-terms", "solution-keywords", "retargeting", "q-promo")


WEB_CHANNELS = frozenset({"seo", "paid_search", "social", "content"})
LATE_KINDS = frozenset({"page_view", "email_open", "email_click", "content_download",
                        "pricing_page_view", "webinar_attended", "meeting_held",
                        "reply_received"})
"""Touchpoint kinds whose source systems sometimes deliver hours or days late."""
