"""The ``lifecycle`` command.

Each area registers its subcommands here: the core (ingest, lead, schema), and the
modules that build on it.
"""

from __future__ import annotations

import sys

import click

from lifecycle import __version__
from lifecycle.errors import LifecycleError

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lifecycle")
def cli() -> None:
    """Event-sourced lead lifecycle engine.

    Configuration comes from LIFECYCLE_* environment variables; the database is
    LIFECYCLE_DATABASE_URL (default: sqlite:///lifecycle.db in this directory).
    """


def _register() -> None:
    from lifecycle.cli import audit, core, distributed, reporting

    for module in (core, reporting, distributed, audit):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    """Entry point: domain and configuration errors become one clear line, exit 2."""
    _register()
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except LifecycleError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    sys.exit(0)
