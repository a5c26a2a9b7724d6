"""Lists a person acts on (cooling leads, alerts), laid out: every row in the HTML page,
the first ones in the terminal with a pointer to the rest; who each lead is."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from lifecycle.reports.html import write_html
from lifecycle.reports.layout import LIMIT
from lifecycle.reports.render import render_terminal

AT = "2025-03-03T09:00:00+00:00"
N = 40


def cooling_row(i: int) -> dict[str, Any]:
    return {"lead_id": f"lead-{i:03}", "name": f"Person {i}", "company": f"Firm, {i} & Co",
            "owner": "sales:ann" if i % 2 else None, "in_stage_days": 3.0, "grade": "hot",
            "grade_now": "warm", "total_now": 50.0 - i / 10, "threshold": 65.0,
            "behaviour_now": 1.0, "last_touch": AT, "idle_days": 30.0, "stage": "mql",
            "template": "saas", "reasons": ["score_below_threshold", "no_touch"]}


def alert_row(i: int) -> dict[str, Any]:
    return {"lead_id": f"alert-{i:03}", "name": "(erased)" if i == 0 else f"Person {i}",
            "company": "(erased)" if i == 0 else "Acme", "owner": "sales:bob",
            "in_stage_days": 50.0, "rule": "stuck_in_stage", "grade": "cold",
            "opened_at": AT, "open_hours": 100.0 + i, "detail": "in mql for 50.0 d (p90 4.0 d)",
            "stage": "mql", "template": "saas", "channel": "web"}


def reports() -> dict[str, dict[str, Any]]:
    leads = [cooling_row(i) for i in range(N)]
    alerts = [alert_row(i) for i in range(N)]
    return {
        "cooling": {"at": AT, "count": N, "leads": leads, "idle": [],
                    "order": "Hot first, then lowest score first"},
        "alerts": {"at": AT, "count": N, "by_rule": {"stuck_in_stage": N},
                   "stuck_min_samples": 5, "alerts": alerts},
    }


def test_the_html_page_holds_every_row_of_a_long_list(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html(reports(), page, generated_at=AT)
    text = page.read_text()

    for i in range(N):
        assert text.count(f">lead-{i:03}<") == 1, i
        assert text.count(f">alert-{i:03}<") == 1, i
    assert "more not shown" not in text
    # The first rows in view, the others one click away, under the same columns.
    assert text.count(f"<summary>show the other {N - LIMIT} of {N} rows</summary>") == 2
    shown, folded = text.split("<details>", 1)
    assert ">lead-000<" in shown
    assert f">lead-{LIMIT - 1:03}<" in shown
    assert f">lead-{LIMIT:03}<" in folded
    assert "Person 7 · Firm, 7 &amp; Co" in text
    assert "<script" not in text


def test_the_terminal_shows_the_first_rows_and_says_where_the_rest_are() -> None:
    out = io.StringIO()
    render_terminal("cooling", reports()["cooling"], Console(file=out, width=120))
    text = out.getvalue()

    assert f"lead-{LIMIT - 1:03}" in text
    assert f"lead-{LIMIT:03}" not in text
    flat = " ".join(text.split())
    assert ("showing 20 of 40 cooling leads; 20 more not shown; every row: --json, --html "
            "FILE or `lifecycle leads export`") in flat


def test_an_erased_lead_is_listed_as_erased_with_its_owner_stage_and_grade() -> None:
    out = io.StringIO()
    render_terminal("alerts", reports()["alerts"], Console(file=out, width=120))
    line = next(line for line in out.getvalue().splitlines() if "alert-000" in line)

    assert re.split(r"\s{2,}", line.strip())[1:6] == [
        "(erased)", "sales:bob", "mql", "cold", "4.2 d"]
    assert "stuck in stage: only MQL, SQL and opportunity stages" in out.getvalue()
