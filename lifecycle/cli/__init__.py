"""The ``lifecycle`` command.

Each area registers its subcommands here: the core (ingest, lead, schema), and the
modules that build on it; packages beside the engine add theirs through the
``lifecycle.commands`` entry point (``lifecycle demo`` from ``demo``). :func:`main` is
the one place where a failure becomes what the user reads: one line with the cause and
what to do (:mod:`lifecycle.cli.failures`), the traceback only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from lifecycle import __version__
from lifecycle.cli.failures import explain

__all__ = ["main"]


class _Invocation:
    """What the group's options say about the whole run (``ctx.obj`` of the root)."""

    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit status: 0 done; 1 done, with findings (rejected inputs, a broken "
             "chain, drift); 2 usage, configuration or input error; 3 the database, disk or "
             "a file could not be used; 70 unexpected error (a bug); 130 interrupted.")
@click.version_option(__version__, prog_name="lifecycle")
@click.option("--debug", is_flag=True, envvar="LIFECYCLE_DEBUG",
              help="on failure, show the traceback too (or set LIFECYCLE_DEBUG=1)")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Event-sourced lead lifecycle engine.

    Configuration comes from LIFECYCLE_* environment variables; the database is
    LIFECYCLE_DATABASE_URL (default: sqlite:///lifecycle.db in this directory).
    """
    if isinstance(ctx.obj, _Invocation):
        ctx.obj.debug = debug


COMMAND_GROUP = "lifecycle.commands"
"""The entry-point group through which packages beside the engine add commands (the
``demo`` package adds ``lifecycle demo``): the engine never imports them."""


def _register() -> None:
    from lifecycle.cli import audit, core, distributed, importing, leads, model, reporting

    for module in (core, importing, leads, reporting, distributed, audit, model):
        for command in module.COMMANDS:
            cli.add_command(command)
    _register_entry_points()


def _register_entry_points() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=COMMAND_GROUP):
        if entry.name in cli.commands:
            continue  # the engine's own command of that name stays
        try:
            command = entry.load()
        except Exception as e:
            # One broken add-on must not take every other command with it.
            click.echo(f"lifecycle: the command {entry.name!r} ({entry.value}) could not be "
                       f"loaded: {type(e).__name__}: {e}", err=True)
            continue
        if isinstance(command, click.Command):
            cli.add_command(command, entry.name)


def _debug_from_environment() -> bool:
    return os.environ.get("LIFECYCLE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def main() -> None:
    """Entry point: runs the command; a failure becomes one clear line and an exit status."""
    _register()
    invocation = _Invocation()
    try:
        # Not standalone: click would print its own errors and exit; here every
        # failure ends in one place. ``--help``, ``--version`` and ``ctx.exit(n)`` return n.
        status = cli.main(standalone_mode=False, obj=invocation)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (``lifecycle report … | head``): nothing left to say, and
        # flushing stdout at exit must not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:
        if invocation.debug or _debug_from_environment():
            traceback.print_exception(e)
        failure = explain(e)
        click.echo(failure.message, err=True)
        sys.exit(failure.exit_code)
    sys.exit(status if isinstance(status, int) else 0)
