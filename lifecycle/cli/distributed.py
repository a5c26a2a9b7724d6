"""Distributed-mode commands: ``worker``, ``publish`` and ``topics``.

Everything Kafka and Faust lives in the ``streams`` package, which needs the
``[distributed]`` extra; each command loads it when it runs (:func:`_streams`), so the
embedded engine and the rest of the CLI work without it.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import click
from rich.console import Console

from lifecycle.errors import ConfigError, InputRejected, InvalidInput
from lifecycle.ingest import IngestSummary, OversizedLine, RejectWriter, read_lines, same_file
from lifecycle.reports.output import literal
from lifecycle.settings import Settings

__all__ = ["COMMANDS"]

_DISTRIBUTED_PACKAGES = frozenset({"faust", "mode", "kafka", "aiokafka"})
"""The ``[distributed]`` extra's packages (and Faust's ``mode``)."""


def _streams(module: str) -> ModuleType:
    """``streams.<module>``, or a one-line error when the ``[distributed]`` extra (Faust
    and the Kafka clients) is not installed."""
    try:
        return importlib.import_module(f"streams.{module}")
    except ModuleNotFoundError as e:
        if (e.name or "").partition(".")[0] not in _DISTRIBUTED_PACKAGES:
            raise
        raise ConfigError(f"the distributed mode needs {e.name!r}, which is not installed: "
                          "install lead-lifecycle[distributed]") from None


@click.command()
@click.option("--loglevel", default="info", show_default=True)
@click.option("--wait-for-broker", default=60.0, show_default=True,
              help="seconds to wait for Kafka at start-up")
def worker(loglevel: str, wait_for_broker: float) -> None:
    """Start a distributed worker (Kafka in, PostgreSQL store, Faust agents).

    Configuration: LIFECYCLE_KAFKA_BOOTSTRAP, LIFECYCLE_DATABASE_URL (PostgreSQL),
    LIFECYCLE_TOPIC_PREFIX, LIFECYCLE_PARTITIONS, LIFECYCLE_REPLICATION,
    LIFECYCLE_WORKER_BATCH, LIFECYCLE_WORKER_ENGINE (process: the engine in a child
    process; thread: in this one), LIFECYCLE_WORKER_WEB_PORT (0: no web server). Start
    more workers to share the partitions.
    """
    ensure_topics = _streams("topics").ensure_topics
    run_worker = _streams("app").run_worker

    settings = Settings()
    deadline = time.monotonic() + wait_for_broker
    while True:
        try:
            created = ensure_topics(settings)
            break
        except Exception as e:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"Kafka at {settings.kafka_bootstrap} did not answer within "
                    f"{wait_for_broker:g} s: {e}") from None
            time.sleep(1.0)
    if created:
        click.echo(f"created topics: {', '.join(created)}", err=True)
    run_worker(settings, loglevel=loglevel)


@click.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def publish(file: Path, rejects_path: Path | None, as_json: bool) -> None:
    """Validate a JSONL FILE and publish it to the touchpoints topic.

    Invalid lines are not sent: they go to the reject file. Exit 1 when any was rejected.
    """
    from lifecycle.contracts import parse_inbound_json

    TouchpointPublisher = _streams("client").TouchpointPublisher

    settings = Settings()
    if rejects_path is None:
        rejects_path = Path("rejects.jsonl") if str(file) == "-" else Path(f"{file}.rejects.jsonl")
    summary = IngestSummary()
    if same_file(sys.stdin.buffer if str(file) == "-" else file, rejects_path):
        raise click.BadParameter(f"{rejects_path} is the input itself: give a reject file "
                                 "that is not the input", param_hint="--rejects")
    stream = sys.stdin.buffer if str(file) == "-" else file.open("rb")
    try:
        with RejectWriter(rejects_path) as rejects, TouchpointPublisher(
            settings.kafka_bootstrap, topic=settings.touchpoints_topic
        ) as publisher:
            for number, text, _ in read_lines(stream, max_bytes=settings.limits.max_input_bytes):
                if not text:
                    continue
                summary.received += 1
                if isinstance(text, OversizedLine):
                    summary.rejected += 1
                    rejects.write(number, InvalidInput.code, text.reason, text)
                    continue
                try:
                    publisher.publish(parse_inbound_json(text, limits=settings.limits))
                except InputRejected as e:
                    summary.rejected += 1
                    rejects.write(number, e.code, str(e), text)
                    continue
                summary.accepted += 1
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    data = {"received": summary.received, "published": summary.accepted,
            "rejected": summary.rejected}
    if as_json:
        click.echo(json.dumps(data))
    else:
        # literal: a rejects path with "[x]" in it is a path, not markup
        Console().print(literal(f"published {summary.accepted} of {summary.received} inputs "
                                f"to {settings.touchpoints_topic}; {summary.rejected} rejected"
                                + (f" (see {rejects_path})" if summary.rejected else "")))
    sys.exit(0 if summary.rejected == 0 else 1)


@click.group()
def topics() -> None:
    """Kafka topics of the distributed mode."""


@topics.command("create")
def topics_create() -> None:
    """Create the touchpoints, lead-events and dead-letter topics if missing."""
    settings = Settings()
    created = _streams("topics").ensure_topics(settings)
    click.echo(f"created: {', '.join(created) or 'nothing (all exist)'}")


COMMANDS: tuple[click.Command, ...] = (worker, publish, topics)
