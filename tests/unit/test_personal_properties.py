"""Personal touchpoint properties: which are encrypted, that they read back exactly, and
what they read as once the lead's key is gone — over random nested properties.

The rule (``lifecycle.privacy.PersonalProperties``): a property whose name contains one of
the configured parts (default ``email``, ``name``, ``phone``, ``address``; any case; at any
depth) is sealed whole, whatever its type; so is any string that holds an ``@``, and a
property whose *name* holds one (name and value). ``*`` seals every property.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.aggregates.lead import Lead
from lifecycle.aggregates.values import ERASED
from lifecycle.privacy import JSON_PREFIX, SPECS, PersonalData, PersonalProperties
from tests.unit.test_audit_units import Keys

LEAD = UUID("12345678-1234-5678-1234-567812345678")
_SPEC = SPECS[Lead.TouchpointRecorded]  # declared by the event class
assert _SPEC is not None
SPEC = _SPEC
RUNS = settings(deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NAMES = st.one_of(
    st.sampled_from(["Email", "work_EMAIL", "fullName", "first name", "PHONE_2", "mobilePhone",
                     "Address", "ip_address", "nickname", "utm", "score", "contact", "tags",
                     "ada@acme.com", "bob@acme.com", "enc:v1:x", "enc:j1:y", "(erased)",
                     "(erased) 2", "", "é"]),
    st.text(max_size=8),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["Ada Lovelace", "+44 20 7946 0000", "a@b.co", "enc:j1:zz", "enc:v1:q",
                     "(erased)", "spring"]),
    st.text(max_size=12),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(NAMES, inner, max_size=4)), max_leaves=20)
PROPERTIES = st.dictionaries(NAMES, JSON, min_size=1, max_size=6)
RULES = st.sampled_from([PersonalProperties(), PersonalProperties.parse("*"),
                         PersonalProperties.parse("ssn, Birth"), PersonalProperties.parse("")])


class _Event:
    originator_id = LEAD


def _store(data: PersonalData, properties: dict[str, Any]) -> dict[str, Any]:
    state = {"properties": properties}
    data.encrypt(SPEC, _Event(), state)
    stored: dict[str, Any] = orjson.loads(orjson.dumps(state))
    return stored


def _read(data: PersonalData, stored: dict[str, Any]) -> Any:
    state = orjson.loads(orjson.dumps(stored))
    data.decrypt(SPEC, LEAD, state)
    return state["properties"]


def _revealing(text: str) -> bool:
    return "@" in text or text.startswith("enc:")


def _sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(JSON_PREFIX)


def _check_stored(rule: PersonalProperties, original: Any, stored: Any) -> None:
    """Every personal value is sealed; nothing else changed."""
    if isinstance(original, dict):
        assert isinstance(stored, dict)
        plain = {k: v for k, v in stored.items() if not k.startswith(JSON_PREFIX)}
        # A revealing name is never stored as it is; each one became one sealed entry.
        assert len(stored) == len(original)
        for name, value in original.items():
            if _revealing(name):
                assert name not in plain
            elif value is not None and rule.personal(name):
                assert _sealed(plain[name]), (name, plain[name])
            else:
                _check_stored(rule, value, plain[name])
    elif isinstance(original, list):
        assert isinstance(stored, list)
        assert len(stored) == len(original)
        for a, b in zip(original, stored, strict=True):
            _check_stored(rule, a, b)
    elif isinstance(original, str) and _revealing(original):
        assert _sealed(stored)
    else:
        assert stored == original


def _check_erased(rule: PersonalProperties, original: Any, erased: Any) -> None:
    """What an erased lead's properties read as: personal values, ERASED; the rest, as
    they were."""
    if isinstance(original, dict):
        assert isinstance(erased, dict)
        assert len(erased) == len(original)
        for name, value in original.items():
            if _revealing(name):
                assert name not in erased
            elif value is not None and rule.personal(name):
                assert erased[name] == ERASED
            else:
                _check_erased(rule, value, erased[name])
        assert sum(1 for k in erased if k.startswith(ERASED)) >= sum(
            1 for k in original if _revealing(k))
    elif isinstance(original, list):
        for a, b in zip(original, erased, strict=True):
            _check_erased(rule, a, b)
    elif isinstance(original, str) and _revealing(original):
        assert erased == ERASED
    else:
        assert erased == original


@RUNS
@given(properties=PROPERTIES, rule=RULES)
def test_personal_properties_are_sealed_read_back_and_erased(
    properties: dict[str, Any], rule: PersonalProperties
) -> None:
    keys = Keys(LEAD)
    data = PersonalData(keys, rule)
    stored = _store(data, properties)
    _check_stored(rule, properties, stored["properties"])
    assert _read(data, stored) == properties
    del keys.ciphers[LEAD]
    _check_erased(rule, properties, _read(data, stored))


def test_the_default_rule_matches_parts_of_names_in_any_case() -> None:
    rule = PersonalProperties()
    assert all(rule.personal(n) for n in ("EMAIL", "contactEmail", "Full Name", "nickname",
                                          "phone_2", "Mobile-Phone", "home_ADDRESS"))
    assert not any(rule.personal(n) for n in ("utm", "score", "company", "e-mail", "tel"))
    assert PersonalProperties.parse("*").personal("anything")
    custom = PersonalProperties.parse(" SSN ,birth,")
    assert custom.personal("user_ssn")
    assert custom.personal("BirthDate")
    assert not custom.personal("email")  # a configured list replaces the default
