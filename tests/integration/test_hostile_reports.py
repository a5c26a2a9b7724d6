"""Every report is valid output whatever the projection tables hold.

Hypothesis writes rows straight into the projection tables — values the contract would
refuse: amounts of 1e308, infinite or not a number, negative; currencies like ``<b>`` or
none; text with markup, HTML, escape sequences and (on SQLite) NUL; business times from
year 1 to 9999 and beyond any calendar (1e300, infinite); unknown stages, grades and
reasons; ISO times that are not times — and then asks for every report the way the CLI
does. Each must be strict JSON (a parser that refuses ``Infinity`` and ``NaN`` reads
it), print in the terminal, and go into one HTML page. Both databases; a fresh one per
example.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from lifecycle.cli.reporting import collect_reports
from lifecycle.projections import ProjectionStore, all_projections
from lifecycle.reports import REPORTS
from lifecycle.reports.html import write_html
from lifecycle.reports.output import strict_json
from lifecycle.reports.render import render_terminal
from lifecycle.settings import Settings
from tests.harness.postgres import fresh_database

pytestmark = pytest.mark.integration

TEMPLATES = ("generic_b2b", "saas", "industrial")
STAGES = ("captured", "nurturing", "mql", "sql", "discovery", "proposal", "negotiation",
          "closing", "demo", "trial", "won", "lost", "disqualified")
KINDS = ("capture", "advance", "mql", "sql_accepted", "sql_auto", "won", "lost",
         "disqualified", "recycled", "reopened")
FIRST, LAST = datetime(1, 1, 2, tzinfo=UTC).timestamp(), datetime(9999, 12, 30,
                                                                   tzinfo=UTC).timestamp()
RATES = '[rates]\ncurrency = "EUR"\ndate = 2025-06-01\n[rates.values]\nUSD = 0.9\nJPY = 1e-300\n'


def texts(nul: bool) -> st.SearchStrategy[str]:
    pieces = ["[/]", "[red]", "[bold]x[/bold]", "<script>alert(1)</script>", "&amp;", "\x1b[2J",
              "\u202e", "💸", "€€€", "'", '"', "\\", "%s", "?", "\n", " "]
    if nul:  # PostgreSQL text cannot hold NUL at all (the contract's business to refuse)
        pieces.append("\x00")
    alphabet = st.characters(codec="utf-8",  # no lone surrogates: no database stores them
                             exclude_characters="" if nul else "\x00")
    return st.lists(st.sampled_from(pieces) | st.text(alphabet, max_size=8), max_size=4).map(
        "".join)


AMOUNTS = st.one_of(
    st.none(), st.sampled_from([0.0, 1e308, 1.7976931348623157e308, -1e308, math.inf,
                                -math.inf, math.nan, 5e-324, 10_000.0]),
    st.floats(allow_nan=True, allow_infinity=True))
TIMES = st.one_of(st.floats(FIRST, LAST), st.sampled_from([FIRST, LAST, 0.0]))
STORED_TIMES = st.one_of(TIMES, st.sampled_from([1e20, -1e20, 1e300, math.inf, -math.inf]))
CURRENCIES = st.one_of(st.none(), st.sampled_from(["EUR", "USD", "JPY", "<b>", "€€€", "123",
                                                   "", "eur"]))


@st.composite
def projections(draw: st.DrawFn, *, nul: bool) -> dict[str, list[tuple[Any, ...]]]:
    text = texts(nul)
    rows: dict[str, list[tuple[Any, ...]]] = {
        "lc_leads": [], "lc_transitions": [], "lc_losses": [], "lc_grades": [],
        "lc_touches": [], "lc_scoring": [], "lc_sales_touches": [], "lc_nurture": []}
    for n in range(draw(st.integers(0, 5))):
        lead = draw(st.sampled_from([f"lead-{n}", f"[/]{n}", f"<i>{n}</i>"]))
        captured = draw(STORED_TIMES)
        rows["lc_leads"].append((
            lead, draw(st.sampled_from(TEMPLATES)), draw(text), draw(text), captured,
            draw(text), draw(st.none() | text), draw(st.none() | text),
            draw(st.none() | st.integers(-(2**63), 2**63 - 1))))
        version = 0
        for _ in range(draw(st.integers(0, 6))):
            version += 1
            stage = draw(st.sampled_from(STAGES) | text)
            rows["lc_transitions"].append((
                lead, version, draw(STORED_TIMES), draw(STORED_TIMES), draw(st.none() | text),
                stage,
                draw(st.sampled_from(KINDS)), draw(st.none() | text), draw(st.none() | text),
                draw(AMOUNTS), draw(CURRENCIES), draw(text)))
            if draw(st.booleans()):
                rows["lc_losses"].append((
                    lead, version, draw(STORED_TIMES), draw(text), draw(st.sampled_from(
                        ["lost", "disqualified"])), draw(st.sampled_from(STAGES) | text),
                    draw(text), draw(st.none() | text), draw(AMOUNTS), draw(CURRENCIES), 1))
        for _ in range(draw(st.integers(0, 3))):
            version += 1
            t = draw(STORED_TIMES)
            rows["lc_grades"].append((
                lead, version, t, draw(st.sampled_from(["hot", "warm", "cold"]) | text),
                None, draw(AMOUNTS), draw(AMOUNTS), draw(AMOUNTS), draw(AMOUNTS), draw(text)))
            rows["lc_scoring"].append((
                lead, version, t, draw(st.sampled_from(["captured", "touch", "bant", "erased"])),
                draw(AMOUNTS), draw(AMOUNTS),
                draw(st.none() | st.sampled_from(["2024-03-04T09:00:00+00:00", "not a time",
                                                  "9999-12-31T23:59:59-12:00", ""])),
                *draw(st.tuples(*[st.none() | st.integers(0, 1)] * 4))))
        for _ in range(draw(st.integers(0, 3))):
            version += 1
            t = draw(STORED_TIMES)
            rows["lc_touches"].append((
                lead, version, t, draw(st.sampled_from(["quote_sent", "meeting_held",
                                                        "page_view"]) | text),
                draw(text), draw(text), draw(st.floats(-100, 100)), t,
                draw(st.floats(-1e6, 1e6))))
            rows["lc_sales_touches"].append((lead, version + 1000, draw(STORED_TIMES), draw(text),
                                             draw(text)))
            rows["lc_nurture"].append((lead, version + 2000, draw(STORED_TIMES), draw(text),
                                       draw(st.integers(0, 10)), draw(text)))
    return rows


@contextmanager
def fresh_url(backend: str, postgres_url: str | None) -> Iterator[str]:
    if backend == "postgres":
        assert postgres_url is not None
        with fresh_database(postgres_url) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite:///{Path(directory) / 'lifecycle.db'}"


def strict(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_every_report_is_valid_output_whatever_the_projections_hold(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    pg = request.getfixturevalue("postgres_url") if backend == "postgres" else None
    rates = tmp_path / "rates.toml"
    rates.write_text(RATES, encoding="utf-8")

    @settings(max_examples=25 if backend == "sqlite" else 10, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(projections(nul=backend == "sqlite"), TIMES, st.none() | TIMES,
           st.none() | st.floats(0, 1e308), st.booleans())
    def check(tables: dict[str, list[tuple[Any, ...]]], at: float, as_of: float | None,
              target: float | None, with_rates: bool) -> None:
        with fresh_url(backend, pg) as url:
            store = ProjectionStore(url)
            try:
                specs = {t.name: t for p in all_projections(14.0) for t in p.tables}
                store.ensure(all_projections(14.0))
                store.write(tables, specs, {})
            finally:
                store.close()
            reports = collect_reports(
                REPORTS, at=datetime.fromtimestamp(at, UTC), target=target,
                as_of=None if as_of is None else datetime.fromtimestamp(as_of, UTC),
                settings=Settings(database_url=url, rates_file=rates if with_rates else None))
            for name, data in reports.items():
                parsed = strict(strict_json(data))
                assert isinstance(parsed, dict), name
                console = Console(record=True, width=120)
                render_terminal(name, data, console)
                assert console.export_text().strip(), name
            page = tmp_path / "report.html"
            write_html(reports, page)
            text = page.read_text(encoding="utf-8")
            assert text.rstrip().endswith("</html>")
            assert "<script>" not in text
            assert "\x00" not in text
            assert "\x1b" not in text

    check()
