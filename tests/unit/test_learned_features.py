"""Feature specs and rows: which columns ``discover`` keeps (caps, pooling, numeric or
categorical), what ``matrix`` writes in them (NaN for missing, time read at ``at``),
the column names and their groups, and determinism: the same facts and spec give the
same bits, whatever the dicts' order, and lead by lead or all at once."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.scoring.learned import features
from lifecycle.scoring.learned.facts import LeadFacts
from lifecycle.scoring.learned.features import FeatureSpec, group_of, matrix
from tests.support import T0, hypothesis_budget

DAY = timedelta(days=1)
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
RUNS = settings(deadline=None, max_examples=hypothesis_budget(40), suppress_health_check=_QUIET)


def lead(*touches: tuple[float, str], channel: str = "seo", source: str = "website",
         template: str = "generic_b2b", profile: dict[str, Any] | None = None,
         properties: dict[str, Any] | None = None, sums: dict[str, float] | None = None,
         sales: dict[str, Any] | None = None, has_email: bool = True) -> LeadFacts:
    """Facts made by hand: touches as (days after T0, kind), on the lead's channel."""
    facts = LeadFacts(template=template, captured_at=T0, channel=channel, source=source,
                      profile=dict(profile or {}), has_email=has_email, newest_at=T0)
    for days, kind in touches:
        facts.touches.append((T0 + days * DAY, kind, channel))
        facts.newest_at = max(facts.newest_at, T0 + days * DAY)
    facts.properties = dict(properties or {})
    facts.sums = dict(sums or {})
    facts.sales = dict(sales or {})
    return facts


def row_of(spec: FeatureSpec, facts: LeadFacts, at: datetime) -> dict[str, float]:
    return dict(zip(spec.names, matrix(spec, [facts], [at])[0].tolist(), strict=True))


SPEC = FeatureSpec(
    kinds=("page_view", "demo_requested"), channels=("seo",),
    categorical={"template": ("generic_b2b",), "source": ("website",),
                 "profile:country": ("DE", "US"), "property:tags": ("a",),
                 "sales:property:segment": ("smb",)},
    numeric=("seconds", "sales:property:deal"), sales=True, half_life_days=7.0)


# -- names and groups ----------------------------------------------------------------------


def test_the_columns_in_order() -> None:
    assert SPEC.names == (
        "touches", "kinds", "channels", "touches_7d", "touches_30d", "decayed_touches",
        "days_since_capture", "days_since_last_touch", "touches_per_week",
        "count:page_view", "count:demo_requested", "count:(other)",
        "first_channel=seo", "first_channel=(other)",
        "profile:country=DE", "profile:country=US", "profile:country=(other)",
        "source=website", "source=(other)", "template=generic_b2b", "template=(other)",
        "employees", "contactable", "has_company",
        "property:seconds", "property:seconds:sum",
        "property:tags=a", "property:tags=(other)",
        "sales:actions", "sales:stage", "sales:bant", "sales:property:deal",
        "sales:property:segment=smb", "sales:property:segment=(other)")
    without = SPEC.model_copy(update={"sales": False})
    assert not [n for n in without.names if n.startswith("sales:")]


def test_group_of_names_the_field_a_column_reads() -> None:
    assert [group_of(n) for n in (
        "property:tags=ringing", "property:seconds:sum", "property:seconds", "touches",
        "count:page_view", "first_channel=seo", "profile:country=(other)",
        "sales:property:segment=smb", "sales:stage")] == [
        "property:tags", "property:seconds", "property:seconds", "touches",
        "count:page_view", "first_channel", "profile:country",
        "sales:property:segment", "sales:stage"]


def test_a_spec_survives_its_json_and_reads_the_same() -> None:
    again = FeatureSpec.model_validate_json(SPEC.model_dump_json())
    assert again == SPEC
    assert again.names == SPEC.names
    facts = lead((0, "page_view"), profile={"country": "DE"}, properties={"tags": ["a"]})
    assert matrix(again, [facts], [T0 + DAY]).tobytes() == \
        matrix(SPEC, [facts], [T0 + DAY]).tobytes()


# -- what a row holds ----------------------------------------------------------------------


def test_activity_is_read_at_the_moment() -> None:
    facts = lead((0, "page_view"), (1, "page_view"), (20, "demo_requested"),
                 (27.5, "webinar"), (40, "page_view"))  # the last is after ``at``
    at = T0 + 28 * DAY
    row = row_of(SPEC, facts, at)
    assert row["touches"] == 4
    assert (row["kinds"], row["channels"]) == (3, 1)
    assert (row["touches_7d"], row["touches_30d"]) == (1, 4)
    assert row["decayed_touches"] == pytest.approx(
        sum(2 ** -(age / 7) for age in (28, 27, 8, 0.5)), rel=1e-12)
    assert row["days_since_capture"] == 28
    assert row["days_since_last_touch"] == 0.5
    assert row["touches_per_week"] == pytest.approx(1.0)
    assert (row["count:page_view"], row["count:demo_requested"], row["count:(other)"]) \
        == (2, 1, 1)
    # a touch dated exactly at the moment counts (a live lead is read at its newest)
    assert row_of(SPEC, facts, T0 + 40 * DAY)["touches"] == 5
    assert math.isnan(row_of(SPEC, lead((3, "page_view")), T0 + DAY)[
        "days_since_last_touch"])


def test_who_columns() -> None:
    facts = lead(channel="paid", source="Website", template="saas",
                 profile={"country": "Germany", "employees": 250, "company": "Initech",
                          "name": "Ada"}, has_email=False)
    row = row_of(SPEC, facts, T0)
    assert (row["first_channel=seo"], row["first_channel=(other)"]) == (0, 1)
    assert (row["source=website"], row["template=(other)"]) == (1, 1)
    assert (row["profile:country=DE"], row["profile:country=(other)"]) == (1, 0)
    assert (row["employees"], row["has_company"], row["contactable"]) == (250, 1, 0)
    bare = row_of(SPEC, lead(profile={"phone": "+1 555"}, has_email=False), T0)
    assert bare["contactable"] == 1
    assert math.isnan(bare["employees"])
    assert bare["has_company"] == 0
    assert (bare["profile:country=DE"], bare["profile:country=US"],
            bare["profile:country=(other)"]) == (0, 0, 0)  # absent: all zeros
    erased = row_of(SPEC, lead(profile={"phone": "(erased)"}, has_email=False), T0)
    assert erased["contactable"] == 0


def test_property_columns_and_missing_values() -> None:
    facts = lead(properties={"seconds": 40, "tags": ["b", "A", "a"]}, sums={"seconds": 95.5},
                 sales={"actions": 3, "stage": 4, "property:deal": True,
                        "property:segment": "Enterprise"})
    row = row_of(SPEC, facts, T0)
    assert (row["property:seconds"], row["property:seconds:sum"]) == (40, 95.5)
    assert (row["property:tags=a"], row["property:tags=(other)"]) == (1, 1)  # a, b
    assert (row["sales:actions"], row["sales:stage"], row["sales:property:deal"]) == (3, 4, 1)
    assert (row["sales:property:segment=smb"], row["sales:property:segment=(other)"]) == (0, 1)
    assert math.isnan(row["sales:bant"])
    empty = row_of(SPEC, lead(properties={"seconds": "a lot"}), T0)
    assert math.isnan(empty["property:seconds"])  # not a number: missing
    assert math.isnan(empty["property:seconds:sum"])
    assert (empty["sales:actions"], empty["sales:stage"]) == (0, 0)
    huge = row_of(SPEC, lead(properties={"seconds": 10**400}, sums={"seconds": math.inf}), T0)
    assert math.isnan(huge["property:seconds"])
    assert math.isnan(huge["property:seconds:sum"])


def test_no_moments_no_rows_and_moments_must_match() -> None:
    assert matrix(SPEC, [], []).shape == (0, len(SPEC.names))
    with pytest.raises(ValueError, match="1 leads but 2 moments"):
        matrix(SPEC, [lead()], [T0, T0])


# -- discover ------------------------------------------------------------------------------


def test_discover_keeps_frequent_values_and_pools_the_rest() -> None:
    leads = []
    for i in range(30):
        leads.append(lead(
            (0, "page_view"), (0, f"rare_{i}"), *([(1, "webinar")] if i < 6 else []),
            channel=("seo", "paid", "email")[i % 3] if i < 27 else f"c{i}",
            profile={"industry": ("Software", "retail")[i % 2], "title": f"title {i}",
                     "department": "IT" if i < 10 else None, "name": "Ada",
                     "company": "Initech", "phone": "1"},
            properties={"plan": ("free", "pro", "team")[i % 3] if i < 24 else "x"}))
    spec = FeatureSpec.discover(leads, max_categories=2, min_count=5)
    assert spec.kinds == ("page_view", "webinar")  # rare_*: one lead each
    assert spec.channels == ("email", "paid", "seo")  # 9 each: ties by name
    assert spec.categorical["profile:industry"] == ("retail", "software")
    assert spec.categorical["profile:title"] == ()  # every title on one lead: pooled
    assert spec.categorical["profile:department"] == ("it",)
    assert spec.categorical["property:plan"] == ("free", "pro")  # capped at 2
    assert spec.categorical["profile:country"] == ()  # always a field, even unseen
    assert not {"profile:name", "profile:company", "profile:phone"} & set(spec.categorical)
    assert spec.numeric == ()
    assert not spec.sales
    row = row_of(spec, leads[29], T0 + DAY)
    assert (row["property:plan=(other)"], row["first_channel=(other)"]) == (1, 1)
    assert row["count:(other)"] == 1


def test_at_most_forty_kinds_by_frequency() -> None:
    leads = [lead(*[(0, f"k{j:02d}") for j in range(50) if j <= 45 - i % 10]) for i in range(50)]
    spec = FeatureSpec.discover(leads, min_count=1)
    assert len(spec.kinds) == 40
    assert spec.kinds == tuple(f"k{j:02d}" for j in range(40))  # all ties: by name


@pytest.mark.parametrize(("numbers", "numeric"), [(9, True), (8, False), (0, False)])
def test_a_property_is_numeric_when_nine_leads_in_ten_give_a_number(
    numbers: int, numeric: bool
) -> None:
    values: list[Any] = [1, 2.5, True, 4, 5, 6, 7, 8, 9][:numbers] + ["n/a"] * (10 - numbers)
    leads = [lead(properties={"score": v}) for v in values] + [lead()] * 5
    spec = FeatureSpec.discover(leads, min_count=1)
    assert ("score" in spec.numeric) is numeric
    assert ("property:score" in spec.categorical) is not numeric
    if not numeric:
        assert "n_a" in spec.categorical["property:score"]


def test_sales_facts_only_with_sales() -> None:
    leads = [lead(sales={"actions": 1, "property:segment": "smb", "property:deal": 10})] * 5
    assert FeatureSpec.discover(leads).categorical.keys() == {
        "source", "template", "profile:country", "profile:industry", "profile:title"}
    spec = FeatureSpec.discover(leads, sales=True)
    assert spec.sales
    assert spec.numeric == ("sales:property:deal",)
    assert spec.categorical["sales:property:segment"] == ("smb",)


# -- determinism ---------------------------------------------------------------------------

KINDS = st.sampled_from(("page_view", "email_open", "demo_requested", "webinar", "odd"))
VALUES = st.one_of(st.none(), st.integers(-10, 10**20), st.floats(allow_nan=True),
                   st.booleans(), st.sampled_from(("free", "Pro", "Café Chat", "—", "3.5")),
                   st.lists(st.sampled_from(("a", "B", "c c", 1, True)), max_size=3))


@st.composite
def random_facts(draw: st.DrawFn) -> LeadFacts:
    touches = draw(st.lists(st.tuples(st.floats(-5, 60), KINDS), max_size=12))
    names = ("seconds", "plan", "tags", "vip")
    properties = draw(st.dictionaries(st.sampled_from(names), VALUES, max_size=4))
    sums = {k: float(v) for k, v in properties.items() if type(v) is int and v < 10**15}
    profile = draw(st.dictionaries(
        st.sampled_from(("country", "industry", "title", "employees", "team", "phone")),
        st.sampled_from(("DE", "Germany", "software", "CTO", "12", 300, "")), max_size=4))
    sales = draw(st.dictionaries(st.sampled_from(("actions", "stage", "bant")),
                                 st.integers(0, 5), max_size=3))
    if draw(st.booleans()):
        sales["property:segment"] = draw(VALUES)
    return lead(*touches, channel=draw(st.sampled_from(("seo", "paid", "Social Media"))),
                profile=profile, properties=properties, sums=sums, sales=sales,
                has_email=draw(st.booleans()))


def reordered(facts: LeadFacts) -> LeadFacts:
    """The same facts with every dict in reverse insertion order."""
    return LeadFacts(
        template=facts.template, captured_at=facts.captured_at, channel=facts.channel,
        source=facts.source, profile=dict(reversed(facts.profile.items())),
        has_email=facts.has_email, newest_at=facts.newest_at, touches=list(facts.touches),
        properties=dict(reversed(facts.properties.items())),
        sums=dict(reversed(facts.sums.items())), sales=dict(reversed(facts.sales.items())))


@RUNS
@given(leads=st.lists(random_facts(), min_size=1, max_size=40),
       days=st.lists(st.floats(0, 70), min_size=40, max_size=40))
def test_rows_are_the_same_bits_lead_by_lead_all_at_once_and_in_any_dict_order(
    leads: list[LeadFacts], days: list[float],
) -> None:
    spec = FeatureSpec.discover(leads, min_count=1, max_categories=3, sales=True)
    again = FeatureSpec.discover([reordered(f) for f in reversed(leads)], min_count=1,
                                 max_categories=3, sales=True)
    assert again == spec
    at = [T0 + d * DAY for d in days[:len(leads)]]
    # Padded to a batch, so that both ways of computing rows are compared.
    padded = leads * (features.BATCH // len(leads) + 1)
    moments = at * (features.BATCH // len(leads) + 1)
    assert len(padded) >= features.BATCH
    together = matrix(spec, padded, moments)
    one_by_one = np.vstack([matrix(spec, [f], [a]) for f, a in zip(padded, moments,
                                                                     strict=True)])
    assert together.tobytes() == one_by_one.tobytes()
    shuffled = matrix(spec, [reordered(f) for f in padded], moments)
    assert shuffled.tobytes() == together.tobytes()
    assert together.shape == (len(padded), len(spec.names))
    assert not np.isinf(together).any()
    counts = together[:, spec.names.index("touches")]
    assert (counts == [sum(1 for t, _, _ in f.touches if t <= a)
                       for f, a in zip(padded, moments, strict=True)]).all()
