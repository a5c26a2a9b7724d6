"""Property, on real SQLite and PostgreSQL: after an anchor, any single deletion,
truncation or byte edit of the stored events is caught by ``verify`` against it — also
when the tamperer then recomputes the aggregate's chain and head, or deletes its head
row — and the report names the aggregate that was touched.

One store per backend serves every example: the tables are put back (notification ids
included) after each one, and the store verifies clean before the next. The store has
events recorded after the anchor too; an edit of those that is resealed is outside what
an anchor can know (its events are checked by their chains), so such examples are
discarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from lifecycle.anchor import Anchor, seal
from lifecycle.application import LeadLifecycle
from lifecycle.audit import take_anchor, verify
from lifecycle.chain import HASH_LEN
from tests.integration.audit_story import T0, open_app, people, story, touch
from tests.integration.tamper import Tamper

pytestmark = pytest.mark.integration

EXAMPLES = 30


@dataclass(repr=False)
class Store:
    app: LeadLifecycle
    tamper: Tamper
    anchor: Anchor
    saved: tuple[list[tuple[str, int, str, bytes, int]], list[tuple[str, int, str]]]

    def __repr__(self) -> str:  # short: hypothesis prints it with a failing example
        return f"Store({self.app.settings.database_url})"


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    app = open_app(database_url)
    persons = people(5)
    app.record_batch(story(persons[:4]))
    anchor, report = take_anchor(app)
    assert anchor is not None, report.breaks
    # After the anchor: a new lead, and a new event of an anchored one.
    app.record_batch(story(persons[4:], first=4))
    app.record_batch([touch("later", "page_view", T0 + timedelta(days=40), persons[0].email)])
    tamper = Tamper(app)
    yield Store(app, tamper, seal(anchor, None), tamper.snapshot())
    app.close()


def lead_of_entry(rows: list[tuple[str, int, str, bytes, int]]) -> str | None:
    """The lead a key index entry names (None for a lead)."""
    _, _, topic, state, _ = rows[0]
    if not topic.endswith("LeadKey.Registered"):
        return None
    at = state.index(b'"lead_id":"') + 11
    return UUID(state[at:at + 36].decode()).hex


Tampering = st.fixed_dictionaries({
    "what": st.sampled_from(["delete", "truncate", "byte", "byte", "delete_aggregate"]),
    "cover": st.sampled_from(["none", "reseal", "drop_head"]),
    "aggregate": st.integers(min_value=0, max_value=10_000),
    "at": st.integers(min_value=0, max_value=10_000),
    "xor": st.integers(min_value=1, max_value=255),
})


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.filter_too_much])
@given(t=Tampering)
def test_any_single_tampering_after_an_anchor_is_caught(store: Store, t: dict[str, object]
                                                        ) -> None:
    tamper, anchor = store.tamper, store.anchor
    events, _ = store.saved
    ids = sorted({oid for oid, *_ in events})
    oid = ids[int(str(t["aggregate"])) % len(ids)]
    rows = [r for r in events if r[0] == oid]
    held = anchor.heads().get(oid, (0, ""))[0]
    what, cover, at = str(t["what"]), str(t["cover"]), int(str(t["at"]))
    if what == "delete":
        touched = rows[at % len(rows)][1]  # the version deleted
    elif what == "truncate":
        touched = rows[-(at % len(rows)) - 1][1]  # the first version deleted
    elif what == "byte":
        touched = rows[at % len(rows)][1]
    else:
        touched = 1
    # A resealed edit of events the anchor does not hold cannot be told from new events
    # (unless it leaves the key index and the leads disagree: a whole aggregate gone).
    assume(cover != "reseal" or touched <= held or what == "delete_aggregate")
    event(f"{what}, {cover}, {'covered' if touched <= held else 'after the anchor'}")

    assert verify(store.app, anchor=anchor).ok  # put back by the previous example
    try:
        if what == "delete":
            tamper.delete_event(oid, touched)
        elif what == "truncate":
            for _, version, *_ in rows:
                if version >= touched:
                    tamper.delete_event(oid, version)
        elif what == "byte":
            _, version, _, state, _ = rows[at % len(rows)]
            # Resealing recomputes the hash part from the body: edit the body then.
            lo = HASH_LEN if cover == "reseal" else 0
            pos = lo + (int(str(t["at"])) // len(rows)) % (len(state) - lo)
            edited = state[:pos] + bytes([state[pos] ^ int(str(t["xor"]))]) + state[pos + 1:]
            tamper.set_state_of(oid, version, edited)
        else:
            tamper.delete_aggregate(oid)
        if cover == "reseal":
            tamper.reseal(oid)
        elif cover == "drop_head":
            tamper.delete_head(oid)
        report = verify(store.app, anchor=anchor, batch_size=9)
        named = {b.originator_id for b in report.breaks}
        assert not report.ok, (t, oid)
        # A key index entry that left no trace is named through its lead (it has fewer
        # entries than keys); everything else by its own id.
        assert oid in named or lead_of_entry(rows) in named, (
            t, oid, report.as_dict()["broken"])
    finally:
        tamper.restore(store.saved)


def test_the_property_store_is_anchored_and_clean(store: Store) -> None:
    """The fixture's premise: anchored leads and key entries, later events, clean."""
    assert store.anchor.aggregates == 8
    assert {kind for _, kind, *_ in store.anchor.lines} == {"lead", "key"}
    assert len(store.saved[0]) > store.anchor.events
    report = verify(store.app, anchor=store.anchor)
    assert report.ok, report.as_dict()["broken"]
    lead = store.app.find_lead(people(5)[4].email)
    assert lead.hex not in store.anchor.heads()
    assert UUID(hex=store.anchor.lines[0][0])
