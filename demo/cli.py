"""``lifecycle demo``: a synthetic B2B funnel through the embedded engine, and its reports.

The ``lifecycle`` command finds :func:`demo` through the ``lifecycle.commands`` entry
point of this project (``pyproject.toml``); the engine package does not import it.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from lifecycle.cli.core import open_app, run_ingest
from lifecycle.cli.reporting import collect_reports, scoring_section
from lifecycle.errors import ConfigError, NotEnoughOutcomes
from lifecycle.projections import build_runner
from lifecycle.reports import REPORTS
from lifecycle.reports.output import visible
from lifecycle.settings import Settings

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle

__all__ = ["DEMO_RATES", "demo"]

DEMO_RATES = """\
# Illustrative exchange rates for the demo (not market data).
[rates]
currency = "EUR"
date = 2025-01-01
source = "illustrative demo rates"

[rates.values]
USD = 0.92
GBP = 1.17
"""


def _path(path: Path) -> str:
    """A path inside rich markup: printed as it is ("[x]" in a folder name is no tag)."""
    return escape(visible(path))


def _learn(app: LeadLifecycle, at: datetime) -> str:
    """Trains a model on the demo's closed leads, stores and activates it; the line that
    compares it with the logistic baseline and the rules."""
    from lifecycle.scoring.learned import training

    data = training.examples(app)
    try:
        artifact = training.train(data, created_at=at)
    except NotEnoughOutcomes as e:
        why = str(e).split(", so that")[0]  # the counts and the minimum, not the reasons
        return f"[bold]learned scoring[/bold]: no model ({escape(why)})"
    model_id = app.models.save(artifact)
    app.models.activate(model_id)
    m = artifact.metrics
    return (f"[bold]learned scoring[/bold]: cv AUC [bold]{m['cv_auc']:.3f}[/bold] (model) vs "
            f"{m['baseline_auc']:.3f} (baseline: logistic regression) vs {m['rules_auc']:.3f} "
            f"(rules) on {m['n_train']:,} closed leads ({m['n_positive']:,} won); model "
            f"{model_id} is active (`lifecycle model show {model_id}`)")


@click.command()
@click.option("--leads", default=3000, show_default=True, help="how many leads to simulate")
@click.option("--days", default=180, show_default=True, help="how many days of history")
@click.option("--seed", default=7, show_default=True, help="random seed")
@click.option("--database", "db_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("demo-output/demo.db"), show_default=True,
              help="SQLite file for the demo (replaced)")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("demo-output/report.html"), show_default=True)
def demo(leads: int, days: int, seed: int, db_path: Path, html_path: Path) -> None:
    """Simulate a B2B funnel, run it through the embedded engine, and report on it."""
    from demo.generator import generate
    from lifecycle.policies import run_policies
    from lifecycle.reports.html import write_html
    from lifecycle.reports.render import render_terminal

    console = Console()
    err = Console(stderr=True)
    started = time.perf_counter()
    inputs = generate(leads=leads, days=days, seed=seed)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    jsonl = db_path.with_suffix(".jsonl")
    # A new demo database: its reject file starts anew too (ingest appends to it).
    jsonl.with_suffix(".rejects.jsonl").unlink(missing_ok=True)
    with jsonl.open("w", encoding="utf-8") as f:
        for item in inputs:
            f.write(json.dumps(item) + "\n")
    # The demo's deals are in EUR, GBP and USD: illustrative rates let its forecast
    # total them in EUR (and say so); real use names its own LIFECYCLE_RATES_FILE.
    rates_path = db_path.parent / "rates.toml"
    rates_path.write_text(DEMO_RATES, encoding="utf-8")
    settings = Settings(database_url=f"sqlite:///{db_path}", rates_file=rates_path)
    app = open_app(settings)
    runner = build_runner(app)
    try:
        with jsonl.open("rb") as stream:
            summary = run_ingest(app, stream, jsonl.with_suffix(".rejects.jsonl"),
                                 total_bytes=jsonl.stat().st_size, console=err,
                                 after_batch=runner.run)
        at = datetime.now(UTC)
        policy = run_policies(app, at=at)
        runner.run()
        learned = _learn(app, at)
    finally:
        runner.store.close()
        app.close()
    console.print(f"[bold]demo[/bold]: {leads} leads over {days} days (seed {seed}): "
                  f"{summary.received} inputs — {summary.accepted} accepted, "
                  f"{summary.duplicate} duplicate, {summary.rejected} rejected "
                  f"(deliberate bad input, see {_path(jsonl.with_suffix('.rejects.jsonl'))}); "
                  f"policies regraded {policy['regraded']} cooling leads")
    console.print(learned)
    reports = collect_reports(REPORTS, as_of=None, at=at, target=None, settings=settings)
    converted = reports["forecast"].get("converted") or {}
    expected = converted.get("expected_measured") if isinstance(converted, dict) else None
    if isinstance(expected, int | float) and expected > 0:
        reports["forecast"] = collect_reports(
            ["forecast"], as_of=None, at=at, settings=settings,
            target=round(float(expected) * 1.25, -3) or None)["forecast"]
    reports["scoring"] = scoring_section(settings)
    for name in ("funnel", "diagnosis", "channels", "losses", "forecast", "alerts"):
        render_terminal(name, reports[name], console)
    try:
        write_html(reports, html_path)
        written = f"HTML report: [bold]{_path(html_path)}[/bold]  "
    except ConfigError as e:  # an embedded install without the [html] extra: no charts
        written = f"no HTML report ({escape(str(e))}) "
    elapsed = time.perf_counter() - started
    console.print(f"{written}(database {_path(db_path)}; done in {elapsed:.1f} s)")
    sys.exit(0)
