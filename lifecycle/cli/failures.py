"""What the ``lifecycle`` command says when a command fails: one line a user can act on.

The entry point (:func:`lifecycle.cli.main`) hands every exception that escapes a
command to :func:`explain`, and prints the line it returns (the traceback too with
``--debug`` or ``LIFECYCLE_DEBUG=1``). Known causes are matched by class and, for the
database drivers, by their error code or message, anywhere in the exception's chain: a
full disk often surfaces as a later error ("cannot rollback - no transaction is
active") whose context is the real cause. The most specific rule wins.

Exit statuses::

    0    done
    1    done, and it found something: rejected inputs, a broken chain, drift
    2    a usage, configuration or input error: the command did nothing wrong to fix
    3    the database, the disk or a file could not be used: fix that, run it again
    70   an unexpected error (a bug): run again with --debug and report the traceback
    130  interrupted
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from eventsourcing.persistence import IntegrityError, PersistenceError
from pydantic import ValidationError

from lifecycle.adapters.protocol import LOCK_WAIT_SECONDS
from lifecycle.errors import LeadNotFound, LifecycleError
from lifecycle.reports.output import visible

__all__ = ["EXIT_ENVIRONMENT", "EXIT_INTERNAL", "EXIT_USAGE", "Failure", "explain"]

EXIT_USAGE = 2
EXIT_ENVIRONMENT = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h


@dataclass(frozen=True, slots=True)
class Failure:
    """What to print (one line) and the exit status."""

    message: str
    exit_code: int


@dataclass(frozen=True, slots=True)
class _Database:
    """The configured database, described for people (no password)."""

    url: str

    @property
    def sqlite_path(self) -> Path | None:
        """The database's file, when it is one (an embedded database)."""
        from lifecycle.adapters import database_file

        try:
            return database_file(self.url)
        except LifecycleError:
            return None

    def __str__(self) -> str:
        from lifecycle.adapters import describe

        try:
            return describe(self.url)
        except LifecycleError:
            return f"the database {urlsplit(self.url).scheme}://…"


def _configured_database() -> _Database:
    from lifecycle.settings import Settings

    try:
        return _Database(Settings().database_url)
    except (ValidationError, LifecycleError):
        return _Database(os.environ.get("LIFECYCLE_DATABASE_URL", "sqlite:///lifecycle.db"))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what caused it (or happened while handling it), innermost last."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sqlstate(error: BaseException) -> str | None:
    state = getattr(error, "sqlstate", None)
    return state if isinstance(state, str) else None


def _db_errors() -> tuple[type[BaseException], ...]:
    # Every backend's driver errors (loaded on a failure only: the adapters import them).
    from lifecycle.adapters import driver_errors

    return (*driver_errors(), PersistenceError)


def _is_db_error(error: BaseException) -> bool:
    return isinstance(error, _db_errors())


# -- rules, most specific first -------------------------------------------------------------

Rule = Callable[[BaseException, _Database], Failure | None]


def _disk_full(error: BaseException, db: _Database) -> Failure | None:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        where = f" to {error.filename}" if error.filename else ""
        why = ("a file-size limit was reached" if error.errno == errno.EFBIG else
               "the disk is full" if error.errno == errno.ENOSPC else "the disk quota is used up")
        return Failure(f"error: cannot write{where}: {why}; free space (or raise the limit) "
                       "and run the command again", EXIT_ENVIRONMENT)
    text = str(error).lower()
    full = _sqlstate(error) == "53100" or (_is_db_error(error) and "disk is full" in text)
    failed_write = _is_db_error(error) and "disk i/o error" in text  # SQLite, e.g. EFBIG
    if not (full or failed_write):
        return None
    why = ("the disk is full or a file-size limit was reached" if full else
           "writing failed (a full disk, a file-size limit or a failing disk)")
    return Failure(f"error: cannot write to {db}: {why}; what the command was writing was "
                   "rolled back. Free space (or raise the limit) and run the same command "
                   "again: inputs already recorded count as duplicates", EXIT_ENVIRONMENT)


def _read_only(error: BaseException, db: _Database) -> Failure | None:
    text = str(error).lower()
    if isinstance(error, _db_errors()) and "readonly database" in text:
        path = db.sqlite_path
        folder = path.parent if path is not None else "its folder"
        return Failure(
            f"error: {db} is read-only for this user: give write access to the file and "
            f"to {folder} (SQLite writes its -wal and -shm files beside it), or set "
            "LIFECYCLE_DATABASE_URL to a database you can write", EXIT_ENVIRONMENT)
    state = _sqlstate(error)
    if state == "25006":  # a read-only transaction: a standby, default_transaction_read_only
        return Failure(f"error: {db} is read-only ({_first_line(error)}): point "
                       "LIFECYCLE_DATABASE_URL at the primary server or a writable database",
                       EXIT_ENVIRONMENT)
    if state == "42501":  # insufficient privilege
        return Failure(f"error: {db} refused: {_first_line(error)}; grant this user the "
                       "privileges the engine needs (create tables in the schema, read and "
                       "write its tables), or connect as a user who has them",
                       EXIT_ENVIRONMENT)
    return None


def _cannot_open(error: BaseException, db: _Database) -> Failure | None:
    path = db.sqlite_path
    if path is None or not isinstance(error, _db_errors()):
        return None
    if "unable to open database file" not in str(error).lower():
        return None
    if path.is_dir():
        why = "that is a folder: name a file in it"
    elif not path.parent.exists():
        why = (f"its folder {path.parent} does not exist: create it "
               f"(mkdir -p {path.parent}) or fix LIFECYCLE_DATABASE_URL")
    else:
        why = (f"check that this user may read and write it and its folder {path.parent}, "
               "or fix LIFECYCLE_DATABASE_URL")
    return Failure(f"error: cannot open {db}: {why}", EXIT_ENVIRONMENT)


def _not_a_database(error: BaseException, db: _Database) -> Failure | None:
    if isinstance(error, _db_errors()) and "file is not a database" in str(error).lower():
        return Failure(f"error: {db} is not a SQLite database: point LIFECYCLE_DATABASE_URL "
                       "at the engine's database file", EXIT_ENVIRONMENT)
    return None


def _locked(error: BaseException, db: _Database) -> Failure | None:
    from lifecycle.adapters import is_busy

    if is_busy(error):
        return Failure(f"error: {db} stayed locked by another process for more than "
                       f"{LOCK_WAIT_SECONDS:g} s: let the other command finish (or stop it) "
                       "and run this one again", EXIT_ENVIRONMENT)
    return None


def _unreachable(error: BaseException, db: _Database) -> Failure | None:
    from lifecycle.adapters import is_unreachable

    if is_unreachable(error) or (isinstance(error, PersistenceError)
                                 and "couldn't get a connection" in str(error)):
        return Failure(f"error: cannot connect to {db}: {_first_line(error)}; start the "
                       "server, or fix LIFECYCLE_DATABASE_URL (host, port, user, password, "
                       "database)", EXIT_ENVIRONMENT)
    return None


def _concurrent_write(error: BaseException, db: _Database) -> Failure | None:
    # The event store refused a lead's next version: another process wrote it first
    # (``ingest`` retries this itself; a policy run or an erase does not).
    if isinstance(error, IntegrityError):
        return Failure(f"error: another process changed the same leads in {db} at the same "
                       "moment; nothing of this step was saved: run the command again",
                       EXIT_ENVIRONMENT)
    return None


def _configuration(error: BaseException, db: _Database) -> Failure | None:
    if not isinstance(error, ValidationError):
        return None
    problems = "; ".join(
        f"LIFECYCLE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
        for e in error.errors())
    return Failure(f"error: invalid configuration: {problems}", EXIT_USAGE)


def _domain(error: BaseException, db: _Database) -> Failure | None:
    if isinstance(error, LeadNotFound):  # a command's KEY (an input's is a reject instead)
        return Failure(f"error: no lead is known by {error.key!r}: give the external id, the "
                       "email or the lead id of a lead that was ingested", EXIT_USAGE)
    if isinstance(error, LifecycleError):
        return Failure(f"error: {error}", EXIT_USAGE)
    return None


def _file(error: BaseException, db: _Database) -> Failure | None:
    if isinstance(error, OSError) and error.filename is not None:
        return Failure(f"error: cannot use {error.filename}: {error.strerror or error}",
                       EXIT_ENVIRONMENT)
    return None


def _database(error: BaseException, db: _Database) -> Failure | None:
    if _is_db_error(error):
        return Failure(f"error: {db} failed: {_first_line(error)} (run with --debug for "
                       "the details)", EXIT_ENVIRONMENT)
    return None


_RULES: tuple[Rule, ...] = (
    _disk_full, _read_only, _cannot_open, _not_a_database, _locked, _unreachable,
    _concurrent_write, _configuration, _domain, _file, _database,
)


def explain(error: BaseException) -> Failure:
    """The line to print and the exit status for an error that ended a command."""
    db = _configured_database()
    chain = list(_chain(error))
    for rule in _RULES:
        for cause in chain:
            failure = rule(cause, db)
            if failure is not None:
                # visible(): a path or value in the message may hold an escape sequence or
                # a bidi override, which would reach the terminal as it is.
                return Failure(visible(failure.message), failure.exit_code)
    return Failure(visible(f"error: unexpected {type(error).__name__}: {_first_line(error)} — "
                           "this is a bug: run again with --debug and report the traceback"),
                   EXIT_INTERNAL)
