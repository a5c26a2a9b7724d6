"""The CLI's translation of failures and its option types, without running a command.

``explain`` must find the real cause anywhere in an exception's chain (a full disk that
surfaced as "cannot rollback - no transaction is active"), and always answer one line;
``Moment`` must turn any text into a UTC time in range or a usage error, never raise
anything else.
"""

from __future__ import annotations

import errno
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import click
import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.cli.failures import EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_USAGE, explain
from lifecycle.cli.params import AMOUNT, AS_OF, AT, EARLIEST, LATEST
from lifecycle.errors import LeadNotFound, UnknownTemplate


def _raised_while_handling(first: BaseException, then: BaseException) -> BaseException:
    """``then``, raised while ``first`` was being handled (as a failing rollback is)."""
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit context is the point
    except BaseException as e:
        return e


@pytest.fixture(autouse=True)
def _sqlite_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", "sqlite:////data/lc/lifecycle.db")


def test_a_full_disk_hidden_behind_a_failed_rollback_is_the_cause() -> None:
    error = _raised_while_handling(
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("cannot rollback - no transaction is active"))
    failure = explain(error)
    assert failure.exit_code == EXIT_ENVIRONMENT
    assert failure.message.startswith(
        "error: cannot write to the SQLite database /data/lc/lifecycle.db: the disk is full")


def test_a_wrapped_driver_error_is_explained_by_its_cause() -> None:
    try:
        try:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        except sqlite3.Error as e:
            raise OperationalError(str(e)) from e
    except OperationalError as wrapped:
        failure = explain(wrapped)
    assert "is read-only for this user" in failure.message
    assert "/data/lc" in failure.message


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_file_system_limits_name_the_file(code: int) -> None:
    failure = explain(OSError(code, "no", "/out/rejects.jsonl"))
    assert failure.exit_code == EXIT_ENVIRONMENT
    assert failure.message.startswith("error: cannot write to /out/rejects.jsonl: ")


def test_a_lock_held_too_long_says_what_to_do() -> None:
    failure = explain(OperationalError("database is locked"))
    assert "stayed locked by another process" in failure.message
    assert failure.exit_code == EXIT_ENVIRONMENT


def test_domain_errors_keep_their_message_and_exit_2() -> None:
    failure = explain(UnknownTemplate("x", known=("saas",)))
    assert failure == type(failure)("error: unknown funnel template 'x'; loaded templates: "
                                    "saas", EXIT_USAGE)
    assert explain(LeadNotFound("k")).message.startswith("error: no lead is known by 'k': ")


def test_a_conflicting_concurrent_write_says_to_run_again() -> None:
    failure = explain(IntegrityError("UNIQUE constraint failed: stored_events.originator_id"))
    assert failure.message.startswith("error: another process changed the same leads")
    assert failure.message.endswith("run the command again")


def test_other_database_errors_are_one_line_pointing_at_debug() -> None:
    failure = explain(sqlite3.IntegrityError("UNIQUE constraint failed: x\nDETAIL: more"))
    assert failure.message == ("error: the SQLite database /data/lc/lifecycle.db failed: "
                               "UNIQUE constraint failed: x (run with --debug for the details)")


def test_an_unexpected_error_is_a_bug_report_request() -> None:
    failure = explain(RuntimeError("boom\nsecond line"))
    assert failure.exit_code == EXIT_INTERNAL
    assert failure.message.startswith("error: unexpected RuntimeError: boom — this is a bug")
    assert "\n" not in failure.message


def test_postgres_urls_are_described_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", "postgresql://lc:s3cret@db.internal:6543/crm")
    failure = explain(OperationalError("couldn't get a connection after 30.00 sec"))
    assert failure.message.startswith(
        "error: cannot connect to PostgreSQL at db.internal:6543/crm: couldn't get")
    assert "s3cret" not in failure.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_moment_in_range_or_a_usage_error(text: str) -> None:
    for kind in (AT, AS_OF):
        problem = None
        try:
            moment = kind.convert(text, None, None)
        except click.BadParameter as e:
            problem = str(e)
        if problem is not None:
            assert repr(text.strip()) in problem
            continue
        assert moment.tzinfo is not None
        assert moment.utcoffset() == timedelta(0)
        assert EARLIEST <= moment < LATEST


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
       st.booleans())
def test_every_iso_time_is_accepted_exactly_when_it_is_in_range(
    naive: datetime, offset_minutes: int, date_only: bool
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    text = naive.date().isoformat() if date_only else naive.replace(tzinfo=zone).isoformat()
    expected = (datetime.combine(naive.date(), datetime.min.time(), UTC) if date_only
                else naive.replace(tzinfo=zone).astimezone(UTC))
    try:
        moment = AT.convert(text, None, None)
    except click.BadParameter:
        assert not EARLIEST <= expected < LATEST
        return
    assert moment == expected


def test_as_of_a_date_is_the_end_of_that_day() -> None:
    assert AS_OF.convert("2026-06-30", None, None) == datetime(
        2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert AT.convert("2026-06-30", None, None) == datetime(2026, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["-1", "nan", "-inf", "inf", "1e400", "", "ten", "1,000"])
def test_bad_amounts_are_usage_errors(text: str) -> None:
    with pytest.raises(click.BadParameter):
        AMOUNT.convert(text, None, None)


def test_amounts_are_floats() -> None:
    assert AMOUNT.convert("250000", None, None) == 250_000.0
    assert AMOUNT.convert("0", None, None) == 0.0


def test_postgresql_errors_are_told_apart_by_their_sqlstate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFECYCLE_DATABASE_URL", "postgresql://lc@db:5432/crm")
    full = explain(psycopg.errors.DiskFull("could not extend file"))
    assert full.message.startswith("error: cannot write to PostgreSQL at db:5432/crm: the disk")
    denied = explain(psycopg.errors.InsufficientPrivilege("permission denied for schema x"))
    assert denied.message.startswith("error: PostgreSQL at db:5432/crm refused: permission")
    # A deadlock is an operational error too, but no connection problem.
    deadlock = explain(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert deadlock.message.startswith("error: PostgreSQL at db:5432/crm failed: deadlock")


HOSTILE_TEXT = st.lists(st.sampled_from(
    ["\x1b", "[2J", "\x07", "\x9b", "\u202e", "\u2066", "\u200b", "\r", "\x00", "a", "/"]),
    min_size=1, max_size=12).map("".join)


@settings(max_examples=60, deadline=None)
@given(text=HOSTILE_TEXT, kind=st.sampled_from(["file", "config", "domain", "bug"]))
def test_no_error_line_carries_a_raw_control_or_bidi_character(text: str, kind: str) -> None:
    # A path or a value in an error went to the terminal as it was: an ESC sequence
    # (click strips it only when stderr is not a terminal) or a U+202E reordering the line.
    from lifecycle.errors import ConfigError

    error: BaseException = {
        "file": OSError(errno.ENOENT, "No such file or directory", f"/tmp/{text}"),
        "config": ConfigError(f"scoring file {text} does not exist"),
        "domain": LeadNotFound(text),
        "bug": RuntimeError(text),
    }[kind]
    message = explain(error).message
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]",
                         message), message
