"""Learned scoring on the demo's history and on an imported dataset.

The demo's buyers follow a pattern of their own (:mod:`demo.buyers`) that the default
points only partly see, so a model trained on seeded demo data must beat the rules by
a stated margin, with the logistic baseline reported beside it; the HTML report's
scoring section shows the model that was trained. An import of a dataset that only says
"converted or not" gives training both classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo import generate
from lifecycle.application import LeadLifecycle
from lifecycle.contracts import parse_inbound
from lifecycle.importing import load_mapping, plan_import, run_import
from lifecycle.ingest import RejectWriter
from lifecycle.reports.html import write_html
from lifecycle.reports.scoring import TRAIN_HINT, scoring_report
from lifecycle.scoring.learned import training
from lifecycle.scoring.learned.artifact import Artifact
from lifecycle.settings import Settings

pytestmark = pytest.mark.integration

END = datetime(2025, 6, 2, 9, tzinfo=UTC)

MARGIN = 0.12
"""The least by which the model's cross-validated AUC beats the rules' on 500 seeded
demo leads. Measured since touchpoints dated while sales owns a lead are sales facts
(quotes, replies and meetings no longer features by default): 0.863 against 0.671 here
(105 closed leads, 46 won); the default demo (3,000 leads, seed 7) reaches 0.935
against the rules' 0.651 (baseline 0.901). Before that change: 0.929 and 0.980."""

BUYER_SIGNALS = {"property:seats_requested", "property:units_requested",
                 "property:pages_per_visit", "count:trial_started", "count:pricing_page_view",
                 "employees", "profile:country", "profile:industry"}
"""The columns (groups) :mod:`demo.buyers` hides its signal in."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeadLifecycle]:
    # 500 leads over 180 days: ~100 closed leads, about half of them won; generated,
    # recorded and trained in ~8 s on a busy 2-core machine.
    data = generate(leads=500, days=180, seed=7, end=END)
    path = tmp_path_factory.mktemp("demo-learned") / "demo.db"
    app = LeadLifecycle(Settings(database_url=f"sqlite:///{path}"))
    for start in range(0, len(data), 1000):
        app.record_batch([parse_inbound(d) for d in data[start:start + 1000]])
    yield app
    app.close()


@pytest.fixture(scope="module")
def artifact(app: LeadLifecycle) -> Artifact:
    return training.train(training.examples(app), created_at=END, min_per_class=20)


def test_a_model_of_the_demo_beats_the_rules_by_the_stated_margin(artifact: Artifact) -> None:
    m = artifact.metrics
    won, not_won = m["n_positive"], m["n_train"] - m["n_positive"]
    assert min(won, not_won) >= 20, (won, not_won)
    assert m["cv_auc"] >= m["rules_auc"] + MARGIN, (m["cv_auc"], m["rules_auc"])
    assert 0.5 < m["baseline_auc"] <= 1.0
    assert m["rules_auc"] < 0.75  # the points see the buyers' pattern only partly
    read = {f["feature"] for f in m["importance"]}
    assert read & BUYER_SIGNALS, read


def test_the_html_scoring_section_shows_the_model(app: LeadLifecycle, artifact: Artifact,
                                                  tmp_path: Path) -> None:
    empty = scoring_report(app.models.list())
    assert empty["model"] is None
    write_html({"scoring": empty}, tmp_path / "none.html")
    page = (tmp_path / "none.html").read_text(encoding="utf-8")
    assert '<section id="scoring">' in page
    assert "no learned model yet: `lifecycle model train`" in page
    assert TRAIN_HINT.startswith("no learned model yet")

    model_id = app.models.save(artifact)
    older = app.models.save(artifact.model_copy(update={"created_at": END - timedelta(days=1)}))
    data = scoring_report(app.models.list())
    assert data["model"]["model_id"] == model_id  # the newest, none being active
    assert data["model"]["active"] is False
    app.models.activate(older)
    data = scoring_report(app.models.list())
    assert (data["model"]["model_id"], data["model"]["active"]) == (older, True)
    assert data["cv_auc"] == artifact.metrics["cv_auc"]

    write_html({"scoring": data}, tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="scoring">'):]
    section = section[:section.index("</section>")]
    assert f"model {older}, active" in section
    for key in ("rules_auc", "baseline_auc", "cv_auc"):
        assert f"{artifact.metrics[key]:.3f}" in section, key
    assert section.count("<svg") == 2  # calibration and lift
    assert len(re.findall(r"<tr><td class=\"n\">\d+</td>", section)) == 10  # deciles
    top = artifact.metrics["importance"][0]["feature"]
    assert top in section
    assert "model AUC" in page  # and a card at the top


def test_an_imported_converted_flag_gives_training_both_classes(tmp_path: Path) -> None:
    folder = Path(__file__).parents[2] / "examples" / "import"
    app = LeadLifecycle(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        plan = plan_import((folder / "x-education.csv").read_bytes(),
                           load_mapping(folder / "x-education.toml"), limits=app.settings.limits)
        with RejectWriter(tmp_path / "rejects.jsonl") as rejects:
            summary = run_import(app, plan, rejects)
        assert (summary.received, summary.rejected) == (summary.accepted, 0)
        data = training.examples(app)
    finally:
        app.close()
    assert sorted(e.label for e in data.items) == [0, 0, 0, 1, 1]  # Converted 0, 0, 1, 0, 1
    assert data.skipped == {}
    for example in data.items:
        # the outcome a second after the capture: the capture's inputs are before it
        assert example.at - example.facts.captured_at == timedelta(seconds=1)
        assert "seconds_on_site" in example.facts.properties
