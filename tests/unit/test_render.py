"""The renderers: every report in the terminal and in one self-contained HTML file.

The report data comes from the real report functions over one small history, recorded
through the application into a SQLite file and projected by the embedded runner:

- ada (seo, generic B2B) requests a demo, is accepted, advances through every stage
  and is won (15,000 EUR, 15 days after capture);
- bob (webinar) reaches discovery with 8,000 EUR and is lost to Initech;
- cy (seo) reaches discovery with 20,000 EUR and gets a quote nobody answers: the open
  pipeline, a quote alert and a cooling Hot lead;
- dee (seo) writes from a free-mail address and is screened out (invalid lead);
- eve (social) only views a page and stays in nurturing;
- fay (referral) requests a demo and is disqualified for no budget;
- gus (seo, SaaS) is accepted and lost for no budget (5,000 EUR).

Tables are checked row by row against the data they were made from; the HTML file
against the same tables, its charts, and everything it must not reach for.
"""

from __future__ import annotations

import html
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from lifecycle.application import LeadLifecycle
from lifecycle.contracts import SalesAction, Touchpoint
from lifecycle.errors import ConfigError
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports import REPORTS, build_report
from lifecycle.reports.blocks import report_blocks
from lifecycle.reports.funnel import diagnosis_report
from lifecycle.reports.html import write_html
from lifecycle.reports.layout import LIMIT, Table, count, days, money, pct, when
from lifecycle.reports.output import visible
from lifecycle.reports.render import render_terminal
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.support import ICP, T0, action, hypothesis_budget, touchpoint

AT = T0 + timedelta(days=40)
TARGET = 50_000.0
SVG_NS = "http://www.w3.org/2000/svg"
CHARTS = ("funnel of generic_b2b", "time in stage, generic_b2b", "funnel of saas",
          "time in stage, saas", "conversion by channel", "losses by reason and stage",
          "forecast by stage")

Report = dict[str, Any]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _story() -> list[Touchpoint | SalesAction]:
    ada, bob, cy = "ada@acme.com", "bob@beta.com", "cy@gamma.com"
    fay, gus = "fay@eps.com", "gus@zeta.com"
    return [
        touchpoint("tp-1", "demo_requested", email=ada, profile=ICP, at=day(0)),
        action("ac-1", "accept", email=ada, at=day(1)),
        action("ac-2", "advance", email=ada, amount=12_000, currency="EUR", at=day(3)),
        action("ac-3", "advance", email=ada, at=day(6)),
        action("ac-4", "advance", email=ada, at=day(9)),
        action("ac-5", "advance", email=ada, at=day(12)),
        action("ac-6", "win", email=ada, amount=15_000, currency="EUR", at=day(15)),
        touchpoint("tp-2", "demo_requested", email=bob, profile=ICP, channel="webinar",
                   at=day(1)),
        action("ac-7", "accept", email=bob, at=day(2)),
        action("ac-8", "advance", email=bob, amount=8_000, currency="EUR", at=day(4)),
        action("ac-9", "lose", email=bob, reason="competitor_won", competitor="Initech",
               amount=8_000, currency="EUR", at=day(10)),
        touchpoint("tp-3", "demo_requested", email=cy, profile=ICP, at=day(2)),
        action("ac-10", "accept", email=cy, at=day(3)),
        action("ac-11", "advance", email=cy, amount=20_000, currency="EUR", at=day(5)),
        touchpoint("tp-4", "quote_sent", email=cy, at=day(6)),
        touchpoint("tp-5", "page_view", email="dee@gmail.com", profile=ICP, at=day(2)),
        touchpoint("tp-6", "page_view", email="eve@delta.com", channel="social", at=day(3)),
        touchpoint("tp-7", "demo_requested", email=fay, profile=ICP, channel="referral",
                   at=day(4)),
        action("ac-12", "disqualify", email=fay, reason="no_budget", at=day(6)),
        touchpoint("tp-8", "demo_requested", email=gus, profile=ICP, template="saas",
                   at=day(5)),
        action("ac-13", "accept", email=gus, at=day(6)),
        action("ac-14", "lose", email=gus, reason="no_budget", amount=5_000, currency="EUR",
               at=day(8)),
    ]


def _reports(url: str, templates: TemplateRegistry, scoring: ScoringConfig,
             items: list[Touchpoint | SalesAction]) -> dict[str, Report]:
    app = LeadLifecycle(Settings(database_url=url, default_template="generic_b2b"),
                        templates=templates, scoring=scoring)
    runner = build_runner(app)
    store = ProjectionStore(url)
    try:
        results = app.record_batch(items)
        assert [r.outcome for r in results] == ["accepted"] * len(items), results
        runner.run()
        return {name: build_report(name, store, app.templates, app.scoring, at=AT,
                                   target=TARGET) for name in REPORTS}
    finally:
        store.close()
        runner.store.close()
        app.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, templates: TemplateRegistry,
            scoring: ScoringConfig) -> dict[str, Report]:
    db = tmp_path_factory.mktemp("story") / "lifecycle.db"
    return _reports(f"sqlite:///{db}", templates, scoring, _story())


@pytest.fixture(scope="module")
def empty_reports(tmp_path_factory: pytest.TempPathFactory, templates: TemplateRegistry,
                  scoring: ScoringConfig) -> dict[str, Report]:
    db = tmp_path_factory.mktemp("empty") / "lifecycle.db"
    return _reports(f"sqlite:///{db}", templates, scoring, [])


@pytest.fixture(scope="module")
def page(reports: dict[str, Report], tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_html(reports, path, generated_at=AT.isoformat())
    return path.read_text(encoding="utf-8")


def terminal(name: str, data: Report) -> str:
    console = Console(record=True, width=120)
    render_terminal(name, data, console)
    return console.export_text()


def row(text: str, first: str) -> list[str]:
    """The cells of the table line whose first cell is ``first`` (columns are 2+ spaces
    apart; a cell never holds two spaces in a row)."""
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0] == first:
            return cells
    raise AssertionError(f"no table row starts with {first!r} in:\n{text}")


def section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', page, re.S)
    assert match is not None, f"no section {name!r}"
    return match.group(1)


# -- terminal ----------------------------------------------------------------------------


@pytest.mark.integration
def test_funnel_prints_every_stage_of_every_template(reports: dict[str, Report]) -> None:
    data = reports["funnel"]
    text = terminal("funnel", data)

    assert "Generic B2B (generic_b2b): 6 leads, 1 won" in text
    assert "SaaS (saas): 1 lead, 0 won" in text
    b2b = next(t for t in data["templates"] if t["template"] == "generic_b2b")
    for s in b2b["stages"]:
        if s["stage"] == "won":
            continue
        assert row(text, s["stage"])[1:] == [
            count(s["entered"]), count(s["moved_forward"]), count(s["lost"]),
            count(s["disqualified"]), count(s["recycled"]), count(s["current"]),
            pct(s["conversion_to_next"]), pct(s["benchmark_conversion"], 0),
            days(s["dwell_days"]["median"]), days(s["dwell_days"]["p90"]),
        ], s["stage"]
    # discovery by hand: ada moved on, bob was lost there, cy is still in it
    assert row(text, "discovery")[1:7] == ["3", "1", "1", "0", "0", "1"]
    assert row(text, "all leads")[1:] == [
        "6", "4", "3", "1", "66.7%", "75.0%", "33.3%", "25.0%", "50.0%", "15.0", "15.0"]
    assert row(text, "2024-03")[1:5] == ["6", "4", "3", "1"]


@pytest.mark.integration
def test_diagnosis_prints_the_bottleneck_with_its_numbers_and_each_finding(
    reports: dict[str, Report],
) -> None:
    assert "no stage has enough leads to judge yet" in terminal("diagnosis", reports["diagnosis"])

    data = diagnosis_report(reports["funnel"], min_sample=1)
    text = terminal("diagnosis", data)

    b2b = next(t for t in data["templates"] if t["template"] == "generic_b2b")
    b = b2b["bottleneck"]
    assert (b["stage"], b["next_stage"]) == ("discovery", "proposal")
    assert row(text, "discovery → proposal")[1:] == [
        pct(b["conversion"]), pct(b["benchmark"], 0),
        f"{(b['conversion'] - b['benchmark']) * 100:+.1f} pts".replace("-", "\N{MINUS SIGN}"),
        "3"]
    assert b2b["findings"]
    flowing = " ".join(text.split())  # long findings wrap
    for finding in (f for t in data["templates"] for f in t["findings"]):
        assert " ".join(f"• {finding}".split()) in flowing


@pytest.mark.integration
def test_channels_prints_rates_per_channel_and_calls_out_the_largest(
    reports: dict[str, Report],
) -> None:
    data = reports["channels"]
    text = terminal("channels", data)

    assert "7 leads by first channel" in text
    assert data["groups"][0]["group"] == "seo"
    for c in data["groups"]:
        assert row(text, c["group"])[1:] == [
            count(c["leads"]), pct(c["share"]), count(c["mql"]), count(c["sql"]),
            count(c["won"]), pct(c["lead_to_mql"]), pct(c["mql_to_sql"]),
            pct(c["sql_to_won"]), pct(c["mql_to_won"]), pct(c["win_rate_of_closed"]),
            days(c["time_to_win_days"]["median"]),
        ]
    assert row(text, "seo")[1:3] == ["4", "57.1%"]
    assert "Largest channel: seo brings 57.1% of all leads" in text


@pytest.mark.integration
def test_losses_prints_reasons_with_amounts_competitors_and_stages(
    reports: dict[str, Report],
) -> None:
    text = terminal("losses", reports["losses"])

    assert "4 leads lost or disqualified" in text
    assert row(text, "no budget")[1:] == ["2", "1", "1", "50.0%", "5,000 EUR"]
    assert row(text, "competitor won")[1:] == ["1", "1", "0", "25.0%", "8,000 EUR"]
    assert row(text, "invalid lead")[1:] == ["1", "0", "1", "25.0%", "—"]
    assert row(text, "Initech")[1:] == ["1", "100.0%", "8,000 EUR"]
    assert row(text, "captured")[1:] == ["invalid lead (1)"]
    assert row(text, "discovery")[1:] == ["competitor won (1)"]
    assert row(text, "sql")[1:] == ["no budget (1)"]


@pytest.mark.integration
def test_forecast_prints_stages_totals_and_the_gap_to_target(
    reports: dict[str, Report],
) -> None:
    data = reports["forecast"]
    text = terminal("forecast", data)

    discovery = next(s for s in data["stages"]
                     if (s["template"], s["stage"]) == ("generic_b2b", "discovery"))
    assert row(text, "discovery")[1:] == [
        "EUR", "1", "20,000", "0", pct(discovery["probability_default"], 0),
        pct(discovery["probability_measured"], 0), money(discovery["expected_default"]),
        money(discovery["expected_measured"])]
    (eur,) = data["totals"]
    assert row(text, "EUR")[1:] == [
        "1", "20,000", money(eur["expected_default"]), money(eur["expected_measured"])]
    target = data["target"]
    assert (target["amount"], target["currency"]) == (TARGET, "EUR")
    assert "expected revenue against target (EUR)" in text
    assert row(text, "default probabilities")[1:] == [
        money(eur["expected_default"]), "50,000", f"{money(target['gap_default'])} short"]
    assert row(text, "measured probabilities")[1:] == [
        money(eur["expected_measured"]), "50,000", f"{money(target['gap_measured'])} short"]


@pytest.mark.integration
def test_cooling_prints_each_cooling_lead_with_its_reasons(reports: dict[str, Report]) -> None:
    data = reports["cooling"]
    text = terminal("cooling", data)

    assert data["count"] >= 1
    assert f"cooling at {when(AT)} UTC" in text
    for lead in data["leads"]:
        cells = row(text, lead["lead_id"])
        assert "score_below_threshold" in lead["reasons"]
        quiet = " !" if "no_touch" in lead["reasons"] else ""
        assert cells[-1] == days(lead["idle_days"]) + quiet
        assert cells[2:5] == [lead["owner"], lead["stage"], "hot → warm"]


@pytest.mark.integration
def test_alerts_prints_counts_by_rule_then_the_alerts(reports: dict[str, Report]) -> None:
    data = reports["alerts"]
    text = terminal("alerts", data)

    assert data["by_rule"] == {"quote_no_reply": 1}
    assert "1 open alert at" in text
    assert row(text, "quote no reply")[1:] == ["1", "no reply after a quote"]
    alert = data["alerts"][0]
    cells = row(text, alert["lead_id"])
    # Who (not named: the report was built without people), owner, stage, grade, open
    # for, and the detail (wrapped over lines of its own column).
    assert cells[1:6] == ["—", "sales:bob", "discovery", alert["grade"], "27.0 d"]
    assert cells[6].startswith("no reply since")
    assert alert["detail"] == "no reply since the quote of 2024-03-10T09:00:00+00:00"


@pytest.mark.integration
def test_every_report_fits_in_120_columns(reports: dict[str, Report]) -> None:
    for name in REPORTS:
        widest = max(len(line) for line in terminal(name, reports[name]).splitlines())
        assert widest <= 120, name


@pytest.mark.integration
def test_an_empty_history_prints_no_data_for_every_report(
    empty_reports: dict[str, Report],
) -> None:
    for name in REPORTS:
        assert "no data" in terminal(name, empty_reports[name]), name


def test_a_long_list_is_cut_and_says_how_many_were_left_out() -> None:
    leads = [{"lead_id": f"lead-{i:02}", "grade": "hot", "grade_now": "warm", "total_now": 40.0,
              "threshold": 65.0, "idle_days": 30.0, "reasons": ["no_touch"], "stage": "mql",
              "template": "saas"} for i in range(LIMIT + 5)]
    text = terminal("cooling", {"at": AT.isoformat(), "count": len(leads), "leads": leads})

    assert "lead-19" in text
    assert "lead-20" not in text
    assert f"showing {LIMIT} of {LIMIT + 5} cooling leads; 5 more not shown" in text


def test_text_from_the_data_is_never_read_as_markup(tmp_path: Path) -> None:
    evil = "[red]Evil[/red] <b>&amp;</b>"
    data = {"as_of": None, "total": 1,
            "by_reason": [{"reason": "competitor_won", "count": 1,
                           "amounts": [{"currency": "EUR", "amount": 10.0}]}],
            "by_competitor": [{"competitor": evil, "count": 1,
                               "amounts": [{"currency": "EUR", "amount": 10.0}]}],
            "top_reasons_by_stage": {"sql": [{"reason": "competitor_won", "count": 1}]},
            "cells": [{"kind": "lost", "reason": "competitor_won", "stage": "sql",
                       "competitor": evil, "count": 1, "amount": 10.0}]}

    assert evil in terminal("losses", data)

    path = tmp_path / "report.html"
    write_html({"losses": data}, path, title="<Q3> & more")
    page = path.read_text(encoding="utf-8")
    assert html.escape(evil) in page
    assert "<b>" not in page
    assert "<title>&lt;Q3&gt; &amp; more</title>" in page


def test_an_unknown_report_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown report 'pipeline'"):
        render_terminal("pipeline", {}, Console(record=True))
    with pytest.raises(ValueError, match="unknown report 'pipeline'"):
        write_html({"pipeline": {}}, tmp_path / "report.html")


def test_without_matplotlib_the_html_page_names_the_extra_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an import then finds: none
    with pytest.raises(ConfigError, match=re.escape("install lead-lifecycle[html] for charts")):
        write_html({"funnel": {"templates": []}}, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_numbers_are_formatted_for_reading() -> None:
    assert (pct(0.3408), pct(0.4, 0), pct(None)) == ("34.1%", "40%", "—")
    assert (days(3.26), days(None)) == ("3.3", "—")
    assert (money(1_234_567.8), money(0), money(None)) == ("1,234,568", "0", "—")
    assert (money(1e308), money(float("inf"))) == ("1.000e+308", "—")
    assert count(12_345) == "12,345"
    assert when("2024-03-10T09:00:00.123+01:00") == "2024-03-10 08:00"


# -- HTML ----------------------------------------------------------------------------------


@pytest.mark.integration
def test_html_has_a_section_with_a_heading_per_report(page: str) -> None:
    assert page.startswith("<!doctype html>")
    for name in REPORTS:
        assert re.search(rf'<section id="{name}">\s*<h2>[^<]+</h2>', page), name
    assert "generated 2024-04-13 09:00 UTC" in page


@pytest.mark.integration
def test_html_draws_every_chart_as_inline_svg_in_its_section(page: str) -> None:
    assert page.count("<svg") == len(CHARTS)
    where = {"funnel of": "funnel", "time in stage": "funnel", "conversion by": "channels",
             "losses by": "losses", "forecast by": "forecast"}
    for chart in CHARTS:
        name = next(v for k, v in where.items() if chart.startswith(k))
        assert f'<svg class="chart" role="img" aria-label="{chart}"' in section(page, name)


@pytest.mark.integration
def test_html_reaches_for_nothing_outside_the_file(page: str) -> None:
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {SVG_NS}
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "@font-face", "<!DOCTYPE svg"):
        assert needle not in page
    assert re.findall(r"url\((?!#)", page) == []
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids repeat across the inline charts"
    for ref in re.findall(r'(?:href="#|url\(#)([^")]+)', page):
        assert ref in ids, ref


@pytest.mark.integration
def test_html_tables_mirror_the_terminal_tables(
    reports: dict[str, Report], page: str,
) -> None:
    for name in REPORTS:
        body = section(page, name)
        for block in report_blocks(name, reports[name]):
            if isinstance(block, Table):
                assert f"<caption>{html.escape(block.title)}</caption>" in body
                for cells in block.rows:
                    assert re.search(r"\s*".join(
                        rf"<td[^>]*>{re.escape(html.escape(c.text))}</td>" for c in cells), body)


@pytest.mark.integration
def test_html_of_an_empty_history_says_no_data(
    empty_reports: dict[str, Report], tmp_path: Path,
) -> None:
    path = tmp_path / "empty.html"
    write_html(empty_reports, path)
    page = path.read_text(encoding="utf-8")

    assert "<svg" not in page
    for name in REPORTS:
        assert "no data" in section(page, name), name


@pytest.mark.integration
def test_html_is_one_file(reports: dict[str, Report], tmp_path: Path) -> None:
    write_html({"funnel": reports["funnel"]}, tmp_path / "report.html")

    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# Format characters that reorder or hide text: bidi embeddings, overrides and isolates
# (the "Trojan Source" characters), marks, zero-width characters and line separators.
INVISIBLE = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
             "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060",
             "\ufeff", "\u2028", "\u2029", "\u00ad", "\u180e"]


@settings(max_examples=hypothesis_budget(200), deadline=None)
@given(text=st.lists(st.sampled_from(INVISIBLE) | st.characters(), max_size=30).map("".join))
def test_no_character_that_reorders_or_hides_text_is_shown_raw(text: str) -> None:
    # `literal`/`visible` showed a U+202E in a lead's name raw: the terminal (and the
    # HTML page) then drew the rest of the line right to left: evil\u202egnp.exe read
    # as "evilexe.png".
    shown = visible(text)
    assert not set(shown) & set(INVISIBLE)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown)
    for char in set(text) & set(INVISIBLE):
        assert f"<U+{ord(char):04X}>" in shown
