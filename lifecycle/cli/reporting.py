"""Projection, report and policy commands (``lifecycle demo`` comes from the ``demo``
package, through the ``lifecycle.commands`` entry point)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from lifecycle import scoring
from lifecycle.channels import channel_groups
from lifecycle.cli.core import open_app, print_json
from lifecycle.cli.params import AMOUNT, AS_OF, AT
from lifecycle.people import people_reader
from lifecycle.projections import ProjectionStore, build_runner
from lifecycle.reports import (
    BY_REPORTS,
    REPORTS,
    Dimension,
    Unmatched,
    build_report,
    load_rates,
    parse_dimension,
)
from lifecycle.settings import Settings

__all__ = ["COMMANDS"]


def _bar(console: Console, label: str, total: int | None) -> Progress:
    return Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=True,
                    disable=not console.is_terminal)


@click.group()
def projections() -> None:
    """Inspect and rebuild the projections."""


@projections.command("status")
@click.option("--json", "as_json", is_flag=True)
def projections_status(as_json: bool) -> None:
    """Each projection's position, lag behind the event store, version, and the events
    it left out (faults: a handler failed, or the database refused a value)."""
    app = open_app()
    runner = build_runner(app)
    try:
        rows = runner.status()
    finally:
        runner.store.close()
        app.close()
    data = [{"name": s.name, "position": s.position, "head": s.head, "lag": s.lag,
             "version": s.version, "stored_version": s.stored_version, "stale": s.stale,
             "description": s.description, "faults": s.faults,
             "latest_faults": [{"lead_id": f.lead_id, "version": f.version,
                                "position": f.position, "event_type": f.event_type,
                                "reason": f.reason} for f in s.latest_faults]}
            for s in rows]
    if as_json:
        print_json(data)
        return
    table = Table(title="projections")
    for column in ("name", "position", "head", "lag", "version", "faults", "description"):
        table.add_column(column)
    for d in data:
        version = f"{d['version']}" + (" (stale: rebuild)" if d["stale"] else "")
        table.add_row(Text(str(d["name"])), str(d["position"]), str(d["head"]), str(d["lag"]),
                      version, str(d["faults"]), Text(str(d["description"])))
    console = Console()
    console.print(table)
    for s in rows:
        if s.faults:
            console.print(Text(f"{s.name}: {s.faults} event(s) left out; latest:", style="red"))
            for f in s.latest_faults:
                # Shown literally: a reason may quote the value that was refused.
                console.print(Text(f"  {f.event_type or 'envelope'} {f.lead_id} v{f.version} "
                                   f"(position {f.position}): {f.reason}"))
    if any(s.faults for s in rows):
        console.print("fix the cause, then `lifecycle projections rebuild NAME` tries "
                      "those events again")


@projections.command("rebuild")
@click.argument("names", nargs=-1)
def projections_rebuild(names: tuple[str, ...]) -> None:
    """Drop and rebuild the named projections (all when none is named)."""
    console = Console(stderr=True)
    app = open_app()
    runner = build_runner(app)
    try:
        head = runner.head()
        started = time.perf_counter()
        with _bar(console, "rebuild", head) as bar:
            task = bar.add_task("rebuild", total=head)
            n = runner.rebuild(list(names) or None, on_progress=lambda k: bar.advance(task, k))
        elapsed = time.perf_counter() - started
        faults = {name: count for name, (count, _, _) in runner.store.faults().items()
                  if not names or name in names}
    finally:
        runner.store.close()
        app.close()
    rate = n / elapsed if elapsed > 0 else 0.0
    click.echo(f"rebuilt {', '.join(names) or 'all projections'}: {n} events in "
               f"{elapsed:.2f} s ({rate:,.0f} events/s)")
    for name, count in sorted(faults.items()):
        click.echo(f"{name}: {count} event(s) still left out (see `lifecycle projections "
                   f"status`)")


class DimensionType(click.ParamType):
    """``--by DIM``: a dimension reports group leads by."""

    name = "dimension"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DIM"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Dimension:
        if isinstance(value, Dimension):
            return value
        try:
            return parse_dimension(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _report_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--by", type=DimensionType(), help="group the leads by channel, "
                     "channel_group, source, template, owner, country, industry or "
                     f"property:NAME ({', '.join(BY_REPORTS)} reports; the largest "
                     "groups, the rest pooled as (other))")(f)
    f = click.option("--json", "as_json", is_flag=True, help="print as JSON")(f)
    f = click.option("--target", type=AMOUNT,
                     help="revenue target for the forecast gap (in the reporting currency "
                     "of LIFECYCLE_RATES_FILE, or the pipeline's one currency)")(f)
    f = click.option("--at", type=AT, help="evaluate decay, cooling and alerts "
                     "at this time (default: now)")(f)
    return click.option("--as-of", type=AS_OF, help="the funnel as it stood "
                        "at this date/time (business time)")(f)


def collect_reports(names: tuple[str, ...] | list[str], *, as_of: datetime | None,
                    at: datetime, target: float | None, by: Dimension | None = None,
                    settings: Settings | None = None) -> dict[str, dict[str, object]]:
    app = open_app(settings)
    store = ProjectionStore(app.settings.database_url)
    try:
        rates = load_rates(app.settings.rates_file)
        groups = channel_groups(app.settings)
        runner = build_runner(app, store)
        if app.settings.mode == "embedded":
            runner.run()  # distributed: the workers' projector agents keep them current
        people = people_reader(app)
        return {name: build_report(name, store, app.templates, app.scoring, as_of=as_of,
                                   at=at, target=target, rates=rates, by=by,
                                   channel_groups=groups, unmatched=_unmatched(),
                                   people=people)
                for name in names}
    finally:
        store.close()
        app.close()


def scoring_section(settings: Settings | None = None) -> dict[str, object]:
    """The HTML report's scoring section: the stored models' metrics (none loaded)."""
    from lifecycle.reports.scoring import scoring_report

    app = open_app(settings)
    try:
        return scoring_report(app.models.list())
    finally:
        app.close()


def _unmatched() -> Unmatched:
    """The scoring's test of unmatched profile values."""
    return scoring.unmatched


@click.group(invoke_without_command=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write every report into one self-contained HTML file")
@_report_options
@click.pass_context
def report(ctx: click.Context, html_path: Path | None, by: Dimension | None, as_json: bool,
           target: float | None, at: datetime | None, as_of: datetime | None) -> None:
    """Reports from the projections (a subcommand, or --html FILE for all of them)."""
    ctx.ensure_object(dict)
    ctx.obj.update(as_json=as_json, target=target, at=at, as_of=as_of, by=by)
    if ctx.invoked_subcommand is not None:
        return
    if html_path is None:
        click.echo(ctx.get_help())
        return
    from lifecycle.reports.drawing import require_matplotlib

    require_matplotlib()  # before the reports are built: say at once what is missing
    reports = collect_reports(REPORTS, as_of=as_of, at=at or datetime.now(UTC), target=target,
                              by=by)
    reports["scoring"] = scoring_section()
    from lifecycle.reports.html import write_html

    write_html(reports, html_path)
    click.echo(f"wrote {html_path}")


def _make_report_command(name: str) -> click.Command:
    @click.command(name)
    @_report_options
    @click.pass_context
    def command(ctx: click.Context, by: Dimension | None, as_json: bool, target: float | None,
                at: datetime | None, as_of: datetime | None) -> None:
        parent = ctx.obj or {}
        as_json = as_json or bool(parent.get("as_json"))
        target = target if target is not None else parent.get("target")
        as_of = as_of or parent.get("as_of")
        at = at or parent.get("at") or datetime.now(UTC)
        by = by or parent.get("by")
        if by is not None and name not in BY_REPORTS:
            raise click.UsageError(f"--by groups the {', '.join(BY_REPORTS)} reports, not "
                                   f"{name}")
        data = collect_reports([name], as_of=as_of, at=at, target=target, by=by)[name]
        if as_json:
            print_json(data)
            return
        from lifecycle.reports.render import render_terminal

        render_terminal(name, data, Console())

    command.help = f"The {name} report."
    return command


for _name in REPORTS:
    report.add_command(_make_report_command(_name))


@click.group()
def policies() -> None:
    """Policies that send commands back to leads."""


@policies.command("run")
@click.option("--at", type=AT, help="the moment to evaluate at (default: now)")
@click.option("--json", "as_json", is_flag=True)
def policies_run(at: datetime | None, as_json: bool) -> None:
    """Regrade cooling leads and send due nurture steps, as of --at."""
    from lifecycle.policies import run_policies

    at = at or datetime.now(UTC)
    app = open_app()
    try:
        result = run_policies(app, at=at)
    finally:
        app.close()
    if as_json:
        print_json(result)
    else:
        click.echo(f"policies at {at.isoformat()}: regraded {result['regraded']} of "
                   f"{result['cooling']} cooling leads; sent {result['nurture_sent']} nurture "
                   f"steps to {result['nurturing']} nurturing leads")


COMMANDS: tuple[click.Command, ...] = (projections, report, policies)
