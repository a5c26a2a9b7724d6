"""Audit and privacy commands: ``audit history|as-of|verify|projections``, ``erase``,
``whatif``."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lifecycle.aggregates.lead import ERASED
from lifecycle.cli.core import open_app, print_json
from lifecycle.reports.output import visible

__all__ = ["COMMANDS"]


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date or time: {text!r}") from None
    if len(text) == 10:  # a date: the end of that day
        value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _short(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _fmt(value: Any) -> str:
    """A value for a table cell (escaped: "[x]" in a value is text, not markup)."""
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else escape(visible(value))


@click.group()
def audit() -> None:
    """Replay a lead's history, see its state at any moment, verify the event store."""


@audit.command("history")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_history(key: str, as_json: bool) -> None:
    """Every event of a lead (external id, email or lead id), oldest first: business and
    recorded time, cause, and the change it made."""
    from lifecycle.audit import history

    app = open_app()
    try:
        data = history(app, app.find_lead(key))
    finally:
        app.close()
    if as_json:
        print_json(data)
        return
    table = Table(title=f"lead {data['lead_id']}: {data['events']} events"
                  + (" (erased)" if data["erased"] else ""), title_justify="left")
    for column in ("v", "event", "occurred_at", "recorded_at", "cause", "change", "detail"):
        table.add_column(column, overflow="fold")
    for row in data["history"]:
        cause = row["cause"]
        change = "; ".join(f"{name} {_fmt(a)}→{_fmt(b)}" for name, (a, b) in row["change"].items())
        detail = ", ".join(f"{k}={_fmt(v)}" for k, v in row["detail"].items())
        table.add_row(str(row["version"]), row["event"], _short(row["occurred_at"]),
                      _short(row["recorded_at"]),
                      _fmt(f"{cause['type']}:{cause['id']} ({cause['actor']})"), change,
                      detail)
    Console().print(table)


@audit.command("as-of")
@click.argument("key")
@click.argument("timestamp")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_as_of(key: str, timestamp: str, as_json: bool) -> None:
    """A lead's exact state at TIMESTAMP (ISO 8601; a date means its end): as of business
    time (what was true then) and as of recorded time (what the engine knew then)."""
    from lifecycle.audit import as_of

    at = _moment(timestamp)
    app = open_app()
    try:
        data = as_of(app, app.find_lead(key), at)
    finally:
        app.close()
    if as_json:
        print_json(data)
        return
    table = Table(title=f"lead {data['lead_id']} as of {data['at']}", title_justify="left")
    for column in ("", "business time (true then)", "recorded time (known then)"):
        table.add_column(column, overflow="fold")
    business, recorded = data["business"], data["recorded"]
    for name in ("exists", "events", "version", "template", "stage", "stage_entered_at",
                 "grade", "total_score", "fit", "behaviour", "bant", "keys", "email",
                 "profile", "deal", "erased", "note"):
        if name in business or name in recorded:
            table.add_row(name, _fmt(business.get(name)), _fmt(recorded.get(name)))
    Console().print(table)


@audit.command("verify")
@click.option("--lead", "key", help="only this lead (external id, email or lead id)")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_verify(key: str | None, as_json: bool) -> None:
    """Recompute the hash chains of the stored events and report the first broken link
    of every aggregate. Exit status 1 when a link is broken."""
    from lifecycle.audit import verify

    app = open_app()
    try:
        report = verify(app, lead_id=app.find_lead(key) if key else None)
    finally:
        app.close()
    data = report.as_dict()
    if as_json:
        print_json(data)
    else:
        console = Console()
        console.print(f"verified {data['events']:,} events of {data['aggregates']:,} aggregates "
                      f"in {data['seconds']:.2f} s ({data['events_per_second']:,} events/s)")
        if report.ok:
            console.print("[green]every chain is intact[/green]")
        else:
            table = Table(title=f"{len(report.breaks)} broken chain(s)", title_justify="left")
            for column in ("aggregate", "version", "problem", "detail"):
                table.add_column(column, overflow="fold")
            for b in data["broken"]:
                table.add_row(b["aggregate_id"], _fmt(b["version"]), b["problem"],
                              _fmt(b["detail"]))
            console.print(table)
    sys.exit(0 if report.ok else 1)


@audit.command("projections")
@click.option("--limit", default=10, show_default=True, help="examples per table and kind")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_projections(limit: int, as_json: bool) -> None:
    """Rebuild the projections into a scratch database and compare them with the live
    tables. Exit status 1 when they differ."""
    from lifecycle.projections.drift import check_drift

    app = open_app()
    try:
        data = check_drift(app, limit=limit)
    finally:
        app.close()
    if as_json:
        print_json(data)
    else:
        console = Console()
        table = Table(title="projections: live vs rebuilt", title_justify="left")
        for column in ("table", "live rows", "rebuilt rows", "missing", "unexpected", "changed"):
            table.add_column(column, justify="right" if column != "table" else "left")
        for t in data["tables"]:
            table.add_row(t["table"], str(t["live_rows"]), str(t["rebuilt_rows"]),
                          str(t["missing"]), str(t["unexpected"]), str(t["changed"]))
        console.print(table)
        for t in data["tables"]:
            for e in t["examples"]:
                what = e.get("columns") or e.get("live") or e.get("rebuilt")
                console.print(_fmt(f"{t['table']} {e['kind']} {e['key']}: {what}"))
        console.print("[green]no drift[/green]" if data["ok"] else
                      f"[red]{data['differences']} difference(s)[/red]")
    sys.exit(0 if data["ok"] else 1)


@click.command()
@click.argument("key")
@click.option("--actor", default="cli", show_default=True, help="who requested the erasure")
@click.option("--request-id", help="the erasure request's id (default: a new one)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def erase(key: str, actor: str, request_id: str | None, yes: bool, as_json: bool) -> None:
    """Erase a lead's personal data (crypto-shredding): delete its key and record Erased.

    Email, name, phone and free text become unreadable everywhere they were stored;
    history, reports and funnel counts stay. This cannot be undone.
    """
    from lifecycle.projections import build_runner

    app = open_app()
    try:
        lead_id = app.find_lead(key)
        if not yes:
            click.confirm(f"erase the personal data of lead {lead_id}? this cannot be undone",
                          abort=True)
        cause = f"erasure:{request_id or uuid.uuid4()}"
        erased_now = app.erase(lead_id, actor=actor, cause=cause)
        if app.settings.mode == "embedded":
            runner = build_runner(app)
            try:
                runner.run()
            finally:
                runner.store.close()
    finally:
        app.close()
    result = {"lead_id": str(lead_id), "erased": True, "erased_now": erased_now,
              "cause": cause if erased_now else None}
    if as_json:
        print_json(result)
    elif erased_now:
        click.echo(f"erased lead {lead_id}: its key is deleted; its personal fields now read "
                   f"{ERASED}")
    else:
        click.echo(f"lead {lead_id} was erased before; its key is deleted")


@click.command()
@click.option("--scoring", "scoring_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="the other scoring / grading / nurture file")
@click.option("--templates", "templates_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), help="a directory of other funnel templates (MQL rules)")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def whatif(scoring_file: Path | None, templates_dir: Path | None, as_json: bool) -> None:
    """Replay the whole history under another configuration, without touching the live
    store, and show both funnels side by side."""
    from lifecycle.scoring import load_scoring
    from lifecycle.templates import load_templates
    from lifecycle.whatif import what_if

    if scoring_file is None and templates_dir is None:
        raise click.UsageError("give --scoring FILE, --templates DIR or both")
    app = open_app()
    try:
        data = what_if(
            app, scoring=load_scoring(scoring_file) if scoring_file else None,
            templates=load_templates(templates_dir, default=app.settings.default_template)
            if templates_dir else None)
    finally:
        app.close()
    data["config"] = {"scoring": str(scoring_file) if scoring_file else None,
                      "templates": str(templates_dir) if templates_dir else None}
    if as_json:
        print_json(data)
        return
    _print_whatif(data)


def _print_whatif(data: dict[str, Any]) -> None:
    console = Console()
    now, other = data["current"], data["what_if"]
    table = Table(title="funnel: current configuration vs what-if", title_justify="left")
    for column in ("", "current", "what-if", "change"):
        table.add_column(column, justify="left" if not column else "right")

    def row(label: str, a: Any, b: Any) -> None:
        delta = (f"{b - a:+g}" if isinstance(a, int | float) and isinstance(b, int | float)
                 else "")
        table.add_row(label, _fmt(a), _fmt(b), delta)

    for label, name in (("leads", "leads"), ("MQL", "mql"), ("lead → MQL", "lead_to_mql"),
                        ("SQL", "sql"), ("MQL → SQL", "mql_to_sql"), ("won", "won"),
                        ("win rate (won / SQL)", "win_rate")):
        row(label, now.get(name), other.get(name))
    for grade in ("hot", "warm", "cold", "ungraded"):
        a, b = now["by_grade"].get(grade, {}), other["by_grade"].get(grade, {})
        if a or b:
            for label, name in (("MQL", "mql"), ("MQL → SQL", "mql_to_sql"),
                                ("win rate", "win_rate")):
                row(f"{grade} at hand-off: {label}", a.get(name), b.get(name))
    console.print(table)
    replay = data["replay"]
    console.print(f"replayed {replay['touchpoints']:,} touchpoints, {replay['sales_actions']:,} "
                  f"sales actions and {replay['policy_runs']} policy runs; "
                  f"{replay['rejected']:,} became illegal under the other configuration"
                  + (f" ({', '.join(f'{k}: {v}' for k, v in replay['rejected_by_reason'].items())})"
                     if replay["rejected"] else ""))


COMMANDS: tuple[click.Command, ...] = (audit, erase, whatif)
