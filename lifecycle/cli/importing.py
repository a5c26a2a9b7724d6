"""``lifecycle import``: a CRM's CSV export through a mapping into the engine."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lifecycle.cli.core import opened_app, print_findings, print_json
from lifecycle.importing import PRESETS, ImportPlan, load_mapping, plan_import, run_import
from lifecycle.ingest import RejectWriter, same_file
from lifecycle.projections import build_runner
from lifecycle.reports.output import literal
from lifecycle.settings import Settings

__all__ = ["COMMANDS"]


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_path", type=click.Path(dir_okay=False, path_type=Path),
              help="the mapping (TOML): which column is what (docs/bring-your-own-data.md)")
@click.option("--preset", type=click.Choice(PRESETS),
              help="start from a shipped mapping (alone, or under --mapping, as if it said "
              "extends = PRESET)")
@click.option("--dry-run", is_flag=True,
              help="print what would be created and every row that would be rejected; "
              "open no database")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where rejected rows go (default: FILE.rejects.jsonl)")
@click.option("--examples", default=3, show_default=True, type=click.IntRange(min=0),
              help="with --dry-run: how many rows to show as the inputs they become")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON object")
def import_(file: Path, mapping_path: Path | None, preset: str | None, dry_run: bool,
            rejects_path: Path | None, examples: int, as_json: bool) -> None:
    """Import the history in a CSV FILE (a CRM export) through a mapping.

    Each row becomes the touchpoint that captured its lead and the lead's history
    (qualified, accepted, won or lost, at their dates), with ids taken from the row:
    importing the same file again creates nothing new. Exit status 0 when nothing was
    rejected, 1 when some rows or inputs were.
    """
    if not file.exists():
        raise click.BadParameter(f"{file} does not exist", param_hint="FILE")
    rejects_path = rejects_path or Path(f"{file}.rejects.jsonl")
    if not dry_run and same_file(file, rejects_path):
        raise click.BadParameter(f"{rejects_path} is the input itself: give a reject file "
                                 "that is not the input", param_hint="--rejects")
    mapping = load_mapping(mapping_path, preset=preset)
    settings = Settings()
    plan = plan_import(file.read_bytes(), mapping, limits=settings.limits, name=str(file))
    report: dict[str, Any] = {"dry_run": dry_run, **plan.counts(), "warnings": plan.warnings}
    if dry_run:
        report.update(examples=plan.examples(examples), rejects=plan.rejects())
        _show(report, plan, as_json)
        sys.exit(1 if plan.rejected else 0)
    with opened_app(settings) as app:
        runner = build_runner(app)
        try:
            with RejectWriter(rejects_path) as rejects:
                summary = run_import(app, plan, rejects, after_batch=runner.run)
            runner.run()
        finally:
            runner.store.close()
    report.update(summary.as_json())
    _show(report, plan, as_json)
    if not as_json:
        print_findings(Console(), summary)
    if summary.rejected and not as_json:
        Console().print(Text.assemble("rejected rows and inputs appended to ",
                                      literal(rejects_path, "bold")))
    sys.exit(1 if summary.rejected else 0)


def _show(report: dict[str, Any], plan: ImportPlan, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    console = Console()
    for warning in plan.warnings:
        console.print(literal(f"warning: {warning}", "yellow"))
    title = "import (dry run: nothing written)" if report["dry_run"] else "import"
    table = Table(title=title, show_header=True)
    columns = ["rows", "rejected rows", "leads", "touchpoints", "actions"]
    values = [report["rows"], report["rows_rejected"], report["leads"],
              sum(report["touchpoints"].values()), sum(report["actions"].values())]
    if not report["dry_run"]:
        columns += ["received", "accepted", "duplicate", "rejected"]
        values += [report[k] for k in ("received", "accepted", "duplicate", "rejected")]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in values))
    console.print(table)
    kinds = Table(title="inputs by kind", show_header=True, title_justify="left")
    for column in ("input", "kind", "count"):
        kinds.add_column(column, justify="right" if column == "count" else "left")
    for what in ("touchpoints", "actions"):
        for kind, count in report[what].items():
            kinds.add_row(what[:-1], literal(kind), str(count))
    console.print(kinds)
    if not report["dry_run"]:
        return
    for example in report["examples"]:
        console.print(literal(f"row {example['row']}:", "bold"))
        for item in example["inputs"]:
            console.print(literal(f"  {json.dumps(item, ensure_ascii=False)}"), soft_wrap=True)
    if report["rejects"]:
        rejects = Table(title=f"rows that would be rejected ({len(report['rejects'])})",
                        show_header=True, title_justify="left")
        for column in ("row", "code", "reason"):
            rejects.add_column(column)
        for reject in report["rejects"]:
            rejects.add_row(str(reject["row"]), reject["code"], literal(reject["reason"]))
        console.print(rejects)


COMMANDS: tuple[click.Command, ...] = (import_,)
