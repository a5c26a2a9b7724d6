"""``lifecycle report``, ``projections`` and ``demo`` through the real entry point.

A generated history is ingested by ``python -m lifecycle ingest`` into a SQLite file;
every report is then asked for as JSON and checked against its documented shape, and
the projections are inspected and rebuilt the way an operator would.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demo import GeneratedStats, generate_with_stats
from lifecycle.application import build_application
from lifecycle.projections import build_runner
from lifecycle.reports import REPORTS, build_report
from lifecycle.settings import Settings
from tests.cli.report_shapes import (
    AMOUNTS,
    ISO,
    RATES,
    SHAPES,
    STAGE,
    TEMPLATES,
    Many,
    Opt,
    check,
)
from tests.cli.test_cli import Run, run
from tests.support import counts

pytestmark = pytest.mark.integration

END = datetime(2025, 6, 2, 9, tzinfo=UTC)
AT = END.isoformat()
TARGET = 250_000.0

def test_the_shape_checker_rejects_what_does_not_fit() -> None:
    check({"a": 1, "b": None}, {"a": int, "b": Opt(str)})
    for value, spec in [({"a": "1"}, {"a": int}), ({"a": True}, {"a": int}),
                        ({}, {"a": int}), ({"a": 1, "z": 2}, {"a": int}),
                        ({"a": []}, {"a": Many(int)}), ({"a": "x"}, {"a": frozenset({"y"})})]:
        with pytest.raises(AssertionError):
            check(value, spec)


# -- one ingested history, asked every question ---------------------------------------------


@dataclass(frozen=True)
class Session:
    directory: Path
    stats: GeneratedStats
    ingest: Run
    runs: dict[str, Run]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    directory = tmp_path_factory.mktemp("reporting")
    inputs, stats = generate_with_stats(leads=80, days=45, seed=21, end=END)
    source = directory / "history.jsonl"
    source.write_text("".join(json.dumps(i) + "\n" for i in inputs), encoding="utf-8")
    ingest = run(["ingest", str(source), "--json"], cwd=directory)
    commands = {name: ["report", name, "--json", "--at", AT] for name in REPORTS}
    commands["forecast"] += ["--target", str(TARGET)]
    commands["status"] = ["projections", "status", "--json"]
    commands["html"] = ["report", "--html", str(directory / "report.html"), "--at", AT]
    commands["as_of"] = ["report", "funnel", "--json", "--as-of", "2025-05-01"]
    commands["funnel_by"] = ["report", "funnel", "--json", "--by", "owner"]
    commands["channels_by"] = ["report", "channels", "--json", "--by", "channel_group"]
    commands["losses_by"] = ["report", "losses", "--json", "--by", "template"]
    commands["html_by"] = ["report", "--html", str(directory / "by.html"), "--at", AT,
                           "--by", "channel_group"]
    commands["bad_by"] = ["report", "funnel", "--by", "colour"]
    commands["by_elsewhere"] = ["report", "forecast", "--by", "owner"]
    groups = directory / "groups.toml"
    groups.write_text('[groups]\nsearch = ["SEO", "paid search"]\n'
                      'people = ["referral", "partner", "event"]\n', encoding="utf-8")
    env = {"LIFECYCLE_CHANNEL_GROUPS_FILE": str(groups)}
    with ThreadPoolExecutor(4) as pool:  # they only read
        futures = {name: pool.submit(run, args, cwd=directory, env=env)
                   for name, args in commands.items()}
    return Session(directory, stats, ingest,
                   {name: future.result() for name, future in futures.items()})


def output(session: Session, name: str) -> Any:
    result = session.runs[name]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_ingest_accounts_for_the_generated_history(session: Session) -> None:
    # the history holds deliberately illegal actions: exit 1, and the summary balances
    assert session.ingest.returncode == 1, session.ingest.stderr
    summary = counts(json.loads(session.ingest.stdout))
    stats = session.stats
    assert summary == {"received": stats.inputs, "duplicate": stats.expected_duplicates,
                       "rejected": stats.expected_rejections,
                       "accepted": stats.inputs - stats.expected_duplicates
                       - stats.expected_rejections}
    assert stats.expected_rejections > 0


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_prints_json_of_its_documented_shape(session: Session, name: str) -> None:
    data = output(session, name)
    check(data, SHAPES[name])
    if name in ("cooling", "alerts"):
        assert data["at"] == AT
        assert data["count"] == len(data[{"cooling": "leads", "alerts": "alerts"}[name]])
    else:
        assert data["as_of"] is None


def test_the_reports_agree_with_each_other(session: Session) -> None:
    funnel, channels = output(session, "funnel"), output(session, "channels")
    losses, forecast = output(session, "losses"), output(session, "forecast")
    alerts = output(session, "alerts")
    assert sum(t["leads"] for t in funnel["templates"]) == channels["leads"] == session.stats.leads
    assert sum(c["leads"] for c in channels["groups"]) == session.stats.leads
    assert losses["total"] == sum(c["count"] for c in losses["cells"]) == sum(
        r["count"] for r in losses["by_reason"])
    target = forecast["target"]
    assert target["amount"] == TARGET
    if len(forecast["totals"]) == 1:  # one currency: the target is in it
        (only,) = forecast["totals"]
        assert target["currency"] == only["currency"]
        assert target["gap_measured"] == pytest.approx(
            TARGET - only["expected_measured"], abs=0.02)
    else:  # several and no rates: no gap across currencies, and the report says why
        assert target["gap_measured"] is target["gap_default"] is None
        assert "LIFECYCLE_RATES_FILE" in target["note"]
    for total in forecast["totals"]:
        assert total["pipeline"] == pytest.approx(sum(
            s["amount"] for s in forecast["stages"] if s["currency"] == total["currency"]),
            abs=0.05)
    assert sum(alerts["by_rule"].values()) == alerts["count"]
    as_of = output(session, "as_of")
    assert as_of["as_of"] == datetime(2025, 5, 1, 23, 59, 59, 999999, UTC).isoformat()
    assert 0 < sum(t["leads"] for t in as_of["templates"]) < session.stats.leads


BY = {"by": str, "groups_shown": int, "groups_pooled": int, "top": int}
BY_SHAPES: dict[str, Any] = {
    "funnel_by": {"as_of": Opt(ISO), **BY, "groups": Many({
        "group": str, "leads": int, "templates": Many({
            "template": TEMPLATES, "title": str, "stages": Many(STAGE, min=8), **RATES})})},
    "channels_by": {**SHAPES["channels"], "by": frozenset({"channel_group"})},
    "losses_by": {**SHAPES["losses"], **BY, "groups": Many({
        "group": str, "leads": int, "count": int, "amounts": AMOUNTS,
        "top_reasons": Many({"reason": str, "count": int}, min=0)}, min=3)},
}


@pytest.mark.parametrize("name", sorted(BY_SHAPES))
def test_reports_by_a_dimension_print_one_block_per_group(session: Session, name: str) -> None:
    data = output(session, name)
    check(data, BY_SHAPES[name])
    total = sum(g["leads"] for g in data["groups"])
    assert total == session.stats.leads  # every lead in one group, (none) and (other) too
    if name == "funnel_by":
        assert data["by"] == "owner"
        assert "(none)" in {g["group"] for g in data["groups"]}  # never accepted
        assert len(data["groups"]) >= 2
    if name == "channels_by":
        shown = {g["group"] for g in data["groups"]}
        assert {"search", "people"} <= shown
        assert not shown & {"seo", "paid_search", "referral", "partner", "event"}
    if name == "losses_by":
        assert {g["group"] for g in data["groups"]} == TEMPLATES
        assert sum(g["count"] for g in data["groups"]) == data["total"]


def test_a_bad_dimension_is_a_usage_error(session: Session) -> None:
    for name, says in (("bad_by", "'colour' is not a dimension"),
                       ("by_elsewhere", "--by groups the funnel, channels, losses reports")):
        result = session.runs[name]
        assert result.returncode == 2, result.stdout
        assert says in result.stderr
        assert "Traceback" not in result.stderr


def test_the_html_report_by_a_dimension_groups_its_sections(session: Session) -> None:
    result = session.runs["html_by"]
    assert result.returncode == 0, result.stderr
    page = (session.directory / "by.html").read_text(encoding="utf-8")
    assert page.count("<section ") == len(REPORTS) + 1  # and the scoring section
    assert "grouped by channel_group" in page
    assert "channel_group = search" in page  # the funnel of one group
    assert '<section id="quality">' in page


def test_projections_status_shows_no_lag_after_an_ingest(session: Session) -> None:
    status = output(session, "status")
    check(status, Many({"name": str, "position": int, "head": int, "lag": int, "version": int,
                        "stored_version": Opt(int), "stale": bool, "description": str,
                        "faults": int, "latest_faults": list}, min=3))
    assert {s["name"] for s in status} == {"funnel", "activity", "losses", "dimensions"}
    assert [(s["faults"], s["latest_faults"]) for s in status] == [(0, [])] * 4
    head = status[0]["head"]
    assert head > session.stats.inputs  # more events than inputs
    for s in status:
        assert (s["lag"], s["position"], s["head"], s["stale"]) == (0, head, head, False)
        assert s["stored_version"] == s["version"]


def test_the_html_report_has_a_section_per_report(session: Session) -> None:
    result = session.runs["html"]
    assert result.returncode == 0, result.stderr
    path = session.directory / "report.html"
    assert f"wrote {path}" in " ".join(result.stdout.split())
    page = path.read_text(encoding="utf-8")
    for name in [*REPORTS, "scoring"]:
        assert re.search(rf'<section id="{name}">\s*<h2>[^<]+</h2>', page), name
        assert f'href="#{name}"' in page
    assert page.count("<section ") == len(REPORTS) + 1
    # no model trained: the scoring section says how to train one
    assert "no learned model yet: `lifecycle model train`" in page


def test_a_rebuild_reports_its_speed_and_changes_no_report(session: Session) -> None:
    status = output(session, "status")
    rebuilt = run(["projections", "rebuild"], cwd=session.directory)
    assert rebuilt.returncode == 0, rebuilt.stderr
    match = re.search(r"rebuilt all projections: (\d+) events in ([\d.]+) s "
                      r"\(([\d,]+) events/s\)", rebuilt.stdout)
    assert match is not None, rebuilt.stdout
    assert int(match[1]) == status[0]["head"]
    assert int(match[3].replace(",", "")) > 0
    one = run(["projections", "rebuild", "losses"], cwd=session.directory)
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("rebuilt losses: ")
    with ThreadPoolExecutor(3) as pool:
        again, losses, unknown = pool.map(lambda args: run(args, cwd=session.directory), [
            ["report", "funnel", "--json", "--at", AT], ["report", "losses", "--json"],
            ["projections", "rebuild", "nonsense"]])
    assert json.loads(again.stdout) == output(session, "funnel")
    assert json.loads(losses.stdout) == output(session, "losses")
    assert unknown.returncode == 2
    assert "unknown projection(s) ['nonsense']" in unknown.stderr
    assert "Traceback" not in unknown.stderr


# -- the demo -------------------------------------------------------------------------------


def test_demo_runs_end_to_end_and_writes_every_section(tmp_path: Path) -> None:
    database, page = tmp_path / "out" / "demo.db", tmp_path / "out" / "report.html"
    database.parent.mkdir()  # a previous demo's rejects: gone with its database
    (tmp_path / "out" / "demo.rejects.jsonl").write_text('{"line": 1}\n', encoding="utf-8")
    result = run(["demo", "--leads", "200", "--days", "60", "--database", str(database),
                  "--html", str(page)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stdout.split())
    summary = re.search(r"demo: 200 leads over 60 days \(seed 7\): (\d+) inputs — (\d+) "
                        r"accepted, (\d+) duplicate, (\d+) rejected", text)
    assert summary is not None, text[:500]
    received, accepted, duplicate, rejected = (int(g) for g in summary.groups())
    assert accepted + duplicate + rejected == received
    assert len((tmp_path / "out" / "demo.rejects.jsonl").read_text().splitlines()) == rejected

    # the funnel it printed is the one in its database
    app = build_application(Settings(database_url=f"sqlite:///{database}"))
    runner = build_runner(app)
    try:
        funnel = build_report("funnel", runner.store, app.templates, app.scoring, at=END)
        lags = {s.name: s.lag for s in runner.status()}
    finally:
        runner.store.close()
        app.close()
    assert "Funnel" in text
    for t in funnel["templates"]:
        leads = f"{t['leads']} lead" + ("" if t["leads"] == 1 else "s")
        assert f"{t['title']} ({t['template']}): {leads}, {t['won']} won" in text
    assert sum(t["leads"] for t in funnel["templates"]) == 200
    assert lags == {"funnel": 0, "activity": 0, "losses": 0, "dimensions": 0}

    html = page.read_text(encoding="utf-8")
    for name in [*REPORTS, "scoring"]:
        assert f'<section id="{name}">' in html, name
    assert f"HTML report: {page}" in text
    # 200 leads over 60 days close too few to learn from: it says so and goes on
    assert re.search(r"learned scoring: no model \(not enough closed leads to train a "
                     r"model: \d+ won and \d+ not won", text), text[:800]


def _times(value: Any, path: str = "$") -> Any:
    """Every (path, value) of a key that names a time: ``as_of``, ``at``, ``*_at``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("as_of", "at") or key.endswith("_at"):
                yield f"{path}.{key}", item
            yield from _times(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _times(item, f"{path}[{i}]")


@pytest.mark.parametrize("name", [*REPORTS, *sorted(BY_SHAPES)])
def test_every_time_in_a_report_is_iso_text(session: Session, name: str) -> None:
    times = list(_times(output(session, name)))
    assert times  # as_of or at, at least
    for path, value in times:
        if value is not None:
            assert isinstance(value, str), f"{path}: {value!r}"
            assert datetime.fromisoformat(value).tzinfo is not None, path
