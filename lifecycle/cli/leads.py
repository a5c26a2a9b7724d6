"""Commands on many leads at once: ``lifecycle leads export``."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click

from lifecycle.application import LeadLifecycle
from lifecycle.cli.core import opened_app
from lifecycle.cli.params import AT
from lifecycle.exporting import COLUMNS, WhereError, export_leads, parse_where
from lifecycle.projections import ProjectionStore, build_runner

__all__ = ["COMMANDS"]


@click.group()
def leads() -> None:
    """Work with many leads at once."""


@leads.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="JSON lines (one object per lead) or CSV")
@click.option("--where", "where", metavar="EXPR",
              help="only the leads that satisfy every FIELD OP VALUE, joined by ',': "
              "OP is = != > >= < <= or ~ (contains); quote a value holding a comma; "
              "e.g. 'stage=mql,grade!=cold,total>=50' or 'property:segment=\"SMB, EU\"'")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="write to this file (default: standard output)")
@click.option("--at", "at_moment", type=AT,
              help="score behaviour and total at this ISO time (default: now)")
def leads_export(fmt: str, where: str | None, output: Path | None,
                 at_moment: datetime | None) -> None:
    """Export one row per lead, streamed, in order of capture."""
    try:
        if where:
            parse_where(where)  # a bad expression fails before anything is opened
    except WhereError as e:
        raise click.BadParameter(str(e), param_hint="--where") from None
    at = at_moment or datetime.now(UTC)
    started = time.perf_counter()
    with opened_app() as app:
        store = ProjectionStore(app.settings.database_url)
        try:
            runner = build_runner(app, store)
            if app.settings.mode == "embedded":
                runner.run()  # distributed: the workers' projector agents keep them current
            if output is None:
                n = _export(app, store, sys.stdout, fmt, at, where)
            else:
                with output.open("w", encoding="utf-8", newline="") as out:
                    n = _export(app, store, out, fmt, at, where)
        finally:
            store.close()
    elapsed = time.perf_counter() - started
    rate = n / elapsed if elapsed > 0 else 0.0
    click.echo(f"exported {n:,} leads in {elapsed:.2f} s ({rate:,.0f} leads/s)"
               + (f" to {output}" if output is not None else ""), err=True)


def _export(app: LeadLifecycle, store: ProjectionStore, out: IO[str], fmt: str,
            at: datetime, where: str | None) -> int:
    return export_leads(app, store, out, fmt="csv" if fmt == "csv" else "jsonl", at=at,
                        where=where)


leads_export.help = (
    f"{leads_export.help}\n\nColumns (the CSV's order; keys and properties as JSON text): "
    f"{', '.join(COLUMNS)}. Behaviour and total are decayed to --at; properties hold "
    "each property's earliest value; predicted is the active model's probability of a "
    "win at --at (empty without one), e.g. --where 'predicted>=0.5'.")

COMMANDS: tuple[click.Command, ...] = (leads,)
