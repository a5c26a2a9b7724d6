"""Learned models: ``lifecycle model train|list|show|activate|evaluate|export|import|replay``.

numpy, scikit-learn and LightGBM load inside the commands (through
:mod:`lifecycle.scoring.learned`), never with this module: ``lifecycle --help`` and the
commands that use no model stay as quick as before.

A model whose stored or imported bytes fail their hash is a finding, as a broken chain is
for ``audit verify``: the command says why and exits 1. An unknown id is a usage error
(exit 2), as is too few outcomes to train.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console

from lifecycle.cli.core import opened_app, print_json
from lifecycle.cli.model_tables import metrics_tables, models_table, replay_table
from lifecycle.cli.params import AS_OF
from lifecycle.errors import ModelTampered

if TYPE_CHECKING:
    from lifecycle.application import LeadLifecycle
    from lifecycle.scoring.learned.model import Model

__all__ = ["COMMANDS"]


@click.group()
def model() -> None:
    """Learned models of conversion: train, list, show, activate, evaluate, move."""


@contextmanager
def _model_checks() -> Iterator[None]:
    """An unknown id is a usage error; altered bytes are a finding (exit 1)."""
    try:
        yield
    except LookupError as e:
        raise click.BadParameter(str(e).strip("'\""), param_hint="MODEL_ID") from None
    except ModelTampered as e:
        _tampered(e)


def _tampered(error: ModelTampered) -> NoReturn:
    click.echo(f"error: {error}", err=True)
    sys.exit(1)


@model.command("train")
@click.option("--target", type=click.Choice(["won"]), default="won", show_default=True,
              help="what the model predicts: won (positive) against lost or disqualified "
              "by a person (negative)")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2),
              help="cross-validation folds (by lead)")
@click.option("--as-of", "as_of", type=AS_OF,
              help="train only on what was recorded by then (a date: its end)")
@click.option("--min-per-class", "min_per_class", type=click.IntRange(min=1),
              help="outcomes needed of each class (won, not won) [default: 50]")
@click.option("--sales", is_flag=True,
              help="also read sales actions (stages, BANT): a likelihood-to-close model; "
              "they leak the outcome into a conversion model")
@click.option("--activate", "make_active", is_flag=True,
              help="make the new model the active one")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def model_train(target: str, folds: int, as_of: datetime | None, min_per_class: int | None,
                sales: bool, make_active: bool, as_json: bool) -> None:
    """Train a model on the leads whose outcome is known, store it, print its metrics."""
    from lifecycle.scoring.learned import training

    if min_per_class is not None and min_per_class < 2 * folds:
        raise click.BadParameter(
            f"{min_per_class} is below folds × 2 ({2 * folds}): each fold must test at "
            "least 2 leads of each class", param_hint="--min-per-class")
    with opened_app() as app:
        data = training.examples(app, as_of=as_of, sales=sales)
        artifact = training.train(
            data, folds=folds, sales=sales, as_of=as_of, created_at=app.clock(),
            min_per_class=training.MIN_PER_CLASS if min_per_class is None else min_per_class)
        model_id = app.models.save(artifact)
        if make_active:
            app.models.activate(model_id)
    out = {"model_id": model_id, "activated": make_active,
           "created_at": artifact.created_at, "as_of": artifact.as_of,
           "first_outcome": artifact.first_outcome, "last_outcome": artifact.last_outcome,
           **artifact.metrics}
    if as_json:
        print_json(out)
        return
    console = Console()
    console.print(f"model [bold]{model_id}[/bold] trained on outcomes from "
                  f"{artifact.first_outcome:%Y-%m-%d} to {artifact.last_outcome:%Y-%m-%d}"
                  + (" and activated" if make_active else
                     f" (activate it: lifecycle model activate {model_id})"))
    for table in metrics_tables(out):
        console.print(table)


@model.command("list")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def model_list(as_json: bool) -> None:
    """Every stored model, oldest first, with its accuracy."""
    with opened_app() as app:
        stored = app.models.list()
    rows = [{"model_id": s.model_id, "active": s.active, "created_at": s.created_at,
             "stored_at": s.stored_at, "content_hash": s.content_hash, **_summary(s.metrics)}
            for s in stored]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no model is stored: train one with `lifecycle model train`")
        return
    Console().print(models_table(rows))


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = ("tampered", "as_of", "first_outcome", "last_outcome", "n_train", "n_positive",
            "cv_auc", "baseline_auc", "rules_auc", "pr_auc")
    return {k: metrics[k] for k in keys if k in metrics}


@model.command("show")
@click.argument("model_id")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def model_show(model_id: str, as_json: bool) -> None:
    """A model: its training window, features, metrics, calibration, lift, factors."""
    with opened_app() as app, _model_checks():
        loaded = app.models.load(model_id)
        active = app.models.active_id() == model_id
    out = _describe(loaded, active)
    if as_json:
        print_json(out)
        return
    console = Console()
    console.print(f"model [bold]{model_id}[/bold]" + (" (active)" if active else "")
                  + f": {len(out['feature_names'])} features, trained on outcomes from "
                  f"{out['first_outcome']:%Y-%m-%d} to {out['last_outcome']:%Y-%m-%d}")
    for table in metrics_tables(out):
        console.print(table)


def _describe(loaded: Model, active: bool) -> dict[str, Any]:
    """The model's identity and training window, then its metrics (a metric never
    replaces one of the first fields)."""
    artifact = loaded.artifact
    out: dict[str, Any] = {
        "model_id": loaded.model_id, "active": active, "target": artifact.target,
        "created_at": artifact.created_at, "as_of": artifact.as_of,
        "first_outcome": artifact.first_outcome, "last_outcome": artifact.last_outcome,
        "sales": artifact.spec.sales, "feature_names": list(artifact.spec.names),
        "params": artifact.params}
    return out | {k: v for k, v in artifact.metrics.items() if k not in out}


@model.command("activate")
@click.argument("model_id", required=False)
@click.option("--none", "deactivate", is_flag=True, help="make no model active")
def model_activate(model_id: str | None, deactivate: bool) -> None:
    """Make a model the active one (its probability then shows in `lead show` and
    `leads export`, and drives grades when the scoring file says `grading.by = "model"`)."""
    if deactivate == (model_id is not None):
        raise click.UsageError("give a MODEL_ID, or --none (not both)")
    with opened_app() as app, _model_checks():
        app.models.activate(model_id)
    click.echo("no model is active" if model_id is None else f"model {model_id} is active")


@model.command("evaluate")
@click.argument("model_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def model_evaluate(model_id: str | None, as_json: bool) -> None:
    """How a model (default: the active one) ranks the leads that closed after it was
    trained (after its --as-of, or after it was created)."""
    from lifecycle.scoring.learned import training

    with opened_app() as app, _model_checks():
        loaded = _model_of(app, model_id)
        artifact = loaded.artifact
        after = artifact.as_of or artifact.created_at
        data = training.examples(app, closed_after=after, sales=artifact.spec.sales)
        result = training.evaluate(loaded, data) if data.items else None
    out = {"model_id": loaded.model_id, "closed_after": after,
           "cv_auc": artifact.metrics.get("cv_auc"), **(result or {"n": 0})}
    if as_json:
        print_json(out)
        return
    if result is None:
        click.echo(f"no lead closed after model {loaded.model_id} was trained "
                   f"({after.isoformat()}): nothing to evaluate yet")
        return
    console = Console()
    console.print(f"model [bold]{loaded.model_id}[/bold] on {result.get('n', 0)} leads "
                  f"closed after {after:%Y-%m-%d %H:%M}")
    for table in metrics_tables(out, auc_key="auc"):
        console.print(table)


def _model_of(app: LeadLifecycle, model_id: str | None) -> Model:
    if model_id is not None:
        return app.models.load(model_id)
    active = app.models.active()
    if active is None:
        raise click.UsageError("no model is active: give a MODEL_ID (`lifecycle model list`)")
    return active


@model.command("export")
@click.argument("model_id")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="write to this file (default: standard output)")
def model_export(model_id: str, output: Path | None) -> None:
    """Write a model's artifact (its canonical bytes, verified) for `model import`."""
    with opened_app() as app, _model_checks():
        data = app.models.export_bytes(model_id)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(data)
    click.echo(f"exported model {model_id} ({len(data):,} bytes) to {output}", err=True)


@model.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "expected", metavar="MODEL_ID",
              help="refuse the file unless its content hash gives this id (the id "
              "`model list` shows where it was exported)")
@click.option("--activate", "make_active", is_flag=True, help="make it the active model")
def model_import(file: Path, expected: str | None, make_active: bool) -> None:
    """Store a model exported from another database; prints its id (the same there)."""
    from lifecycle.scoring.learned.artifact import content_hash, model_id_of

    data = file.read_bytes()
    try:
        if expected is not None and model_id_of(content_hash(data)) != expected:
            raise ModelTampered(
                f"{file} is not model {expected}: its content hash gives "
                f"{model_id_of(content_hash(data))} (the file was altered, or is another "
                "model): refused")
        with opened_app() as app:
            model_id = app.models.import_bytes(data)
            if make_active:
                app.models.activate(model_id)
    except ModelTampered as e:
        _tampered(e)
    click.echo(model_id)


@model.command("replay")
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def model_replay(as_json: bool) -> None:
    """Recompute every grade a model made from the history before it; exit 1 when one
    is not reproduced."""
    from lifecycle.scoring.learned.replay import replay_grades

    with opened_app() as app, _model_checks():
        report = replay_grades(app)
    if as_json:
        print_json({"ok": report.ok, "checked": report.checked,
                    "reproduced": report.reproduced, "mismatches": report.mismatches})
    else:
        click.echo(f"checked {report.checked:,} model-made grades: {report.reproduced:,} "
                   f"reproduced, {len(report.mismatches):,} mismatches")
        if report.mismatches:
            Console().print(replay_table(report.mismatches))
    if not report.ok:
        sys.exit(1)


COMMANDS: tuple[click.Command, ...] = (model,)
