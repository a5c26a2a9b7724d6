"""Failures a user can act on: one line with the cause and what to do, no traceback.

Every run is the real ``lifecycle`` entry point in a separate process, against a real
database made unusable the way it happens to people: a full disk, a read-only file, a
folder that does not exist, a PostgreSQL server that refuses or never answers, a key
nobody ingested, a bad option. ``--debug`` (or ``LIFECYCLE_DEBUG=1``) adds the traceback.

The full disk is a file-size limit (``RLIMIT_FSIZE``, as ``ulimit -f`` sets) in the
child process: writes past it fail with ``EFBIG``, which SQLite reports as it reports a
full disk (a failed write), without mounting a small file system (which needs root).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from lifecycle.adapters.postgres.events import CONNECT_TIMEOUT
from tests.support import EMAIL, T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]


def run(
    args: Sequence[str], *, cwd: Path, database_url: str | None = None, stdin: str | None = None,
    env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environment.update({
        "LIFECYCLE_DATABASE_URL": database_url or f"sqlite:///{cwd / 'lifecycle.db'}",
        "PYTHONPATH": str(REPO), "COLUMNS": "250",
    })
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args], cwd=cwd, input=stdin, env=environment,
        capture_output=True, text=True, timeout=timeout, check=False, preexec_fn=preexec,
    )


def one_clear_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The single line the command printed on stderr, after checking there was no more."""
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def jsonl(items: Sequence[dict[str, Any] | str]) -> str:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)


def inputs(n: int, *, prefix: str = "tp") -> list[dict[str, Any]]:
    return [touchpoint_data(f"{prefix}-{i}", "email_open", at=T0 + hours(i),
                            email=f"p{i % 97}@acme.com") for i in range(n)]


# -- a full disk ----------------------------------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


# Limits that stop the run at different places: creating the schema, the first batches of
# events and keys, the projections, the write-ahead log's growth, a late batch.
LIMITS = (16_384, 65_536, 200_000, 500_000, 1_000_000, 1_500_000)


def test_a_full_disk_says_so_and_a_rerun_after_freeing_space_records_everything_once(
    tmp_path: Path,
) -> None:
    items = inputs(3_000)
    (tmp_path / "in.jsonl").write_text(jsonl(items), encoding="utf-8")
    stopped = 0
    for limit in LIMITS:
        directory = tmp_path / str(limit)
        directory.mkdir()
        url = f"sqlite:///{directory / 'lifecycle.db'}"
        full = run(["ingest", str(tmp_path / "in.jsonl"), "--json"], cwd=directory,
                   database_url=url, env={"LIFECYCLE_BATCH_SIZE": "200"},
                   preexec=_file_size_limit(limit))
        if full.returncode == 0:  # the limit was not reached: the database is that small
            continue
        stopped += 1
        line = one_clear_line(full, 3)
        assert f"cannot write to the SQLite database {directory / 'lifecycle.db'}" in line
        assert "Free space (or raise the limit) and run the same command again" in line
        # Space freed: the same command finishes; what was recorded counts as duplicate.
        again = run(["ingest", str(tmp_path / "in.jsonl"), "--json"], cwd=directory,
                    database_url=url)
        assert again.returncode == 0, again.stderr
        summary = json.loads(again.stdout)
        assert summary["received"] == len(items) == summary["accepted"] + summary["duplicate"]
        report = run(["report", "funnel", "--json"], cwd=directory, database_url=url)
        assert report.returncode == 0, report.stderr
        captured = [stage["entered"] for t in json.loads(report.stdout)["templates"]
                    for stage in t["stages"] if stage["stage"] == "captured"]
        assert sum(captured) == 97  # every lead once, none twice
    assert stopped >= len(LIMITS) - 1  # the largest limit may let a small store through


def test_a_full_disk_under_the_reject_file_says_so(tmp_path: Path) -> None:
    bad = ['{"not": "an input", "padding": "' + "x" * 4_000 + '"}'] * 200
    (tmp_path / "bad.jsonl").write_text(jsonl(bad), encoding="utf-8")
    run(["projections", "status"], cwd=tmp_path)  # the database exists, at its small size
    size = (tmp_path / "lifecycle.db").stat().st_size
    result = run(["ingest", "bad.jsonl", "--rejects", "out/rejects.jsonl"], cwd=tmp_path,
                 preexec=_file_size_limit(max(size, 65_536) * 2))
    line = one_clear_line(result, 3)
    # (Python's buffered file does not name itself in the error it raises.)
    assert line.startswith("error: cannot write"), line
    assert "a file-size limit was reached; free space (or raise the limit)" in line


# -- a database that cannot be opened or written --------------------------------------------------


def _without_root_file_access() -> None:
    """Root ignores file permissions; without CAP_DAC_OVERRIDE in its bounding set, the
    command (run by root) is held to them like anyone else."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_capbset_drop, cap_dac_override = 24, 1
        if libc.prctl(pr_capbset_drop, cap_dac_override, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.fixture
def read_only_database(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "ro"
    directory.mkdir()
    made = run(["ingest", "-"], cwd=directory, stdin=jsonl(inputs(5)))
    assert made.returncode == 0, made.stderr
    for extra in directory.glob("lifecycle.db-*"):
        extra.unlink()
    (directory / "lifecycle.db").chmod(0o444)
    directory.chmod(0o555)
    yield directory / "lifecycle.db"
    directory.chmod(0o755)


@pytest.mark.parametrize("args", [
    ["ingest", "-"], ["report", "funnel"], ["lead", "show", "p1@acme.com"],
    ["audit", "history", "p1@acme.com"], ["projections", "rebuild"],
])
def test_a_read_only_database_says_whose_write_access_is_missing(
    read_only_database: Path, tmp_path: Path, args: list[str]
) -> None:
    result = run(args, cwd=tmp_path, database_url=f"sqlite:///{read_only_database}",
                 stdin=jsonl(inputs(3, prefix="more")), preexec=_without_root_file_access)
    line = one_clear_line(result, 3)
    assert f"the SQLite database {read_only_database} is read-only for this user" in line
    assert f"give write access to the file and to {read_only_database.parent}" in line


def test_a_read_only_postgresql_database_says_so(pg_database_url: str, tmp_path: Path) -> None:
    """As a hot standby, or a database set ``default_transaction_read_only``, refuses."""
    made = run(["ingest", "-"], cwd=tmp_path, database_url=pg_database_url,
               stdin=jsonl(inputs(5)))
    assert made.returncode == 0, made.stderr
    name = pg_database_url.rsplit("/", 1)[1]
    host = urlsplit(pg_database_url).hostname
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    for args in (["ingest", "-"], ["report", "funnel"], ["lead", "show", "p1@acme.com"]):
        result = run(args, cwd=tmp_path, database_url=pg_database_url,
                     stdin=jsonl(inputs(3, prefix="more")))
        line = one_clear_line(result, 3)
        assert line.startswith(f"error: PostgreSQL at {host}:"), line
        assert "is read-only (cannot execute" in line
        assert "point LIFECYCLE_DATABASE_URL at the primary server" in line


@pytest.mark.parametrize("args", [
    ["ingest", "-"], ["report", "funnel"], ["lead", "show", EMAIL], ["projections", "status"],
    ["erase", "--yes", EMAIL], ["audit", "verify"], ["policies", "run"],
])
def test_a_database_in_a_missing_folder_says_which_folder_to_create(
    tmp_path: Path, args: list[str]
) -> None:
    path = tmp_path / "no" / "such" / "folder" / "lifecycle.db"
    result = run(args, cwd=tmp_path, database_url=f"sqlite:///{path}", stdin="")
    line = one_clear_line(result, 3)
    assert f"its folder {path.parent} does not exist: create it (mkdir -p {path.parent})" in line
    assert not path.parent.exists()


def test_a_database_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    result = run(["report", "funnel"], cwd=tmp_path, database_url=f"sqlite:///{tmp_path}")
    assert "that is a folder: name a file in it" in one_clear_line(result, 3)


def test_a_file_that_is_not_a_database_says_so(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("shopping list\n" * 200, encoding="utf-8")
    result = run(["lead", "show", EMAIL], cwd=tmp_path,
                 database_url=f"sqlite:///{tmp_path / 'notes.txt'}")
    assert "is not a SQLite database" in one_clear_line(result, 3)


# -- PostgreSQL that cannot be reached ------------------------------------------------------------


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server, or a
    firewall that swallows the handshake)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("args", [["report", "funnel"], ["ingest", "-"], ["lead", "show", EMAIL]])
def test_an_unreachable_postgresql_is_reported_within_its_connect_timeout(
    tmp_path: Path, args: list[str]
) -> None:
    # Against the same command on SQLite, timed in the same run: the machine's load (and
    # Python's start-up under it) is in both, what PostgreSQL adds is the connect timeout.
    started = time.monotonic()
    run(args, cwd=tmp_path, stdin="")
    baseline = time.monotonic() - started
    with _silent_server() as silent:
        for port, why in ((_closed_port(), "Connection refused"),
                          (silent, "timeout expired")):
            started = time.monotonic()
            result = run(args, cwd=tmp_path, stdin="",
                         database_url=f"postgresql://lc:secret@127.0.0.1:{port}/lifecycle")
            elapsed = time.monotonic() - started
            line = one_clear_line(result, 3)
            assert line.startswith(f"error: cannot connect to PostgreSQL at 127.0.0.1:{port}/"
                                   "lifecycle"), line
            assert why in line
            assert "fix LIFECYCLE_DATABASE_URL" in line
            assert "secret" not in line  # the password is not printed
            # libpq gives up after CONNECT_TIMEOUT seconds; without it the silent server
            # holds a connect for minutes (the kernel's TCP retries).
            assert elapsed - baseline < 2 * CONNECT_TIMEOUT + 2, (
                f"{elapsed:.1f} s, the same command on SQLite {baseline:.1f} s")


def test_a_missing_postgresql_database_is_named(postgres_url: str, tmp_path: Path) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/lc_no_such_database"
    result = run(["report", "funnel"], cwd=tmp_path, database_url=url)
    assert 'database "lc_no_such_database" does not exist' in one_clear_line(result, 3)


# -- an unknown lead key, on both databases -------------------------------------------------------


def test_an_unknown_lead_key_is_one_line_on_every_command_that_takes_one(
    database_url: str, tmp_path: Path
) -> None:
    made = run(["ingest", "-"], cwd=tmp_path, database_url=database_url,
               stdin=jsonl([touchpoint_data("ada-1")]))
    assert made.returncode == 0, made.stderr
    for key in ("nobody@nowhere.org", "crm-404", "5f0c3c4e-0000-4000-8000-000000000000",
                "[/]", "  "):
        for args in (["lead", "show", key], ["audit", "history", key],
                     ["audit", "as-of", key, "2024-03-05"], ["erase", "--yes", key],
                     ["audit", "verify", "--lead", key]):
            result = run(args, cwd=tmp_path, database_url=database_url)
            line = one_clear_line(result, 2)
            assert line.startswith("error: no lead is known by "), (args, line)
            assert "give the external id, the email or the lead id" in line


# -- bad options ----------------------------------------------------------------------------------


BAD_MOMENTS = ("garbage", "2024-13-01", "2024-01-01T00:00:00+25:00",
               "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "1969-12-31",
               "2200-01-01", "")


@pytest.mark.parametrize(("args", "option"), [
    (["lead", "show", EMAIL, "--at"], "'--at'"),
    (["report", "funnel", "--as-of"], "'--as-of'"),
    (["report", "cooling", "--at"], "'--at'"),
    (["report", "--html", "r.html", "--at"], "'--at'"),
    (["policies", "run", "--at"], "'--at'"),
    (["audit", "as-of", EMAIL], "'TIMESTAMP'"),
])
def test_bad_dates_are_usage_errors_naming_the_option(
    tmp_path: Path, args: list[str], option: str
) -> None:
    for value in BAD_MOMENTS:
        result = run([*args, value], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert f"Invalid value for {option}: {value!r}" in result.stderr, result.stderr
        assert not (tmp_path / "lifecycle.db").exists()  # refused before touching anything


def test_a_bad_target_is_a_usage_error(tmp_path: Path) -> None:
    for value in ("-5", "nan", "inf", "ten", "1e309"):
        result = run(["report", "forecast", "--target", value], cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Invalid value for '--target'" in result.stderr


def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    result = run(["report", "funnel"], cwd=tmp_path, env={"LIFECYCLE_BATCH_SIZE": "lots"})
    line = one_clear_line(result, 2)
    assert line.startswith("error: invalid configuration: LIFECYCLE_BATCH_SIZE: ")


# -- --debug --------------------------------------------------------------------------------------


def test_debug_shows_the_traceback_as_well(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    plain = run(["report", "funnel"], cwd=tmp_path, database_url=url)
    flagged = run(["--debug", "report", "funnel"], cwd=tmp_path, database_url=url)
    by_env = run(["report", "funnel"], cwd=tmp_path, database_url=url,
                 env={"LIFECYCLE_DEBUG": "1"})
    line = one_clear_line(plain, 3)
    for result in (flagged, by_env):
        assert result.returncode == 3
        assert result.stderr.startswith("Traceback (most recent call last):")
        assert "unable to open database file" in result.stderr
        assert result.stderr.strip().splitlines()[-1] == line


# -- erase without a terminal ---------------------------------------------------------------------


def test_erase_without_a_terminal_and_without_yes_exits_2_and_erases_nothing(
    tmp_path: Path,
) -> None:
    made = run(["ingest", "-"], cwd=tmp_path, stdin=jsonl([touchpoint_data("ada-1")]))
    assert made.returncode == 0, made.stderr
    for stdin in ("", "y\n"):  # nobody to ask, whatever is piped in
        refused = run(["erase", EMAIL], cwd=tmp_path, stdin=stdin)
        assert refused.returncode == 2, refused.stderr
        assert "add --yes to erase without asking" in refused.stderr
        assert "Traceback" not in refused.stderr
    shown = run(["lead", "show", EMAIL, "--json"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr  # still there, not erased
    erased = run(["erase", EMAIL, "--yes", "--json"], cwd=tmp_path)
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["erased_now"] is True


def test_the_readme_erases_with_yes() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    erase_lines = [line for line in readme.splitlines() if "lifecycle erase " in line]
    assert erase_lines
    assert all("--yes" in line for line in erase_lines), erase_lines


def test_a_sales_action_for_an_unknown_lead_is_a_reject_not_a_failure(tmp_path: Path) -> None:
    """The same LeadNotFound inside an input is that input's reject reason (exit 1)."""
    result = run(["ingest", "-", "--json"], cwd=tmp_path,
                 stdin=jsonl([action_data("a-1", "note", text="hi")]))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["rejected"] == 1
