"""Core commands: ``ingest``, ``lead show`` and ``schema``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from lifecycle.adapters import adapter_for
from lifecycle.application import LeadLifecycle, build_application
from lifecycle.cli.params import AT
from lifecycle.contracts import inbound_json_schema
from lifecycle.ingest import IngestSummary, RejectWriter, ingest_lines, read_lines, same_file
from lifecycle.projections import build_runner
from lifecycle.reports.output import literal, strict_json
from lifecycle.settings import Settings
from lifecycle.views import lead_summary, predicted

__all__ = ["COMMANDS", "open_app", "opened_app", "print_json"]


def open_app(settings: Settings | None = None) -> LeadLifecycle:
    """The application for the configured database (no side effects before a command).

    Raises:
        psycopg.OperationalError: PostgreSQL cannot be reached (within
            :data:`lifecycle.adapters.postgres.events.CONNECT_TIMEOUT` seconds); its message
            says why.
    """
    settings = settings or Settings()
    adapter_for(settings).check_reachable()
    return build_application(settings)


@contextmanager
def opened_app(settings: Settings | None = None) -> Iterator[LeadLifecycle]:
    """:func:`open_app` for the length of a ``with`` block: closed however the block ends
    (an error, ``sys.exit``, an aborted confirmation)."""
    app = open_app(settings)
    try:
        yield app
    finally:
        app.close()


def print_json(data: Any) -> None:
    """Prints strict JSON: no ``Infinity``/``NaN``, times as ISO 8601 strings."""
    click.echo(strict_json(data))


def _progress(console: Console, total: int | None) -> Progress:
    return Progress(
        TextColumn("[bold]ingest"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not console.is_terminal or total is None,
    )


def run_ingest(
    app: LeadLifecycle, stream: IO[bytes], rejects_path: Path, *, total_bytes: int | None,
    console: Console, after_batch: Any = None,
) -> IngestSummary:
    """Ingests a JSONL stream with a progress bar (when on a terminal)."""
    with _progress(console, total_bytes) as progress, RejectWriter(rejects_path) as rejects:
        task = progress.add_task("ingest", total=total_bytes)
        return ingest_lines(
            app, read_lines(stream, max_bytes=app.settings.limits.max_input_bytes), rejects,
            batch_size=app.settings.batch_size,
            on_progress=lambda n: progress.advance(task, n), after_batch=after_batch,
        )


@click.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where rejected lines go (default: FILE.rejects.jsonl, or "
              "rejects.jsonl for stdin)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON object")
def ingest(file: Path, rejects_path: Path | None, as_json: bool) -> None:
    """Record every touchpoint and sales action in a JSONL FILE ('-' for stdin).

    Prints the accounting (received = accepted + duplicate + rejected), the kinds and
    profile values the scoring file does not know, and a warning when most new leads
    were disqualified, unscored or not contactable. Exit status 0 when nothing was
    rejected, 1 when some lines were rejected.
    """
    console = Console(stderr=True)
    if rejects_path is None:
        rejects_path = Path("rejects.jsonl") if str(file) == "-" else Path(f"{file}.rejects.jsonl")
    if str(file) != "-" and not file.exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    if same_file(sys.stdin.buffer if str(file) == "-" else file, rejects_path):
        raise click.BadParameter(f"{rejects_path} is the input itself: give a reject file "
                                 "that is not the input", param_hint="--rejects")
    with opened_app() as app:
        runner = build_runner(app)
        try:
            # Embedded mode: projections advance after every saved batch, so they are
            # current when ingest returns.
            if str(file) == "-":
                summary = run_ingest(app, sys.stdin.buffer, rejects_path, total_bytes=None,
                                     console=console, after_batch=runner.run)
            else:
                with file.open("rb") as stream:
                    summary = run_ingest(app, stream, rejects_path,
                                         total_bytes=file.stat().st_size, console=console,
                                         after_batch=runner.run)
            runner.run()
        finally:
            runner.store.close()
    if as_json:
        click.echo(json.dumps(summary.as_json()))
    else:
        _print_summary(summary, rejects_path)
    sys.exit(0 if summary.rejected == 0 else 1)


TOP_VALUES = 10
"""Unknown kinds and unmatched values listed per dimension (the most frequent)."""


def _print_summary(summary: IngestSummary, rejects_path: Path) -> None:
    console = Console()
    table = Table(title="ingest", show_header=True)
    for column in ("received", "accepted", "duplicate", "rejected"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in summary.as_dict().values()))
    console.print(table)
    print_findings(console, summary)
    if summary.rejected:
        console.print(Text.assemble("rejected lines appended to ",
                                    literal(rejects_path, "bold")))


def print_findings(console: Console, summary: IngestSummary) -> None:
    """What a run's accepted inputs held that scores nothing (unknown kinds, unmatched
    values), and the warning when most of its new leads were troubled."""
    data = summary.as_json()
    if data["unknown_kinds"]:
        console.print(_counts("unknown kinds (0 points)", "kind", {"": data["unknown_kinds"]}))
    if data["unmatched"]:
        console.print(_counts("unmatched values (0 points)", "value", data["unmatched"]))
    if data["warning"]:
        console.print(Text.assemble(("warning: ", "bold yellow"), literal(data["warning"])))


def _counts(title: str, what: str, groups: dict[str, dict[str, int]]) -> Table:
    """A table of the most frequent values of each group (counts in touchpoints)."""
    table = Table(title=title, title_justify="left")
    if any(groups):
        table.add_column("dimension")
    table.add_column(what)
    table.add_column("touchpoints", justify="right")
    for group, counts in groups.items():
        rows = list(counts.items())
        for value, count in rows[:TOP_VALUES]:
            table.add_row(*([literal(group)] if group else []), literal(value), str(count))
        if len(rows) > TOP_VALUES:
            rest = sum(count for _, count in rows[TOP_VALUES:])
            table.add_row(*([literal(group)] if group else []),
                          literal(f"({len(rows) - TOP_VALUES} more)"), str(rest))
    return table


@click.group()
def lead() -> None:
    """Look at one lead."""


@lead.command("show")
@click.argument("key")
@click.option("--at", "at_moment", type=AT,
              help="evaluate decaying scores at this ISO time (default: now)")
@click.option("--history", default=10, show_default=True, type=click.IntRange(min=0),
              help="how many latest events to list")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def lead_show(key: str, at_moment: datetime | None, history: int, as_json: bool) -> None:
    """Show a lead by external id, email or lead id: stage, grade, scores, history."""
    at = at_moment or datetime.now(UTC)
    with opened_app() as app:
        lead_id = app.find_lead(key)
        lead_obj = app.get_lead(lead_id)
        events = app.lead_events(lead_id)
        summary = lead_summary(lead_obj, events, app.scoring, at=at, history=history)
        summary["predicted"] = predicted(app, [lead_obj], at, [events])[0]
    if as_json:
        print_json(summary)
        return
    _print_lead(summary)


def _print_lead(s: dict[str, Any]) -> None:
    # Every value goes in as literal Text: a key, a competitor or a note holding "[/]"
    # or "[red]" is the person's data, not markup (and would crash or restyle it).
    console = Console()
    scores = s["scores"]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()

    def line(name: str, value: str) -> None:
        head.add_row(name, literal(value))

    line("lead", f"{s['lead_id']}  ({', '.join(s['keys'])})")
    if s["emails"]:
        line("emails", ", ".join(s["emails"]))
    line("template", s["template"])
    line("stage", f"{s['stage']} since {s['stage_entered_at']}")
    line("grade", f"{s['grade']} (now: {scores['grade_now']}, total {scores['total']})")
    line("captured", f"{s['captured_at']} via {s['first_channel']}")
    line("last touch", s["last_touch_at"])
    line("contactable", "yes" if s["contactable"] else "no (neither email nor phone known)")
    if s["properties"]:
        line("properties", ", ".join(f"{k}={_value(v)}" for k, v in s["properties"].items()))
    if s["deal"]["amount"] is not None:
        line("deal", f"{s['deal']['amount']:,.2f} {s['deal']['currency']}")
    if s.get("predicted"):
        p = s["predicted"]
        factors = ", ".join(f"{f['feature']}={_value(f['value'])} {f['contribution']:+.2f}"
                            for f in p["factors"])
        line("predicted", f"{p['probability']:.2f} by model {p['model_id']}"
             + (f" (factors {factors})" if factors else ""))
    console.print(head)

    fit = Table(title=literal(f"fit {scores['fit']['score']}"), title_justify="left")
    fit.add_column("dimension")
    fit.add_column("points", justify="right")
    for name, value in scores["fit"]["parts"].items():
        fit.add_row(literal(name), literal(f"{value:g}"))
    console.print(fit)

    beh = scores["behaviour"]
    table = Table(title=literal(f"behaviour {beh['score']} at {scores['evaluated_at']} "
                                f"(half-life {beh['half_life_days']:g} d; top "
                                f"{len(beh['contributions'])} of {beh['contributions_total']})"),
                  title_justify="left")
    for column in ("occurred_at", "kind", "points", "value now"):
        table.add_column(column)
    for c in beh["contributions"]:
        table.add_row(*(literal(v) for v in (c["occurred_at"], c["kind"], f"{c['points']:g}",
                                             f"{c['value']:.3f}")))
    console.print(table)
    bant = scores["bant"]
    console.print(literal(f"BANT: budget={bant['budget']} authority={bant['authority']} "
                          f"need={bant['need']} timeline={bant['timeline']} "
                          f"({bant['met']}/4 met)"))

    hist = Table(title=f"history (last {len(s['history'])} of {s['events']} events)",
                 title_justify="left")
    for column in ("v", "event", "occurred_at", "cause", "detail"):
        hist.add_column(column)
    for e in s["history"]:
        detail = ", ".join(f"{k}={_value(v)}" for k, v in e["detail"].items())
        hist.add_row(*(literal(v) for v in (e["version"], e["event"], e["occurred_at"],
                                            e["cause"], detail)))
    console.print(hist)


def _value(value: Any) -> str:
    """A property's value as its JSON (nested values and strings read unambiguously)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@click.command()
def schema() -> None:
    """Print the JSON Schema of one inbound input (touchpoint or sales action)."""
    print_json(inbound_json_schema(Settings().limits))


COMMANDS: tuple[click.Command, ...] = (ingest, lead, schema)
