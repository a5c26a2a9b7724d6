"""Fuzzing the whole ingest path on SQLite and PostgreSQL.

Hypothesis writes files of lines — random bytes, random JSON, and valid touchpoints and
sales actions with one field replaced by a hostile value (dates that leave the calendar,
odd offsets, NUL and other control characters, invalid UTF-8, huge numbers, NaN-like
text, deep nesting, wrong types) — and ingests them with ``ingest_lines`` as the CLI
does. Whatever the file holds:

- ingest never raises, and ``accepted + duplicate + rejected = received``, where every
  non-blank line is received;
- every rejected line is in the reject file, in order, byte for byte;
- the projections advance and the funnel and forecast reports serialise, as the CLI's
  ``--json`` does, to JSON that a strict parser reads (no NaN, no Infinity).

Budget: ``hypothesis_budget(60)`` files per database in the suite (each up to 16 lines);
``HYPOTHESIS_PROFILE=long`` tries twenty times more (see README, Testing).
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.application import LeadLifecycle
from lifecycle.cli.core import print_json
from lifecycle.ingest import RejectWriter, ingest_lines, read_lines
from lifecycle.projections import build_runner
from lifecycle.reports import build_report
from lifecycle.scoring import ScoringConfig
from lifecycle.settings import Settings
from lifecycle.templates import TemplateRegistry
from tests.cli.test_cli import run
from tests.support import T0, action_data, counts, hours, hypothesis_budget, touchpoint_data

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
EMAILS = [f"p{i}@acme.com" for i in range(4)]

FUZZ = settings(
    max_examples=hypothesis_budget(60), deadline=None,
    # One database per test on purpose: later files meet the leads of earlier ones.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


# -- lines ---------------------------------------------------------------------------------

def _valid_touchpoint(n: int, email: str, kind: str, hour: int) -> dict[str, Any]:
    return touchpoint_data(f"tp-{n}", kind, email=email, at=T0 + hours(hour),
                           profile={"employees": 50, "country": "DE", "name": "Ada"},
                           properties={"page": "/pricing", "n": 3})


def _valid_action(n: int, email: str, kind: str, hour: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "accept": {"skip_reason": "called us"}, "bant": {"budget": True, "need": False},
        "win": {"amount": 12_000.5, "currency": "EUR", "skip_reason": "fast track"},
        "lose": {"reason": "competitor_won", "competitor": "Initech"},
        "note": {"text": "called\nno answer"}, "advance": {"stage": "proposal",
                                                         "skip_reason": "asked"},
    }
    return action_data(f"act-{n}", kind, email=email, at=T0 + hours(hour), **fields[kind])


valid_inputs = st.builds(
    lambda n, email, make, hour: make[0](n, email, make[1], hour),
    st.integers(0, 40), st.sampled_from(EMAILS),
    st.sampled_from([(_valid_touchpoint, k) for k in ("page_view", "demo_requested",
                                                      "form_submit")]
                    + [(_valid_action, k) for k in ("accept", "bant", "win", "lose", "note",
                                                    "advance")]),
    st.integers(0, 2000),
)

CONTROL = st.sampled_from([chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]])
RAW = object()  # marks a value written into the JSON text as is


def _deep(depth: int, kind: str) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


hostile_values = st.one_of(
    # times: outside the calendar in UTC, outside the window, no offset, not ISO
    st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59",
                     "9999-12-31T23:00:00-05:00", "1969-12-31T23:59:59Z",
                     "2999-01-01T00:00:00Z", "2024-02-30T10:00:00Z", "2024-03-04T25:00:00Z",
                     "2024-03-04T09:00:00+24:00", "2024-03-04T09:00:00", "2024-03-04",
                     "1717243200", "", " ", "now"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.isoformat() + "+23:59"),
    # control characters anywhere in a string
    st.tuples(st.text(max_size=5), CONTROL, st.text(max_size=5)).map("".join),
    # numbers: huge, tiny, negative, beyond 64 bits, NaN-like text
    st.sampled_from([1e308, -1e308, 5e-324, -1, -0.0, 2**63, 2**64, 10**30, -(10**30),
                     1e12 + 1, "NaN", "Infinity", "-Infinity", "1e400", "0x10"]),
    st.sampled_from([(RAW, "NaN"), (RAW, "Infinity"), (RAW, "-Infinity"), (RAW, "1e400"),
                     (RAW, "123456789012345678901234567890"), (RAW, "-0"), (RAW, "01")]),
    # wrong types
    st.sampled_from([True, False, None, 0, 1, [], {}, [1, 2], {"a": 1}, "yes", "true"]),
    # deep nesting and many keys
    st.builds(_deep, st.integers(5, 300), st.sampled_from(["list", "dict"])),
    st.integers(200, 400).map(lambda n: {f"k{i}": i for i in range(n)}),
    # odd codes and addresses
    st.sampled_from(["<b>", "€€€", "123", "eur", "XXX", "a@b@c.com", "@", "a@localhost",
                     "[red]x@y.com", "x" * 10_000]),
    st.text(max_size=20),
)

FIELDS = ["occurred_at", "email", "external_id", "source", "actor", "touchpoint_id",
          "action_id", "kind", "channel", "template", "profile", "properties", "amount",
          "currency", "reason", "competitor", "budget", "text", "stage", "skip_reason"]


def _encode(data: dict[str, Any], raw: dict[str, str]) -> bytes:
    text = json.dumps(data, ensure_ascii=False)
    for marker, token in raw.items():
        text = text.replace(json.dumps(marker), token)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated_inputs(draw: st.DrawFn) -> bytes:
    data = dict(draw(valid_inputs))
    raw: dict[str, str] = {}
    for _ in range(draw(st.integers(1, 2))):
        field = draw(st.sampled_from([*FIELDS, "profile.employees", "profile.name",
                                      "properties.key", "properties.value"]))
        value = draw(hostile_values)
        if isinstance(value, tuple):
            marker = f"@@raw{len(raw)}@@"
            raw[marker], value = value[1], marker
        if field.startswith("profile."):
            profile = data.get("profile")  # a first mutation may have replaced it
            data["profile"] = {**(profile if isinstance(profile, dict) else {}),
                               field.split(".")[1]: value}
        elif field == "properties.key":
            data["properties"] = {str(value): 1}
        elif field == "properties.value":
            data["properties"] = {"v": value}
        else:
            data[field] = value
    line = _encode(data, raw)
    if draw(st.integers(0, 5)) == 0:  # invalid UTF-8 somewhere in the line
        at = draw(st.integers(0, len(line)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80"]))
        line = line[:at] + bad + line[at:]
    return line


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=12,
)

lines = st.lists(
    st.one_of(
        valid_inputs.map(lambda d: json.dumps(d).encode()),
        mutated_inputs(),
        mutated_inputs(),
        st.binary(max_size=120),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6).map(
            lambda d: json.dumps(d).encode()),
    ).map(lambda b: b.replace(b"\n", b" ")),  # one input per line
    min_size=1, max_size=16,
)


# -- the invariant -------------------------------------------------------------------------

def _is_blank(line: bytes, number: int) -> bool:
    try:
        text = line.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return False
    # Only JSON's blanks: a line of NBSP or form feeds is an input (and rejected).
    return not text.removeprefix("\ufeff").strip(" \t\r\n")


def _refuse(token: str) -> float:
    raise ValueError(f"not JSON: {token}")


def strict_json(text: str) -> Any:
    """Parses like a strict JSON parser: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=_refuse)


def reports_as_cli_prints_them(app: LeadLifecycle, capsys: pytest.CaptureFixture[str],
                               ) -> None:
    runner = build_runner(app)
    try:
        runner.run()
        for name in ("funnel", "forecast"):
            data = build_report(name, runner.store, app.templates, app.scoring, at=NOW)
            print_json(data)
            strict_json(capsys.readouterr().out)
    finally:
        runner.store.close()


def check_ingest(app: LeadLifecycle, rejects_path: Path, file: list[bytes],
                 batch_size: int) -> None:
    raw = b"\n".join(file) + b"\n"
    with RejectWriter(rejects_path) as rejects:
        summary = ingest_lines(app, read_lines(io.BytesIO(raw)), rejects,
                               batch_size=batch_size)
    inputs = {n: line.rstrip(b"\r") for n, line in enumerate(file, start=1)
              if not _is_blank(line, n)}
    assert summary.received == len(inputs)
    assert summary.accepted + summary.duplicate + summary.rejected == summary.received
    records = [strict_json(x) for x in rejects_path.read_text(encoding="utf-8").splitlines()]
    assert len(records) == summary.rejected
    assert [r["line"] for r in records] == sorted(r["line"] for r in records)
    for record in records:
        original = base64.b64decode(record["original_b64"]) if record.get("invalid_utf8") \
            else record["original"].encode("utf-8")
        expected = inputs[record["line"]]
        expected = expected.removeprefix(b"\xef\xbb\xbf")  # a BOM starts no input
        assert original == expected, record
        assert record["code"]
        assert record["reason"]


@pytest.fixture
def app(database_url: str, templates: TemplateRegistry,
        scoring: ScoringConfig) -> Iterator[LeadLifecycle]:
    app = LeadLifecycle(Settings(database_url=database_url), templates=templates,
                        scoring=scoring, clock=lambda: NOW)
    yield app
    app.close()


@FUZZ
@given(file=lines, batch_size=st.integers(1, 8))
def test_no_file_breaks_ingest_or_the_reports(
    app: LeadLifecycle, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    file: list[bytes], batch_size: int,
) -> None:
    path = tmp_path / f"rejects-{next(_COUNTER)}.jsonl"
    check_ingest(app, path, file, batch_size)
    reports_as_cli_prints_them(app, capsys)


_COUNTER = itertools.count()


# -- the same through the command line, on both databases ----------------------------------

CORPUS = [
    json.dumps(touchpoint_data("c-1", email="c1@acme.com")).encode(),
    json.dumps({**touchpoint_data("c-2", email="c2@acme.com"),
                "occurred_at": "9999-12-31T23:00:00-05:00"}).encode(),
    json.dumps(touchpoint_data("c-3", email="c3@acme.com", source="a\u0000b")).encode(),
    json.dumps(action_data("c-4", "win", email="c1@acme.com", amount=1e308,
                           currency="EUR")).encode(),
    json.dumps(action_data("c-5", "accept", email="c1@acme.com", skip_reason="called us",
                           at=T0 + hours(1))).encode(),
    json.dumps(action_data("c-6", "win", email="c1@acme.com", amount=9.99e11,
                           currency="JPY", at=T0 + hours(2), skip_reason="x")).encode(),
    b'{"touchpoint_id": "c-7", "properties": {"n": NaN}}',
    json.dumps(touchpoint_data("c-8", email="caf@acme.com")).encode().replace(b"caf@",
                                                                              b"caf\xe9@"),
    json.dumps({**touchpoint_data("c-9", email="c9@acme.com"),
                "properties": {"a": _deep(400, "list")}}).encode(),
]


def test_the_cli_ingests_hostile_files_and_reports_stay_strict_json(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join(CORPUS) + b"\n")
    env = {"LIFECYCLE_DATABASE_URL": database_url}
    result = run(["ingest", str(source), "--json"], cwd=tmp_path, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1
    summary = strict_json(result.stdout)
    assert counts(summary) == {"received": 9, "accepted": 3, "duplicate": 0, "rejected": 6}
    for name in ("funnel", "forecast"):
        report = run(["report", name, "--json", "--at", NOW.isoformat()], cwd=tmp_path, env=env)
        assert report.returncode == 0, report.stderr
        data = strict_json(report.stdout)
        assert data
        assert all(not isinstance(v, float) or math.isfinite(v) for v in _leaves(data))


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value
