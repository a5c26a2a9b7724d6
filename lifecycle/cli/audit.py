"""Audit and privacy commands: ``audit history|as-of|verify|anchor|projections``,
``erase``, ``whatif``."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lifecycle.aggregates.values import ERASED
from lifecycle.application import LeadLifecycle
from lifecycle.cli.core import opened_app, print_json
from lifecycle.cli.params import AS_OF
from lifecycle.reports.output import visible

__all__ = ["COMMANDS"]


def _short(iso: str) -> str:
    return iso[:19].replace("T", " ")


def _fmt(value: Any) -> str:
    """A value for a table cell (escaped: "[x]" in a value is text, not markup)."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict | list):  # properties: as their JSON
        value = json.dumps(value, ensure_ascii=False)
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

    with opened_app() as app:
        data = history(app, app.find_lead(key))
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
@click.argument("timestamp", type=AS_OF, metavar="TIMESTAMP")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_as_of(key: str, timestamp: datetime, as_json: bool) -> None:
    """A lead's exact state at TIMESTAMP (ISO 8601; a date means its end): as of business
    time (what was true then) and as of recorded time (what the engine knew then)."""
    from lifecycle.audit import as_of

    at = timestamp
    with opened_app() as app:
        data = as_of(app, app.find_lead(key), at)
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


def _audit_key(app: LeadLifecycle) -> str | None:
    key = app.settings.audit_key
    return None if key is None else str(key.get_secret_value())


def _print_breaks(console: Console, data: dict[str, Any], title: str) -> None:
    # Lines, not a table: the lead id and the problem stay whole in any terminal width.
    console.print(f"[red]{title}[/red]")
    for b in data["broken"]:
        version = "" if b["version"] is None else f" v{b['version']}"
        console.print(f"  {b['aggregate_id']}{version} [bold]{b['problem']}[/bold]",
                      soft_wrap=True)
        console.print(f"      {_fmt(b['detail'])}")


@audit.command("verify")
@click.option("--lead", "key", help="only this lead (external id, email or lead id)")
@click.option("--anchor", "anchor_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="an anchor file (audit anchor): hold the store to it")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_verify(key: str | None, anchor_path: Path | None, as_json: bool) -> None:
    """Verify the stored events: recompute every hash chain, check it against its head
    and the notification log, cross-check the key index with the leads, and — with
    --anchor — find any event the anchor covers that was edited, deleted or truncated,
    even if chains and heads were rewritten to match.

    Exit status 0: intact; 1: something was altered (each aggregate's first problem is
    listed); 2: the check could not be made (an anchor that is altered, unreadable or
    keyed with another key than LIFECYCLE_AUDIT_KEY; bad options).
    """
    from lifecycle.anchor import load
    from lifecycle.audit import verify
    from lifecycle.errors import AnchorInvalid

    with opened_app() as app:
        try:
            anchor = load(anchor_path, _audit_key(app)) if anchor_path else None
        except AnchorInvalid as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        report = verify(app, lead_id=app.find_lead(key) if key else None, anchor=anchor)
    data = report.as_dict()
    if as_json:
        print_json(data)
    else:
        console = Console()
        console.print(f"verified {data['events']:,} events of {data['aggregates']:,} aggregates "
                      f"in {data['seconds']:.2f} s ({data['events_per_second']:,} events/s)")
        if anchor is not None:
            console.print(f"against the anchor taken {_fmt(anchor.created_at)} "
                          f"({anchor.events:,} events of {anchor.aggregates:,} aggregates, "
                          f"{'keyed' if anchor.key_id else 'not keyed'})")
        if report.ok:
            console.print("[green]every chain is intact[/green]"
                          + (" and holds what the anchor holds" if anchor else ""))
        else:
            _print_breaks(console, data, f"{len(report.breaks)} broken chain(s)")
    sys.exit(0 if report.ok else 1)


@audit.command("anchor")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def audit_anchor(file: Path, as_json: bool) -> None:
    """Verify the whole store and write a checkpoint of it to FILE ('-': stdout): every
    lead's and key index entry's version and chain hash, and a root over them (HMAC with
    LIFECYCLE_AUDIT_KEY when it is set). Keep FILE outside the database; `audit verify
    --anchor FILE` later finds any event it covers that was altered.

    Exit status 0: written; 1: the store does not verify (nothing written); 2: FILE
    exists (anchors are evidence: never overwritten) or the key is unusable.
    """
    from lifecycle.anchor import check_key, write
    from lifecycle.audit import take_anchor
    from lifecycle.errors import AnchorInvalid

    to_stdout = str(file) == "-"
    if not to_stdout and file.exists():
        click.echo(f"error: {file} exists; anchors are evidence and are never overwritten: "
                   "choose a new name (e.g. anchor-$(date +%F).json)", err=True)
        sys.exit(2)
    with opened_app() as app:
        key = _audit_key(app)
        try:
            check_key(key)
        except AnchorInvalid as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        anchor, report = take_anchor(app)
    if anchor is None:
        console = Console(stderr=True)
        console.print("[red]the store does not verify; no anchor written[/red]")
        _print_breaks(console, report.as_dict(), f"{len(report.breaks)} broken chain(s)")
        sys.exit(1)
    try:
        sealed = write(anchor, None if to_stdout else file, key)
    except AnchorInvalid as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except FileExistsError:
        click.echo(f"error: {file} appeared meanwhile; it was not overwritten", err=True)
        sys.exit(2)
    summary = {**sealed.summary(), "file": None if to_stdout else str(file),
               "seconds": round(report.seconds, 3)}
    if as_json and not to_stdout:
        print_json(summary)
    elif not to_stdout:
        click.echo(f"anchored {sealed.events:,} events of {sealed.aggregates:,} aggregates "
                   f"(notification log up to {sealed.max_notification_id:,}) in {file}\n"
                   f"root {sealed.algorithm}:{sealed.root}"
                   + (f" (key id {sealed.key_id})" if sealed.key_id else
                      " (not keyed: set LIFECYCLE_AUDIT_KEY to key anchors)")
                   + "\nkeep this file outside the database; check with "
                   f"`lifecycle audit verify --anchor {file}`")
    else:
        click.echo(f"anchored {sealed.events:,} events of {sealed.aggregates:,} aggregates, "
                   f"root {sealed.algorithm}:{sealed.root}", err=True)


@audit.command("projections")
@click.option("--limit", default=10, show_default=True, help="examples per table and kind")
@click.option("--max-lag", default=0, show_default=True, type=click.IntRange(min=0),
              help="notifications a projection may be behind the store unreported")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def audit_projections(limit: int, max_lag: int, as_json: bool) -> None:
    """Check that the projections have applied every stored event, rebuild them into a
    scratch database and compare with the live tables. Exit status 1 when a projection
    is behind the event store (stuck, lagging, or empty) or its rows differ."""
    from lifecycle.projections.drift import check_drift

    with opened_app() as app:
        data = check_drift(app, limit=limit, max_lag=max_lag)
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
        for b in data["behind"]:
            console.print(f"[red]{_fmt(b['name'])} is behind the event store[/red]: "
                          f"{_fmt(b['detail'])}")
        if data["ok"]:
            console.print("[green]no drift[/green]")
        else:
            parts = ([f"{len(data['behind'])} projection(s) behind"] if data["behind"] else []
                     ) + ([f"{data['differences']} difference(s)"] if data["differences"]
                          else [])
            console.print(f"[red]drift: {', '.join(parts)}[/red]")
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

    if not yes and not sys.stdin.isatty():
        raise click.UsageError("erase asks for confirmation and there is no terminal to ask "
                               "on: add --yes to erase without asking")
    with opened_app() as app:
        lead_id = app.find_lead(key, erased_ok=True)
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
@click.option("--model", "model_id", metavar="MODEL_ID",
              help="grade every template's leads by this stored model (by = \"model\")")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def whatif(scoring_file: Path | None, templates_dir: Path | None, model_id: str | None,
           as_json: bool) -> None:
    """Replay the whole history under another configuration, without touching the live
    store, and show both funnels side by side."""
    from lifecycle.scoring import load_scoring
    from lifecycle.templates import load_templates
    from lifecycle.whatif import what_if

    if scoring_file is None and templates_dir is None and model_id is None:
        raise click.UsageError("give --scoring FILE, --templates DIR, --model MODEL_ID, "
                               "or several")
    with opened_app() as app:
        model = None
        if model_id is not None:
            try:
                model = app.models.load(model_id)
            except LookupError:
                raise click.UsageError(f"no stored model {model_id!r} (see: lifecycle model "
                                       "list)") from None
        data = what_if(
            app, scoring=load_scoring(scoring_file) if scoring_file else None,
            templates=load_templates(templates_dir, default=app.settings.default_template)
            if templates_dir else None, model=model)
    data["config"] = {"scoring": str(scoring_file) if scoring_file else None,
                      "templates": str(templates_dir) if templates_dir else None,
                      "model": model_id}
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
    model_id = data.get("config", {}).get("model")
    if model_id:
        console.print(f"what-if: every template's leads graded by model {model_id} "
                      "([grading.model] of the scoring file)")
    replay = data["replay"]
    console.print(f"replayed {replay['touchpoints']:,} touchpoints, {replay['sales_actions']:,} "
                  f"sales actions and {replay['policy_runs']} policy runs; "
                  f"{replay['rejected']:,} became illegal under the other configuration"
                  + (f" ({', '.join(f'{k}: {v}' for k, v in replay['rejected_by_reason'].items())})"
                     if replay["rejected"] else ""))


COMMANDS: tuple[click.Command, ...] = (audit, erase, whatif)
