"""``lifecycle ingest`` tells what the scoring file did not know: kinds it does not list
and profile values that matched nothing, the most frequent first (ten per dimension in
the table, all of them in ``--json``), beside the accounting that always balances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import jsonl, run
from tests.support import T0, counts, hours, touchpoint_data

pytestmark = pytest.mark.integration


def source(tmp_path: Path) -> Path:
    lines = [touchpoint_data("k-0", "SMS Sent", email="a0@acme.com",
                             profile={"industry": "Agro", "country": "Narnia"})]
    for n in range(1, 13):  # twelve different titles nobody's keywords match
        lines.append(touchpoint_data(f"k-{n}", "chat", email=f"a{n}@acme.com",
                                     at=T0 + hours(n), profile={"title": f"Wizard {n:02}"}))
    lines.append(touchpoint_data("k-13", "chat", email="a1@acme.com", at=T0 + hours(20),
                                 profile={"title": "Wizard 01"}))
    lines.append(touchpoint_data("k-14", "page_view", email="a2@acme.com", at=T0 + hours(21),
                                 profile={"industry": "Financial Services", "country": "uk"}))
    path = tmp_path / "in.jsonl"
    path.write_text(jsonl(*lines), encoding="utf-8")
    return path


def test_json_nests_unknown_kinds_and_unmatched_values(tmp_path: Path) -> None:
    result = run(["ingest", str(source(tmp_path)), "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert counts(summary) == {"received": 15, "accepted": 15, "duplicate": 0, "rejected": 0}
    assert summary["unknown_kinds"] == {"chat": 13, "sms_sent": 1}
    titles = summary["unmatched"].pop("title")
    assert next(iter(titles.items())) == ("Wizard 01", 2)
    assert (len(titles), sum(titles.values())) == (12, 13)
    assert summary["unmatched"] == {"country": {"Narnia": 1}, "industry": {"agro": 1}}
    assert set(summary) == {"received", "accepted", "duplicate", "rejected",
                            "unknown_kinds", "unmatched", "new_leads", "warning"}


def test_the_table_shows_the_ten_most_frequent_values_and_what_is_left(
    tmp_path: Path,
) -> None:
    result = run(["ingest", str(source(tmp_path))], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "unknown kinds (0 points)" in out
    assert "unmatched values (0 points)" in out
    for shown in ("chat", "sms_sent", "Narnia", "agro", "Wizard 01", "Wizard 10"):
        assert shown in out, shown
    # ten titles shown (Wizard 01 first, twice seen; then by name), two left over
    assert "Wizard 11" not in out
    assert "Wizard 12" not in out
    assert "(2 more)" in out
    assert "Financial" not in out  # matched, through normalisation
