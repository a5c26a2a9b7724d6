"""The ingest summary's view of the data: unknown kinds and unmatched values counted from
the accepted touchpoints by the configuration their lead is scored by, and one warning
when most new leads of the run were disqualified, unscored or not contactable (judged
from the inputs' :attr:`Result.flags`)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid5

from lifecycle.application import Outcome, Result
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.ingest import IngestSummary
from lifecycle.ingest_quality import OTHER_VALUES, TRACKED_VALUES, NewLeads, QualityTally
from lifecycle.scoring import ScoringConfig
from tests.support import action, touchpoint

NS = UUID(int=0)


def lead(n: int) -> UUID:
    return uuid5(NS, str(n))


def accepted(item: Touchpoint | SalesAction, n: int, *flags: str) -> Result:
    return Result(item.input_id, Outcome.ACCEPTED, lead(n), 2, flags=flags)


def tp(tid: str, kind: str = "page_view", **fields: Any) -> Touchpoint:
    fields.setdefault("email", None)
    fields.setdefault("external_id", f"id-{tid}")
    return touchpoint(tid, kind, **fields)


def test_unknown_kinds_and_unmatched_values_are_counted_by_the_leads_configuration(
    scoring: ScoringConfig,
) -> None:
    tally = QualityTally(scoring, "generic_b2b")
    b2b = tp("1", "sms_sent", profile={"industry": "Agro", "title": "Data Scientist",
                                       "country": "Narnia"})
    tally.note(b2b, accepted(b2b, 1, "created"))
    # a consumer lead: industry does not count for it (weight 0), so it is not unmatched
    first = tp("2", "chat", template="consumer",
               profile={"industry": "Agro", "title": "Other", "country": "Narnia"})
    tally.note(first, accepted(first, 2, "created"))
    # later touches need not name the template: the run knows the lead's
    later = tp("3", "chat", profile={"industry": "Agro"})
    tally.note(later, accepted(later, 2))
    known = tp("4", "page_view", profile={"industry": "Financial Services", "country": "uk"})
    tally.note(known, accepted(known, 3, "created"))
    assert tally.unknown_kinds == {"chat": 2, "sms_sent": 1}
    assert tally.unmatched == {"industry": {"agro": 1}, "title": {"Data Scientist": 1,
                                                                  "Other": 1},
                               "country": {"Narnia": 2}}


def test_counted_values_are_bounded_the_rest_counted_together(scoring: ScoringConfig) -> None:
    tally = QualityTally(scoring, "generic_b2b")
    for n in range(TRACKED_VALUES + 5):
        item = tp(f"t{n}", f"kind_{n}", profile={"title": f"Title {n}"})
        tally.note(item, accepted(item, n))
    item = tp("again", "kind_0")
    tally.note(item, accepted(item, 0))
    assert len(tally.unknown_kinds) == TRACKED_VALUES + 1
    assert (tally.unknown_kinds["kind_0"], tally.unknown_kinds[OTHER_VALUES]) == (2, 5)
    assert tally.unmatched["title"][OTHER_VALUES] == 5


def test_new_leads_are_judged_by_what_the_runs_inputs_did(scoring: ScoringConfig) -> None:
    tally = QualityTally(scoring, "generic_b2b")
    # 1: scored (a known kind), contactable
    a = tp("a", "form_submit", email="ada@acme.com")
    tally.note(a, accepted(a, 1, "created"))
    # 2: unscored at first (unknown kind, no profile), then a profile that fits: scored
    b1, b2 = tp("b1", "sms_sent"), tp("b2", "sms_sent", profile={"country": "US"})
    tally.note(b1, accepted(b1, 2, "created", "not_contactable"))
    tally.note(b2, accepted(b2, 2, "not_contactable"))
    # 3: unscored, not contactable; then an email arrives
    c1, c2 = tp("c1", "chat"), tp("c2", "chat", email="cy@acme.com")
    tally.note(c1, accepted(c1, 3, "created", "not_contactable"))
    tally.note(c2, accepted(c2, 3))
    # 4: disqualified at capture (scored), then reinstated by a person's action
    d1 = tp("d1", "page_view", email="dee@gmail.com")
    tally.note(d1, accepted(d1, 4, "created", "disqualified"))
    d2 = action("d2", "note", email="dee@gmail.com", text="real buyer")
    tally.note(d2, accepted(d2, 4, "reinstated"))
    # 5: a signal is behaviour too; a boolean is no number
    e = tp("e", "chat", properties={"seconds_on_site": 300})
    tally.note(e, accepted(e, 5, "created", "not_contactable"))
    f = tp("f", "chat", properties={"seconds_on_site": True})
    tally.note(f, accepted(f, 6, "created", "not_contactable"))
    # a lead from an earlier run is no new lead, whatever its flags
    g = tp("g", "chat")
    tally.note(g, accepted(g, 7, "disqualified", "not_contactable"))
    # troubled: 2 (not contactable), 3 (unscored), 5 (not contactable), 6 (both)
    assert tally.new_leads() == NewLeads(created=6, disqualified=0, unscored=2,
                                         not_contactable=3, troubled=4)


def test_one_warning_line_when_most_new_leads_are_troubled(scoring: ScoringConfig) -> None:
    tally = QualityTally(scoring, "generic_b2b")
    for n in range(3):  # id-only leads, an unknown kind: nothing to score, nobody to call
        item = tp(f"x{n}", "sms_sent")
        tally.note(item, accepted(item, n, "created", "not_contactable"))
    for n in range(3, 6):
        item = tp(f"y{n}", "demo_requested", email=f"ada{n}@acme.com")
        tally.note(item, accepted(item, n, "created"))
    assert tally.new_leads().warning is None  # half is not most
    item = tp("x6", "sms_sent")
    tally.note(item, accepted(item, 6, "created", "not_contactable"))
    new = tally.new_leads()
    assert new == NewLeads(created=7, disqualified=0, unscored=4, not_contactable=4,
                           troubled=4)
    assert new.warning == (
        "4 of 7 new leads were disqualified (0), unscored (4: fit 0 and no behaviour "
        "points) or not contactable (4); check the mapping of keys and profile fields, "
        "and the scoring file's kinds and aliases")
    assert NewLeads().warning is None  # no new leads, nothing to warn of


def test_the_json_summary_nests_the_counts_and_keeps_the_accounting() -> None:
    summary = IngestSummary(received=5, accepted=3, duplicate=1, rejected=1,
                            unknown_kinds={"chat": 1, "sms_sent": 4},
                            unmatched={"title": {"B": 1, "A": 1, "C": 3}},
                            new_leads=NewLeads(created=2, unscored=2, troubled=2))
    data = json.loads(json.dumps(summary.as_json()))
    assert data == {
        "received": 5, "accepted": 3, "duplicate": 1, "rejected": 1,
        "unknown_kinds": {"sms_sent": 4, "chat": 1},
        "unmatched": {"title": {"C": 3, "A": 1, "B": 1}},
        "new_leads": {"created": 2, "disqualified": 0, "unscored": 2, "not_contactable": 0,
                      "troubled": 2},
        "warning": NewLeads(created=2, unscored=2, troubled=2).warning,
    }
    assert list(data["unknown_kinds"]) == ["sms_sent", "chat"]  # most frequent first
    assert list(data["unmatched"]["title"]) == ["C", "A", "B"]
    assert summary.as_dict() == {"received": 5, "accepted": 3, "duplicate": 1, "rejected": 1}
    assert summary.balanced
