"""``lead show`` and ``audit history`` show whether a lead can be contacted and the
properties its touchpoints and sales actions carried (through the real entry point)."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.cli.test_cli import jsonl, run
from tests.support import FIT45, T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

Run = subprocess.CompletedProcess[str]
KEYS = {"email": None, "external_id": "crm-42"}


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """One lead known by a CRM id only, with a touchpoint's and an action's properties."""
    directory = tmp_path_factory.mktemp("properties")
    first = {**touchpoint_data("t-1", profile=FIT45, properties={"segment": "smb"}), **KEYS}
    qualify = {**action_data("a-1", "qualify", at=T0 + hours(1), rule="fair",
                             text="met at the fair",
                             properties={"segment": "enterprise", "team": "emea"}), **KEYS}
    ingested = run(["ingest", "-"], cwd=directory,
                   stdin=jsonl({k: v for k, v in first.items() if v is not None},
                               {k: v for k, v in qualify.items() if v is not None}))
    assert ingested.returncode == 0, ingested.stderr
    commands = {
        "json": ["lead", "show", "crm-42", "--json"],
        "people": ["lead", "show", "crm-42"],
        "history": ["audit", "history", "crm-42", "--json"],
        "table": ["audit", "history", "crm-42"],
    }
    with ThreadPoolExecutor(len(commands)) as pool:
        futures = {name: pool.submit(run, args, cwd=directory) for name, args in commands.items()}
    return {name: future.result() for name, future in futures.items()}


def test_lead_show_says_contactable_and_lists_properties(shown: dict[str, Run]) -> None:
    result = shown["json"]
    assert result.returncode == 0, result.stderr
    lead = json.loads(result.stdout)
    assert (lead["stage"], lead["contactable"], lead["emails"]) == ("mql", False, [])
    assert lead["properties"] == {"segment": "smb", "team": "emea"}  # first value wins
    people = shown["people"]
    assert people.returncode == 0, people.stderr
    assert "no (neither email nor phone known)" in people.stdout
    assert "segment=smb, team=emea" in people.stdout


def test_audit_history_shows_the_properties_of_touchpoints_and_actions(
    shown: dict[str, Run],
) -> None:
    result = shown["history"]
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["history"]
    carried = [(r["event"], r["detail"]["properties"]) for r in rows
               if "properties" in r["detail"]]
    assert carried == [("TouchpointRecorded", {"segment": "smb"}),
                       ("PropertiesNoted", {"segment": "enterprise", "team": "emea"})]
    mql = next(r for r in rows if r["event"] == "MarketingQualified")
    assert (mql["detail"]["rule"], mql["detail"]["text"]) == ("qualify:fair", "met at the fair")
    table = shown["table"]
    assert table.returncode == 0, table.stderr
    assert '{"segment": "enterprise", "team": "emea"}' in table.stdout
