"""Id-only consumer (B2C) data through ``ingest`` on real SQLite and PostgreSQL: leads
known by an id alone or by a free-mail address, kinds of the source's own (``sms_sent``,
``chat``), time on site as a behaviour signal, the consumer template's own fit and
grading; and the summary's counts of unknown kinds and unmatched values."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.application import LeadLifecycle
from lifecycle.ingest import IngestSummary, RejectWriter, ingest_lines, read_lines
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import T0, touchpoint_data

pytestmark = pytest.mark.integration

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def app(database_url: str, templates: TemplateRegistry,
        scoring: ScoringConfig) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: NOW)
    yield app
    app.close()


def tp(tid: str, key: str, kind: str, hour: int, **fields: Any) -> dict[str, Any]:
    data = touchpoint_data(tid, kind, at=T0 + hour * HOUR, email=fields.pop("email", None),
                           external_id=key, **fields)
    data["source"], data["channel"] = "crm_export", "Organic Search"
    return data


LINES = [
    # stu-1: a working professional, known by id only, busy on the site
    tp("1", "stu-1", "page_view", 0, template="consumer",
       profile={"title": "Working Professional", "country": "India"},
       properties={"seconds_on_site": 1500}),
    tp("2", "stu-1", "webinar_attended", 1, template="consumer"),
    tp("3", "stu-1", "sms_sent", 2, template="consumer"),
    tp("4", "stu-1", "form_submit", 3, template="consumer"),
    tp("5", "stu-1", "chat", 4, template="consumer"),
    tp("6", "stu-1", "application_started", 5, template="consumer"),
    # stu-2: a student with a free-mail address, from nowhere the file knows
    tp("7", "stu-2", "page_view", 0, template="consumer", email="bo@gmail.com",
       profile={"title": "Student", "country": "Narnia", "industry": "Agro"},
       properties={"seconds_on_site": "lots"}),
    tp("8", "stu-2", "sms_sent", 1, template="consumer"),
    # stu-3: nothing but unknown kinds and a boolean where seconds should be
    tp("9", "stu-3", "Chat", 0, template="consumer"),
    tp("10", "stu-3", "chat", 1, template="consumer"),
    tp("11", "stu-3", "SMS Sent", 2, template="consumer",
       properties={"seconds_on_site": True}),
    # a B2B lead in the source's own words: it matches through normalisation and aliases
    tp("12", "acct-1", "demo_requested", 0, email="cfo@acme.com",
       profile={"industry": "Financial Services", "title": "SVP Finance", "country": "uk"}),
    tp("13", "acct-2", "page_view", 0, email="it@initech.com",
       profile={"industry": "Fintechs", "title": "Data Wrangler", "country": "DE"}),
]


def ingest(app: LeadLifecycle, tmp_path: Path, lines: list[dict[str, Any]]) -> IngestSummary:
    raw = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    with RejectWriter(tmp_path / "rejects.jsonl") as rejects:
        return ingest_lines(app, read_lines(io.BytesIO(raw)), rejects, batch_size=5)


def test_id_only_consumer_leads_are_scored_graded_and_counted(
    app: LeadLifecycle, tmp_path: Path
) -> None:
    summary = ingest(app, tmp_path, [*LINES, LINES[2]])  # and one redelivery
    assert summary.as_dict() == {"received": 14, "accepted": 13, "duplicate": 1,
                                 "rejected": 0}
    assert summary.unknown_kinds == {"sms_sent": 3, "chat": 3}  # the redelivery not again
    # the consumer's industry does not count (weight 0); India is a country, no target
    assert summary.unmatched == {"country": {"Narnia": 1}, "industry": {"fintechs": 1},
                                 "title": {"Data Wrangler": 1}}
    # Nobody is disqualified for want of contact details; stu-1 and stu-3 (id only) are
    # flagged not contactable, stu-3 unscored too: 2 of 5, not most, so no warning.
    new = summary.new_leads
    assert (new.created, new.disqualified, new.not_contactable, new.troubled) == (5, 0, 2, 2)
    assert new.warning is None

    def lead(key: str) -> Any:
        return app.get_lead(app.find_lead(key))

    stu1, stu2, stu3 = lead("stu-1"), lead("stu-2"), lead("stu-3")
    assert {stu1.template, stu2.template, stu3.template} == {"consumer"}
    # fit 60 (occupation; India is no target), behaviour 16 + 15 + 0 + 10 + 0 + 20 = 61
    # barely decayed: 0.2 * 60 + 0.8 * 61 * 100 / 80 = 73 -> Hot, marketing-qualified
    assert (stu1.fit, stu1.grade, stu1.stage) == (60.0, "hot", "mql")
    assert stu1.contributions[0].points == 16.0  # page_view 1 + 1500 s at 0.01, capped 20
    # a student (0.4 * 60), free mail is fine here; "lots" of seconds score nothing
    assert (stu2.fit, stu2.grade, stu2.stage) == (24.0, "cold", "nurturing")
    assert stu2.contributions[0].points == 1.0
    assert (stu3.fit, stu3.behaviour, stu3.grade) == (0.0, 0.0, "cold")
    assert [c.kind for c in stu3.contributions] == ["chat", "chat", "sms_sent"]
    # B2B words matched: Financial Services (30), SVP (25), uk (15); nothing for the rest
    assert (lead("acct-1").fit, lead("acct-2").fit) == (70.0, 15.0)
    assert lead("acct-1").first_channel == "organic_search"
