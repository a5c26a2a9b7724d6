"""Reports stay valid output whatever the data, through the real entry point.

- huge amounts: ``report … --json`` is strict JSON and ``report --html`` writes a page;
- markup and control characters in user values: ``lead show``, ``audit history`` and
  the reports print them as they are;
- money: amounts in different currencies are never added up; a rates file converts
  them, and the report says which rates of which date it used;
- every ``as_of`` is an ISO 8601 string.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lifecycle.reports import REPORTS
from tests.cli.test_cli import REPO, jsonl, run
from tests.support import ICP, T0, action_data, hours, touchpoint_data

pytestmark = pytest.mark.integration

AT = (T0 + hours(24 * 30)).isoformat()


def strict(text: str) -> Any:
    """JSON as a strict parser reads it: ``Infinity``, ``-Infinity`` and ``NaN`` refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_the_strict_parser_refuses_what_json_dumps_lets_through() -> None:
    with pytest.raises(ValueError, match="Infinity"):
        strict(json.dumps({"pipeline": float("inf")}))
    with pytest.raises(ValueError, match="NaN"):
        strict(json.dumps([float("nan")]))


def opportunity(key: str, amount: float, currency: str, *, lose: bool = False,
                competitor: str = "Initech", at_hours: float = 0) -> list[dict[str, Any]]:
    """A lead accepted and advanced with a deal of ``amount`` (lost to ``competitor``)."""
    email = f"{key}@acme.com"
    t = T0 + hours(at_hours)
    items = [touchpoint_data(f"{key}-1", "demo_requested", email=email, profile=ICP, at=t),
             action_data(f"{key}-2", "accept", email=email, at=t + hours(1)),
             action_data(f"{key}-3", "advance", email=email, amount=amount, currency=currency,
                         at=t + hours(2))]
    if lose:
        items.append(action_data(f"{key}-4", "lose", email=email, reason="competitor_won",
                                 competitor=competitor, amount=amount, currency=currency,
                                 at=t + hours(3)))
    return items


def ingest(directory: Path, items: list[dict[str, Any]],
           env: dict[str, str] | None = None) -> None:
    source = directory / "inputs.jsonl"
    source.write_text(jsonl(*items), encoding="utf-8")
    result = run(["ingest", str(source), "--json"], cwd=directory, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("amount", [1e308, 1.7976931348623157e308, 9e307])
def test_huge_amounts_give_strict_json_and_an_html_page(tmp_path: Path, amount: float) -> None:
    # two open deals and a lost one: their sums overflow a float. The contract refuses
    # amounts over LIFECYCLE_MAX_AMOUNT (1e12); an operator may raise it, and the reports
    # must hold whatever the store holds.
    ingest(tmp_path, [*opportunity("ann", amount, "EUR"), *opportunity("ben", amount, "EUR"),
                      *opportunity("cat", amount, "EUR", lose=True),
                      *opportunity("dan", amount, "EUR", lose=True, at_hours=5)],
           env={"LIFECYCLE_MAX_AMOUNT": repr(1.7976931348623157e308)})
    for name in REPORTS:
        result = run(["report", name, "--json", "--at", AT, "--target", "1000"], cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        data = strict(result.stdout)
        assert "Infinity" not in result.stdout
        assert "NaN" not in result.stdout
        if name == "forecast":
            (eur,) = data["totals"]
            assert eur["open"] == 2
            # a sum beyond any float is unknown (null), never "Infinity"
            assert eur["pipeline"] is None or eur["pipeline"] == pytest.approx(2 * amount)
        terminal = run(["report", name, "--at", AT], cwd=tmp_path)
        assert terminal.returncode == 0, terminal.stderr
    page = tmp_path / "report.html"
    result = run(["report", "--html", str(page), "--at", AT, "--target", "1000"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = page.read_text(encoding="utf-8")
    assert "</html>" in text
    assert "chart left out" in text  # the forecast chart: its bars cannot be drawn


# Markup, not control characters: the contract refuses those (an ESC in stored data is
# tried by tests/integration/test_hostile_reports.py, past the contract).
HOSTILE = ["[/]", "[red]x@y.com", "[bold]Acme[/bold]", "[link=http://x]y[/link]",
           "100%[/]", "[", "]", "\\[escaped]"]


def test_lead_show_and_audit_history_print_user_values_literally(tmp_path: Path) -> None:
    email = "eve@acme.com"
    items = [touchpoint_data("e-1", "demo_requested", email=email, profile=ICP,
                             external_id="[red]x@y.com", at=T0),
             action_data("e-2", "accept", email=email, at=T0 + hours(1)),
             action_data("e-3", "advance", email=email, amount=10, currency="EUR",
                         at=T0 + hours(2))]
    for i, value in enumerate(HOSTILE):
        items.append(action_data(f"e-n{i}", "note", email=email, text=value,
                                 at=T0 + hours(3 + i)))
    items.append(action_data("e-9", "lose", email=email, reason="competitor_won",
                             competitor="[/]", amount=10, currency="EUR", at=T0 + hours(20)))
    ingest(tmp_path, items)

    for key in ("external:[red]x@y.com", email):
        shown = run(["lead", "show", key, "--history", "50"], cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "Traceback" not in shown.stderr
        out = shown.stdout
        assert "external:[red]x@y.com" in out  # the key, exactly as given
        assert "competitor=[/]" in out
        for value in HOSTILE:
            assert f"text={value}" in out, value
        assert "\x1b" not in out  # no escape sequence of the data reaches the terminal
    history = run(["audit", "history", email], cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    assert "[/]" in history.stdout
    assert "[red]x@y.com" in history.stdout
    assert "\x1b" not in history.stdout
    losses = run(["report", "losses"], cwd=tmp_path)
    assert losses.returncode == 0, losses.stderr
    assert "[/]" in losses.stdout


def test_currencies_are_never_added_up(tmp_path: Path) -> None:
    ingest(tmp_path, [*opportunity("eur", 10_000, "EUR"), *opportunity("jpy", 1_500_000, "JPY"),
                      *opportunity("lost-eur", 2_000, "EUR", lose=True),
                      *opportunity("lost-jpy", 300_000, "JPY", lose=True)])
    forecast = strict(run(["report", "forecast", "--json", "--target", "50000"],
                          cwd=tmp_path).stdout)
    assert {t["currency"]: t["pipeline"] for t in forecast["totals"]} == {
        "EUR": 10_000.0, "JPY": 1_500_000.0}
    assert forecast["converted"] is None
    # no target across currencies without rates, and the report says what to do
    assert (forecast["target"]["gap_measured"], forecast["target"]["currency"]) == (None, None)
    assert "LIFECYCLE_RATES_FILE" in forecast["target"]["note"]
    rows = {(s["stage"], s["currency"]): s["amount"] for s in forecast["stages"] if s["open"]}
    assert rows == {("discovery", "EUR"): 10_000.0, ("discovery", "JPY"): 1_500_000.0}
    losses = strict(run(["report", "losses", "--json"], cwd=tmp_path).stdout)
    assert {a["currency"]: a["amount"] for a in losses["amounts"]} == {
        "EUR": 2_000.0, "JPY": 300_000.0}
    (reason,) = losses["by_reason"]
    assert {a["currency"]: a["amount"] for a in reason["amounts"]} == {
        "EUR": 2_000.0, "JPY": 300_000.0}

    for name in ("forecast", "losses"):
        text = run(["report", name], cwd=tmp_path).stdout
        assert "1,510,000" not in text, text
        assert "302,000" not in text, text
        assert "JPY" in text
        assert "EUR" in text
    page = tmp_path / "report.html"
    assert run(["report", "--html", str(page)], cwd=tmp_path).returncode == 0
    html = page.read_text(encoding="utf-8")
    assert "1,510,000" not in html
    assert "1.5M" not in html.split("kpis")[1][:2000]
    assert "forecast by stage, EUR" in html
    assert "forecast by stage, JPY" in html


def test_a_rates_file_converts_and_the_report_names_rates_and_date(tmp_path: Path) -> None:
    ingest(tmp_path, [*opportunity("eur", 10_000, "EUR"), *opportunity("jpy", 1_500_000, "JPY"),
                      *opportunity("usd", 1_000, "USD"),
                      *opportunity("lost-jpy", 300_000, "JPY", lose=True)])
    rates = tmp_path / "rates.toml"
    rates.write_text('[rates]\ncurrency = "EUR"\ndate = 2025-06-01\nsource = "test rates"\n'
                     "[rates.values]\nJPY = 0.006\n", encoding="utf-8")
    env = {"LIFECYCLE_RATES_FILE": str(rates)}
    forecast = strict(run(["report", "forecast", "--json", "--target", "30000"], cwd=tmp_path,
                          env=env).stdout)
    converted = forecast["converted"]
    assert converted["currency"] == "EUR"
    assert (converted["date"], converted["source"]) == ("2025-06-01", "test rates")
    assert converted["rates"] == {"EUR": 1.0, "JPY": 0.006}
    assert converted["pipeline"] == pytest.approx(10_000 + 1_500_000 * 0.006)
    assert converted["not_converted"] == ["USD"]  # no rate: left out, and said so
    target = forecast["target"]
    assert target["currency"] == "EUR"
    assert target["gap_default"] == pytest.approx(30_000 - converted["expected_default"])
    assert "USD" in target["note"]
    losses = strict(run(["report", "losses", "--json"], cwd=tmp_path, env=env).stdout)
    assert losses["converted"]["total"] == pytest.approx(300_000 * 0.006)

    text = run(["report", "forecast", "--target", "30000"], cwd=tmp_path, env=env).stdout
    flowing = " ".join(text.split())
    assert "converted at the rates of 2025-06-01 (test rates): 1 JPY = 0.006 EUR" in flowing
    assert "not converted (no rate): USD" in flowing
    assert "in EUR" in text

    bad = tmp_path / "bad.toml"
    for content, message in (("[rates]\ncurrency = 'EUR'\n", "date"),
                             ("[rates]\ncurrency = 'EUR'\ndate = 2025-01-01\n"
                              "[rates.values]\nUSD = -1\n", "positive"),
                             ("nothing = 1\n", "no [rates] section")):
        bad.write_text(content, encoding="utf-8")
        result = run(["report", "forecast"], cwd=tmp_path, env={"LIFECYCLE_RATES_FILE": str(bad)})
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_every_as_of_is_an_iso_string(tmp_path: Path) -> None:
    ingest(tmp_path, opportunity("ann", 100, "EUR", lose=True))
    for name in REPORTS:
        data = strict(run(["report", name, "--json", "--as-of", "2024-03-05"],
                          cwd=tmp_path).stdout)
        moment = data.get("as_of", data.get("at"))
        assert moment == "2024-03-05T23:59:59.999999+00:00", name


@pytest.mark.parametrize("target", ["-5", "inf", "nan"])
def test_a_target_must_be_a_finite_amount(tmp_path: Path, target: str) -> None:
    result = run(["report", "forecast", "--target", target], cwd=tmp_path)
    assert result.returncode == 2
    assert "--target" in result.stderr
    assert "finite number >= 0" in result.stderr


def test_report_html_without_the_html_extra_says_what_to_install(tmp_path: Path) -> None:
    """Without matplotlib (the ``[html]`` extra) the HTML report fails at once with one
    line naming the extra; the reports are not built and no file is written."""
    hidden = tmp_path / "hidden" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    page = tmp_path / "report.html"
    result = run(["report", "--html", str(page)], cwd=tmp_path,
                 env={"PYTHONPATH": os.pathsep.join([str(hidden.parent), str(REPO)])})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: the HTML report draws its charts with matplotlib, which is not installed: "
        "install lead-lifecycle[html] for charts"]
    assert not page.exists()
    assert not (tmp_path / "lifecycle.db").exists()  # failed before opening the store
    # Every other report still works without it.
    listed = run(["report", "funnel", "--json"], cwd=tmp_path,
                 env={"PYTHONPATH": os.pathsep.join([str(hidden.parent), str(REPO)])})
    assert listed.returncode == 0, listed.stderr


def test_the_demo_without_the_html_extra_runs_to_the_end_without_its_page(
        tmp_path: Path) -> None:
    """An embedded install without matplotlib: ``lifecycle demo`` still records the
    history and prints every report; it says why there is no HTML page, and exits 0."""
    hidden = tmp_path / "hidden" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    page = tmp_path / "report.html"
    result = run(["demo", "--leads", "60", "--days", "30", "--database", str(tmp_path / "demo.db"),
                  "--html", str(page)], cwd=tmp_path,
                 env={"PYTHONPATH": os.pathsep.join([str(hidden.parent), str(REPO)])})
    assert result.returncode == 0, result.stderr
    assert "no HTML report (the HTML report draws its charts with matplotlib" in (
        " ".join(result.stdout.split()))
    assert "install lead-lifecycle[html]" in " ".join(result.stdout.split())
    assert not page.exists()
    assert (tmp_path / "demo.db").exists()
