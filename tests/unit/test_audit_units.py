"""Audit and privacy building blocks, without I/O: the hash chain and its checker, the
chaining mapper, the field cipher, and the Lead's erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED
from lifecycle.audit import fold
from lifecycle.chain import GENESIS, HASH_LEN, Anchored, Break, Row, check_rows, link
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import LeadErased
from lifecycle.handling import apply_input, touch_of
from lifecycle.persistence import FastMapper
from lifecycle.privacy import PREFIX, PersonalData
from lifecycle.scoring import ScoringConfig
from lifecycle.templates import TemplateRegistry

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
LEAD = UUID("12345678-1234-5678-1234-567812345678")
TOPIC = b"lifecycle.aggregates.lead:Lead.NoteAdded"


class Keys:
    """A key ring in memory: leads without a key are erased."""

    def __init__(self, *leads: UUID) -> None:
        self.ciphers = {lead: AESGCM(AESGCM.generate_key(256)) for lead in leads}

    def cipher(self, lead_id: UUID, /) -> AESGCM | None:
        return self.ciphers.get(lead_id)


def captured_lead(templates: TemplateRegistry, scoring: ScoringConfig) -> Lead:
    tp = Touchpoint.model_validate({
        "touchpoint_id": "t1", "source": "web", "channel": "seo", "kind": "form_submit",
        "occurred_at": T0.isoformat(), "email": "ada@acme.com",
        "profile": {"name": "Ada Lovelace", "phone": "+44 1", "industry": "software"}})
    return Lead.capture(LEAD, touch_of(tp), keys=("external:crm-1", "email:ada@acme.com"),
                        email=tp.email, external_id=tp.external_id,
                        template=templates["generic_b2b"], config=scoring, recorded_at=T0)


def note(lead: Lead, text: str, scoring: ScoringConfig, templates: TemplateRegistry) -> None:
    apply_input(lead, SalesAction.model_validate({
        "action_id": f"n-{len(lead.seen)}", "actor": "sales:bob", "action": "note",
        "occurred_at": T0.isoformat(), "email": "ada@acme.com", "text": text}),
        template=templates["generic_b2b"], config=scoring, recorded_at=T0)


# -- the chain -----------------------------------------------------------------------


def chain(bodies: list[bytes], oid: str = "a", first_nid: int = 1) -> list[Row]:
    rows, prev = [], GENESIS
    for version, body in enumerate(bodies, 1):
        prev = link(prev, TOPIC, body)
        rows.append((oid, version, TOPIC, prev + body, first_nid + version - 1))
    return rows


def problems(rows: list[Row], heads: dict[str, tuple[int, str]] | None = None,
             anchored: Anchored | None = None) -> list[tuple[str, int | None, str]]:
    return [(b.originator_id, b.version, b.problem)
            for b in check_rows([rows], heads, anchored=anchored)]


def test_link_is_sha256_of_previous_topic_and_body() -> None:
    import hashlib

    digest = link(GENESIS, TOPIC, b'{"x":1}')
    assert digest == hashlib.sha256(GENESIS + TOPIC + b'\n{"x":1}').hexdigest().encode()
    assert len(digest) == HASH_LEN


def test_check_rows_finds_the_first_broken_link_of_each_aggregate() -> None:
    a = chain([b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":4}'], "a")
    b = chain([b'{"m":1}', b'{"m":2}'], "b")
    assert problems(a + b) == []
    edited = [*a[:1], (a[1][0], 2, TOPIC, a[1][3].replace(b"2", b"9"), 2), *a[2:]]
    assert problems(edited + b) == [("a", 2, "hash_mismatch")]
    assert problems([a[0], a[2], a[3], *b]) == [("a", 3, "version_gap")]
    assert problems(a[1:] + b) == [("a", 2, "missing_first_event")]
    renamed = [*a[:2], (a[2][0], 3, b"other:Topic", a[2][3], 3), a[3]]
    assert problems(renamed) == [("a", 3, "hash_mismatch")]
    # A chain split over several fetches verifies the same.
    assert list(check_rows([a[:1], a[1:3], a[3:] + b[:1], b[1:]])) == []


def test_check_rows_compares_each_chain_end_with_its_head() -> None:
    a = chain([b'{"n":1}', b'{"n":2}', b'{"n":3}'], "a")
    head = {"a": (3, a[-1][3][:HASH_LEN].decode())}
    assert problems(a, dict(head)) == []
    assert problems(a[:2], dict(head)) == [("a", 3, "truncated")]
    assert problems(a, {"a": (2, head["a"][1])}) == [("a", 3, "beyond_head")]
    assert problems(a, {"a": (3, "0" * 64)}) == [("a", 3, "head_mismatch")]
    assert problems(a, {}) == [("a", None, "no_head")]
    assert problems([], {"z": (4, "f" * 64)}) == [("z", None, "events_missing")]
    # A broken chain is reported once, not again at its head.
    assert problems(a[:1] + a[2:], dict(head)) == [("a", 3, "version_gap")]
    assert all(isinstance(b, Break) for b in check_rows([a], {}))


def test_check_rows_wants_versions_in_notification_order() -> None:
    a = chain([b'{"n":1}', b'{"n":2}', b'{"n":3}'], "a", first_nid=10)
    assert problems(a) == []
    swapped = [a[0], (*a[1][:4], 12), (*a[2][:4], 11)]
    assert problems(swapped) == [("a", 3, "notification_order")]
    assert problems([a[0], (*a[1][:4], 10), a[2]]) == [("a", 2, "notification_order")]


def anchor_of(rows: list[Row], upto: int, floor: int) -> Anchored:
    heads = {oid: (version, state[:HASH_LEN].decode()) for oid, version, _, state, _ in rows
             if version <= upto}
    return Anchored(heads, floor, "2024-01-01T00:00:00+00:00")


def test_check_rows_holds_histories_to_an_anchor() -> None:
    a = chain([b'{"n":1}', b'{"n":2}', b'{"n":3}', b'{"n":4}'], "a")
    b = chain([b'{"m":1}', b'{"m":2}'], "b", first_nid=5)
    # The anchor holds a at v3 and b at v2, log up to 7; a's v4 came later, at 8.
    a[3] = (*a[3][:4], 8)
    held = anchor_of(a[:3] + b, 99, 7)
    assert problems(a + b, anchored=held) == []
    # A history recomputed from an edited event: every link and head is consistent, but
    # v1..v3 are not what the anchor holds.
    resealed = chain([b'{"n":1}', b'{"n":2}', b'{"n":X}', b'{"n":4}'], "a")
    assert problems(resealed + b, anchored=anchor_of(a[:3] + b, 99, 7)) == [
        ("a", 3, "anchor_mismatch")]
    # Truncated below the anchor (heads rewritten to match: no heads checked here).
    assert problems(a[:2] + b, anchored=anchor_of(a[:3] + b, 99, 7)) == [
        ("a", 3, "anchor_truncated")]
    # A whole history gone.
    assert problems(a, anchored=anchor_of(a[:3] + b, 99, 7)) == [("b", None, "vanished")]
    # An aggregate the anchor does not hold, inside the part of the log it covers.
    c = chain([b'{"k":1}'], "c", first_nid=6)
    assert problems(a + b + c, anchored=anchor_of(a[:3] + b, 99, 7)) == [
        ("c", 1, "before_anchor")]
    # A head without events is reported once, not also as vanished.
    heads = {"b": (2, b[-1][3][:HASH_LEN].decode())}
    assert problems(a, heads, anchored=anchor_of(a[:3] + b, 99, 7)) == [
        ("a", None, "no_head"), ("b", None, "events_missing")]


# -- the mapper ----------------------------------------------------------------------


def test_mapper_chains_batches_and_strips_the_hash_when_decoding(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    lead = captured_lead(templates, scoring)
    events = lead.collect_events()
    mapper = FastMapper()
    stored, heads = mapper.to_stored_events(events, {})
    prev = GENESIS
    for event, s in zip(events, stored, strict=True):
        assert isinstance(event, Lead.Event)
        assert s.state[:HASH_LEN] == link(prev, s.topic.encode(), s.state[HASH_LEN:])
        prev = s.state[:HASH_LEN]
        assert mapper.decode_state(s) == mapper.public_state(s)
        assert mapper.decode_state(s)["occurred_at"] == event.occurred_at.isoformat()
        assert vars(mapper.to_domain_event(s)) == vars(event)
    assert heads == {LEAD: (len(events), prev)}
    assert mapper.heads[LEAD] == (len(events), prev)  # learnt from decoding
    # The next save chains to the head it is given; without one it refuses.
    note(lead, "hello", scoring, templates)
    more = lead.collect_events()
    with pytest.raises(ValueError, match="no previous hash"):
        mapper.to_stored_events(more, {})
    [next_event], _ = mapper.to_stored_events(more, {LEAD: prev})
    assert next_event.state[:HASH_LEN] == link(prev, next_event.topic.encode(),
                                               next_event.state[HASH_LEN:])
    # State written before chaining (a bare JSON body) still decodes.
    legacy = type(stored[0])(originator_id=LEAD, originator_version=1, topic=stored[0].topic,
                             state=stored[0].state[HASH_LEN:])
    assert vars(mapper.to_domain_event(legacy)) == vars(events[0])


# -- personal data --------------------------------------------------------------------


def test_personal_fields_are_encrypted_per_lead_and_erasable(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    lead = captured_lead(templates, scoring)
    note(lead, "likes engines", scoring, templates)
    events = lead.collect_events()
    keys = Keys(LEAD)
    mapper = FastMapper(personal=PersonalData(keys))
    stored, _ = mapper.to_stored_events(events, {})
    captured = mapper.public_state(stored[0])
    assert captured["email"].startswith(PREFIX)
    assert captured["keys"][0].startswith(f"external:{PREFIX}")  # may name the person
    assert captured["keys"][1].startswith(f"email:{PREFIX}")
    assert captured["profile"]["name"].startswith(PREFIX)
    assert captured["profile"]["industry"] == "software"
    blob = b"".join(s.state for s in stored)
    for secret in (b"ada@acme.com", b"Ada Lovelace", b"+44 1", b"likes engines"):
        assert secret not in blob
    assert [vars(mapper.to_domain_event(s)) for s in stored] == [vars(e) for e in events]

    # A ciphertext moved to another lead does not decrypt (the lead id is bound to it).
    other = uuid4()
    keys.ciphers[other] = keys.ciphers[LEAD]
    moved = type(stored[0])(originator_id=other, originator_version=1,
                            topic=stored[0].topic, state=stored[0].state)
    with pytest.raises(Exception, match="does not decrypt"):
        mapper.to_domain_event(moved)

    # Without the key: placeholders, and the lead still rebuilds.
    del keys.ciphers[LEAD]
    erased = [mapper.to_domain_event(s) for s in stored]
    first = erased[0]
    assert isinstance(first, Lead.Captured)
    assert first.email == ERASED
    assert first.keys == (f"external:{ERASED}", f"email:{ERASED}")
    assert first.profile["name"] == ERASED
    assert first.profile["industry"] == "software"
    assert isinstance(erased[-1], Lead.NoteAdded)
    assert erased[-1].text == ERASED
    rebuilt = fold(erased)  # type: ignore[arg-type]
    assert rebuilt is not None
    assert rebuilt.version == len(events)
    # Encrypting needs the key: never plaintext instead.
    with pytest.raises(LookupError, match="has no key"):
        mapper.to_stored_events(events, {})


def test_erase_records_erased_and_blocks_input(
    templates: TemplateRegistry, scoring: ScoringConfig
) -> None:
    lead = captured_lead(templates, scoring)
    lead.collect_events()
    lead.erase(at=T0 + timedelta(days=1), recorded_at=T0 + timedelta(days=1),
               actor="dpo", cause="erasure:1")
    [event] = lead.collect_events()
    assert isinstance(event, Lead.Erased)
    assert lead.erased
    assert lead.email == ERASED
    assert lead.keys == (f"external:{ERASED}", f"email:{ERASED}")
    assert lead.profile["name"] == ERASED
    assert lead.profile["phone"] == ERASED
    with pytest.raises(LeadErased):
        lead.erase(at=T0, recorded_at=T0, actor="dpo", cause="erasure:2")
    with pytest.raises(LeadErased):
        note(lead, "again", scoring, templates)
    # Policies pass over an erased lead instead of failing.
    assert not lead.regrade(T0 + timedelta(days=90), template=templates["generic_b2b"],
                            config=scoring, recorded_at=T0, cause="policy:decay@x")
    assert lead.collect_events() == []
