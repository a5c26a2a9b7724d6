"""The ``lifecycle`` command through its real entry point, as a separate process.

Each run is ``python -m lifecycle ...`` with ``LIFECYCLE_DATABASE_URL`` pointing at a
SQLite file in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support import EMAIL, FIT45, T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[2]


def run(
    args: Sequence[str], *, cwd: Path, stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environment.update({
        "LIFECYCLE_DATABASE_URL": f"sqlite:///{cwd / 'lifecycle.db'}",
        "PYTHONPATH": str(REPO),
        "COLUMNS": "250",  # rich wraps long paths at the terminal width otherwise
    })
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lifecycle", *args], cwd=cwd, input=stdin, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )


def jsonl(*items: dict[str, Any] | str) -> str:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)


ADA_1 = touchpoint_data("ada-1", profile=FIT45)
ADA_2 = touchpoint_data("ada-2", "demo_requested", at=T0 + hours(1))
ACCEPT = action_data("ada-accept", "accept", at=T0 + hours(2))

# line -> (code, what the reason says); the blank line 5 is not an input
MALFORMED = {
    3: ("schema", "not JSON: "),
    4: ("schema", "touchpoint_id: Input should be a valid string"),
    6: ("schema", "colour: Extra inputs are not permitted"),
    7: ("schema", "action: Input should be 'qualify', 'accept', 'advance'"),
    8: ("unknown_lead", "no lead is known by 'email:nobody@nowhere.org'"),
    9: ("illegal_transition", "cannot win a lead in stage 'mql': only a sales-qualified lead"),
    12: ("schema", "an input must be a JSON object, got list"),
    # valid JSON the event store could not encode: once, it failed the whole batch
    13: ("schema", "not JSON: no low surrogate in string"),
}
MIXED = jsonl(
    ADA_1,                                                                  # 1 accepted
    ADA_2,                                                                  # 2 accepted
    '{"touchpoint_id": "broken", ',                                         # 3 not JSON
    {**touchpoint_data("typed"), "touchpoint_id": 5},                       # 4 wrong type
    "",                                                                     # 5 blank
    {**touchpoint_data("extra"), "colour": "blue"},                         # 6 unknown field
    {**action_data("fly-1", "note", text="x"), "action": "fly"},            # 7 unknown action
    action_data("nobody-1", "note", email="nobody@nowhere.org", text="?"),  # 8 unknown lead
    action_data("win-1", "win", at=T0 + hours(2)),                          # 9 illegal
    ADA_2,                                                                  # 10 duplicate
    ACCEPT,                                                                 # 11 accepted
    "[1, 2]",                                                               # 12 not an object
    touchpoint_data("lone", properties={"ref": "\ud800"}),                  # 13 lone surrogate
)


def reject_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_ingest_accounts_for_every_line_and_keeps_the_rejects(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(MIXED, encoding="utf-8")
    result = run(["ingest", str(source), "--json"], cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary == {"received": 12, "accepted": 3, "duplicate": 1, "rejected": 8}
    assert summary["accepted"] + summary["duplicate"] + summary["rejected"] == summary["received"]

    rejects = reject_lines(tmp_path / "events.jsonl.rejects.jsonl")
    texts = MIXED.splitlines()
    assert sorted(r["line"] for r in rejects) == sorted(MALFORMED)
    for record in rejects:
        code, reason = MALFORMED[record["line"]]
        assert set(record) == {"run", "line", "input_id", "code", "reason", "original"}
        assert record["code"] == code
        assert reason in record["reason"]
        assert record["original"] == texts[record["line"] - 1]
    by_line = {r["line"]: r for r in rejects}
    # inputs that were valid but could not be applied keep their id
    assert (by_line[8]["input_id"], by_line[9]["input_id"]) == ("nobody-1", "win-1")
    assert by_line[3]["input_id"] is None


def test_a_clean_ingest_exits_0_and_a_rerun_is_all_duplicates(tmp_path: Path) -> None:
    source = tmp_path / "clean.jsonl"
    source.write_text(jsonl(ADA_1, ADA_2, ACCEPT), encoding="utf-8")
    first = run(["ingest", str(source)], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    header, values = _table_row(first.stdout)
    assert dict(zip(header, values, strict=True)) == {
        "received": "3", "accepted": "3", "duplicate": "0", "rejected": "0"}
    assert "rejected lines appended" not in first.stdout
    assert (tmp_path / "clean.jsonl.rejects.jsonl").read_text(encoding="utf-8") == ""

    again = run(["ingest", str(source), "--json"], cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"received": 3, "accepted": 0, "duplicate": 3,
                                        "rejected": 0}


def _table_row(text: str) -> tuple[list[str], list[str]]:
    """The header and the single row of rich's summary table."""
    rows = [[c.strip() for c in line.strip("│┃ ").replace("┃", "│").split("│")]
            for line in text.splitlines() if "│" in line or "┃" in line]
    return rows[0], rows[1]


def test_ingest_from_stdin_with_a_named_reject_file(tmp_path: Path) -> None:
    rejects = tmp_path / "out" / "bad.jsonl"
    result = run(["ingest", "-", "--rejects", str(rejects)], cwd=tmp_path,
                 stdin=jsonl(ADA_1, "nonsense", ADA_2))
    assert result.returncode == 1, result.stderr
    header, values = _table_row(result.stdout)
    assert dict(zip(header, values, strict=True)) == {
        "received": "3", "accepted": "2", "duplicate": "0", "rejected": "1"}
    assert f"rejected lines appended to {rejects}" in result.stdout
    (record,) = reject_lines(rejects)
    assert (record["line"], record["code"], record["original"]) == (2, "schema", "nonsense")
    assert not (tmp_path / "rejects.jsonl").exists()


def test_ingest_from_stdin_writes_rejects_jsonl_by_default(tmp_path: Path) -> None:
    result = run(["ingest", "-", "--json"], cwd=tmp_path, stdin=jsonl("[]"))
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"received": 1, "accepted": 0, "duplicate": 0,
                                         "rejected": 1}
    (record,) = reject_lines(tmp_path / "rejects.jsonl")
    assert (record["line"], record["original"]) == (1, "[]")


def test_ingest_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["ingest", str(tmp_path / "nope.jsonl")], cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.jsonl does not exist" in result.stderr
    assert not (tmp_path / "lifecycle.db").exists()


Run = subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """``lead show`` runs against a database with one lead (ada, sales-qualified) in it.

    The runs only read, so they run side by side.
    """
    directory = tmp_path_factory.mktemp("shown")
    result = run(["ingest", "-"], cwd=directory,
                 stdin=jsonl({**ADA_1, "external_id": "crm-ada"}, ADA_2, ACCEPT))
    assert result.returncode == 0, result.stderr
    commands = {
        "json": ["lead", "show", "ADA@acme.com", "--json", "--at", "2024-03-05T09:00:00Z"],
        "people": ["lead", "show", "crm-ada"],
        "unknown": ["lead", "show", "nobody@nowhere.org"],
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {name: pool.submit(run, args, cwd=directory) for name, args in commands.items()}
    return {name: future.result() for name, future in futures.items()}


def test_lead_show_json(shown: dict[str, Run]) -> None:
    result = shown["json"]
    assert result.returncode == 0, result.stderr
    lead = json.loads(result.stdout)
    assert (lead["stage"], lead["template"], lead["grade"]) == ("sql", "generic_b2b", "warm")
    assert lead["keys"] == ["external:crm-ada", f"email:{EMAIL}"]
    assert lead["scores"]["evaluated_at"] == "2024-03-05T09:00:00+00:00"
    assert lead["scores"]["fit"]["score"] == 45.0
    events = [e["event"] for e in lead["history"]]
    assert events[-2:] == ["MarketingQualified", "SalesAccepted"]
    assert lead["events"] == len(lead["history"]) == 9
    assert lead["history"][-1]["cause"] == "action:ada-accept"


def test_lead_show_by_external_id_for_people(shown: dict[str, Run]) -> None:
    result = shown["people"]
    assert result.returncode == 0, result.stderr
    assert "external:crm-ada" in result.stdout
    assert "sql since 2024-03-04T11:00:00+00:00" in result.stdout
    assert "SalesAccepted" in result.stdout


def test_lead_show_of_an_unknown_lead_exits_2_with_a_clear_message(shown: dict[str, Run]) -> None:
    result = shown["unknown"]
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: no lead is known by 'nobody@nowhere.org'")
    assert "Traceback" not in result.stderr


def test_schema_prints_a_json_schema_the_inputs_satisfy(tmp_path: Path) -> None:
    result = run(["schema"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for item in (ADA_1, ADA_2, ACCEPT):
        assert list(validator.iter_errors(item)) == []
    assert list(validator.iter_errors({**ADA_1, "colour": "blue"})) != []
    assert not (tmp_path / "lifecycle.db").exists()  # printing the schema touches no database
