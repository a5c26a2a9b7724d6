"""The auditor's workflow through the real ``lifecycle`` entry point, as separate
processes, with its exit statuses: anchor the store, keep the file, verify against it
(0 intact, 1 altered, 2 the anchor cannot be used), and ``audit projections`` (1 when a
projection is behind the store)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lifecycle.chain import HASH_LEN, HEADS_TABLE
from tests.cli.test_cli import jsonl, run
from tests.support import T0, hours, touchpoint_data

pytestmark = pytest.mark.integration

KEY = {"LIFECYCLE_AUDIT_KEY": "an-auditor-key-of-32-characters!"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    lines = []
    for n, email in enumerate(("ada@acme.com", "grace@navy.mil", "alan@bletchley.uk")):
        lines += [touchpoint_data(f"c{n}", "form_submit", email=email, at=T0 + hours(n)),
                  touchpoint_data(f"d{n}", "demo_requested", email=email, at=T0 + hours(n + 1)),
                  touchpoint_data(f"p{n}", "page_view", email=email, at=T0 + hours(n + 2))]
    (tmp_path / "in.jsonl").write_text(jsonl(*lines))
    done = run(["ingest", "in.jsonl"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def lead_id(folder: Path, email: str) -> str:
    shown = run(["lead", "show", email, "--json"], cwd=folder)
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["lead_id"])


def test_anchor_and_verify_exit_statuses(folder: Path) -> None:
    anchor = folder / "vault" / "anchor-1.json"
    anchor.parent.mkdir()
    made = run(["audit", "anchor", str(anchor)], cwd=folder, env=KEY)
    assert made.returncode == 0, made.stderr
    assert "key id" in made.stdout
    assert run(["audit", "verify", "--anchor", str(anchor)], cwd=folder,
               env=KEY).returncode == 0
    again = run(["audit", "anchor", str(anchor)], cwd=folder, env=KEY)
    assert again.returncode == 2
    assert "never overwritten" in again.stderr

    # Delete Grace's last event and copy the new last hash into the head table.
    grace = lead_id(folder, "grace@navy.mil")
    db = sqlite3.connect(folder / "lifecycle.db", isolation_level=None)
    oid = grace.replace("-", "")
    (last,) = db.execute("SELECT MAX(originator_version) FROM stored_events "
                         "WHERE originator_id = ?", (oid,)).fetchone()
    db.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
               (oid, last))
    (state,) = db.execute("SELECT state FROM stored_events WHERE originator_id = ? AND "
                          "originator_version = ?", (oid, last - 1)).fetchone()
    db.execute(f"UPDATE {HEADS_TABLE} SET version = ?, hash = ? WHERE originator_id = ?",
               (last - 1, state[:HASH_LEN].decode(), oid))
    db.close()
    assert run(["audit", "verify"], cwd=folder).returncode == 0  # only the anchor knows
    found = run(["audit", "verify", "--anchor", str(anchor), "--json"], cwd=folder, env=KEY)
    assert found.returncode == 1
    broken = json.loads(found.stdout)["broken"]
    assert [(b["aggregate_id"], b["problem"]) for b in broken] == [(grace, "anchor_truncated")]
    text = run(["audit", "verify", "--anchor", str(anchor)], cwd=folder, env=KEY)
    assert text.returncode == 1
    assert grace in text.stdout

    # The anchor itself: wrong key, no key, an edited line.
    wrong = run(["audit", "verify", "--anchor", str(anchor)], cwd=folder,
                env={"LIFECYCLE_AUDIT_KEY": "x" * 32})
    assert (wrong.returncode, "another key" in wrong.stderr) == (2, True)
    none = run(["audit", "verify", "--anchor", str(anchor)], cwd=folder)
    assert (none.returncode, "LIFECYCLE_AUDIT_KEY" in none.stderr) == (2, True)
    data = json.loads(anchor.read_text())
    edited = folder / "edited.json"
    edited.write_text(anchor.read_text().replace(data["aggregates"][0][3], "1" * 64))
    bad = run(["audit", "verify", "--anchor", str(edited)], cwd=folder, env=KEY)
    assert (bad.returncode, "was altered" in bad.stderr) == (2, True)
    assert "Traceback" not in bad.stderr
    missing = run(["audit", "verify", "--anchor", str(folder / "nope.json")], cwd=folder)
    assert missing.returncode == 2


def test_audit_projections_exit_statuses(folder: Path) -> None:
    clean = run(["audit", "projections"], cwd=folder)
    assert clean.returncode == 0, clean.stdout
    assert "no drift" in clean.stdout
    db = sqlite3.connect(folder / "lifecycle.db", isolation_level=None)
    db.execute("UPDATE lc_projection_positions SET position = 0")
    db.close()
    stuck = run(["audit", "projections"], cwd=folder)
    assert stuck.returncode == 1
    assert "no drift" not in stuck.stdout
    assert "behind the event store" in stuck.stdout
