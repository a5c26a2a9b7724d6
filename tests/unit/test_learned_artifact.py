"""Model artifacts and the loaded model: canonical bytes, the hash that refuses tampered
bytes, and predictions that are batched, calibrated, explained and the same in every
process."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

from lifecycle.errors import ModelTampered
from lifecycle.scoring.learned.artifact import (
    Artifact,
    content_hash,
    decode,
    encode,
    model_id_of,
)
from lifecycle.scoring.learned.features import matrix
from lifecycle.scoring.learned.model import Model, sigmoid
from lifecycle.scoring.learned.training import train
from tests.unit.learned_examples import CREATED, synthetic


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    return train(synthetic(400), created_at=CREATED, min_per_class=20)


@pytest.fixture(scope="module")
def model(artifact: Artifact) -> Model:
    data = encode(artifact)
    return Model(decode(data), model_id_of(content_hash(data)))


@pytest.fixture(scope="module")
def rows(artifact: Artifact) -> np.ndarray:
    items = synthetic(50, seed=7).items
    return matrix(artifact.spec, [e.facts for e in items], [e.at for e in items])


def test_encode_decode_round_trip_is_bit_identical(artifact: Artifact) -> None:
    data = encode(artifact)
    again = decode(data, content_hash(data))
    assert again == artifact
    assert encode(again) == data
    assert list(orjson.loads(data)) == sorted(orjson.loads(data))  # keys sorted
    digest = content_hash(data)
    assert len(digest) == 64
    assert model_id_of(digest) == digest[:16]


def test_one_changed_byte_of_the_trees_is_refused(artifact: Artifact) -> None:
    data = encode(artifact)
    digest = content_hash(data)
    at = data.index(b"leaf_value=") + len(b"leaf_value=")
    digit = next(i for i in range(at, at + 40) if data[i : i + 1].isdigit())
    other = b"7" if data[digit : digit + 1] != b"7" else b"3"
    tampered = data[:digit] + other + data[digit + 1 :]
    assert len(tampered) == len(data)
    with pytest.raises(ModelTampered, match="hash"):
        decode(tampered, digest)
    # Under its own new hash it parses: only the stored hash tells it apart.
    assert decode(tampered, content_hash(tampered)).booster != artifact.booster


@pytest.mark.parametrize("data", [
    b"", b"not json", b"[1, 2]", b'{"format": "lifecycle-model/1"}',
    b'{"format": "pickle", "booster": "x"}',
])
def test_bytes_that_are_no_artifact_are_refused(data: bytes) -> None:
    with pytest.raises(ModelTampered, match="no model artifact"):
        decode(data)
    with pytest.raises(ModelTampered):
        decode(data, content_hash(data + b" "))


def test_an_unknown_field_is_refused(artifact: Artifact) -> None:
    document = orjson.loads(encode(artifact))
    document["run_on_load"] = "os.system"
    with pytest.raises(ModelTampered, match="no model artifact"):
        decode(orjson.dumps(document))


@pytest.mark.parametrize("booster", ["", "tree\nversion=v4\n", "garbage text"])
def test_trees_that_are_no_lightgbm_model_are_refused(artifact: Artifact, booster: str) -> None:
    broken = artifact.model_copy(update={"booster": booster})
    with pytest.raises(ModelTampered, match="LightGBM"):
        Model(broken, "0" * 16)


def test_trees_reading_other_columns_than_the_spec_are_refused(artifact: Artifact) -> None:
    fewer = artifact.spec.model_copy(update={"numeric": ()})
    assert len(fewer.names) < len(artifact.spec.names)
    with pytest.raises(ModelTampered, match="columns"):
        Model(artifact.model_copy(update={"spec": fewer}), "0" * 16)


def test_predictions_are_batched_calibrated_probabilities(model: Model, rows: np.ndarray) -> None:
    p = model.predict(rows)
    assert p.shape == (len(rows),)
    assert np.all((p >= 0) & (p <= 1))
    one_by_one = np.concatenate([model.predict(rows[i : i + 1]) for i in range(len(rows))])
    assert np.array_equal(p, one_by_one)
    # Calibration is monotone: it never reverses the booster's ranking.
    raw = model.raw(rows)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)
    assert model.predict(np.zeros((0, len(model.names)))).shape == (0,)
    with pytest.raises(ValueError, match="columns"):
        model.predict(rows[:, :-1])


def test_factors_are_the_largest_group_contributions(model: Model, rows: np.ndarray) -> None:
    factors = model.factors(rows, top=3)
    grouped = model.contributions(rows)
    raw = model.raw(rows)
    # Additive: the groups' contributions and the expected value make the log-odds.
    assert np.allclose(grouped.sum(axis=1) + model.expected(rows), np.log(raw / (1 - raw)),
                       atol=1e-9)
    assert any(len(f) == 3 for f in factors)
    for r, row_factors in enumerate(factors):
        size = [abs(f.contribution) for f in row_factors]
        assert size == sorted(size, reverse=True)
        assert size[0] == pytest.approx(float(np.abs(grouped[r]).max()))
        for f in row_factors:
            assert f.feature in model.groups.groups
            assert set(f.as_dict()) == {"feature", "value", "contribution"}
            assert f.value is None or isinstance(f.value, str | int | float)
    assert orjson.dumps([[f.as_dict() for f in fs] for fs in factors])


def _blended(artifact: Artifact, weight: float) -> Model:
    return Model(artifact.model_copy(update={"blend": weight}), "0" * 16)


@pytest.mark.parametrize("weight", [0.0, 0.25, 0.5, 1.0])
def test_the_blend_adds_up_on_the_log_odds_scale(
    artifact: Artifact, rows: np.ndarray, weight: float,
) -> None:
    model = _blended(artifact, weight)
    trees = np.asarray(model._booster.predict(rows, raw_score=True))
    shap = np.asarray(model._booster.predict(rows, pred_contrib=True))
    b = artifact.baseline
    filled = np.where(np.isnan(rows), np.asarray(b.median), rows)
    terms = (filled - np.asarray(b.mean)) / np.asarray(b.scale) * np.asarray(b.coef)
    linear = terms.sum(axis=1) + b.intercept
    score = model.score(rows)
    assert np.allclose(score, weight * trees + (1 - weight) * linear, atol=1e-9)
    # factors: w · TreeSHAP + (1 − w) · linear terms, plus the expected value, make s
    grouped = model.contributions(rows)
    expected = model.expected(rows)
    assert np.allclose(expected, weight * shap[:, -1] + (1 - weight) * b.intercept)
    assert np.allclose(grouped.sum(axis=1) + expected, score, atol=1e-9)
    raw = model.raw(rows)
    assert np.allclose(raw, sigmoid(score), atol=1e-12)
    if weight == 1.0:  # the trees alone: LightGBM's own probabilities, as before blends
        assert np.array_equal(raw, model._booster.predict(rows))
    if weight == 0.0:  # the baseline alone: its linear terms, grouped
        assert np.allclose(grouped, model.groups.sum(terms), atol=1e-12)
    p = model.predict(rows)
    assert np.array_equal(p, np.interp(raw, artifact.calibration.x, artifact.calibration.y))
    one_by_one = np.concatenate([model.predict(rows[i : i + 1]) for i in range(len(rows))])
    assert np.array_equal(p, one_by_one)
    factors = model.factors(rows, top=len(model.groups.groups))
    for r, row_factors in enumerate(factors):
        assert sum(f.contribution for f in row_factors) == pytest.approx(
            score[r] - expected[r], abs=1e-5)  # factors are rounded to 6 places


def test_an_artifact_without_a_blend_is_the_trees_alone(artifact: Artifact,
                                                        rows: np.ndarray) -> None:
    document = orjson.loads(encode(artifact))
    document.pop("blend", None)
    old = decode(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
    assert old.blend == 1.0
    model = Model(old, "0" * 16)
    assert np.array_equal(model.raw(rows), model._booster.predict(rows))
    # Written without it again: the same bytes, so the same id, as before the blend.
    assert encode(old) == orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    mixed = artifact.model_copy(update={"blend": 0.25})
    assert orjson.loads(encode(mixed))["blend"] == 0.25
    assert decode(encode(mixed)) == mixed


@pytest.mark.parametrize("weight", [-0.1, 1.5, "half"])
def test_a_blend_outside_zero_to_one_is_refused(artifact: Artifact, weight: object) -> None:
    document = orjson.loads(encode(artifact))
    document["blend"] = weight
    with pytest.raises(ModelTampered, match="blend"):
        decode(orjson.dumps(document))


def test_a_baseline_reading_other_columns_is_refused(artifact: Artifact) -> None:
    shorter = artifact.baseline.model_copy(update={"coef": artifact.baseline.coef[:-1]})
    with pytest.raises(ModelTampered, match="baseline"):
        Model(artifact.model_copy(update={"baseline": shorter}), "0" * 16)


def test_a_categorical_factor_names_the_category(model: Model, rows: np.ndarray) -> None:
    items = synthetic(50, seed=7).items
    for r, row_factors in enumerate(model.factors(rows, top=len(model.groups.groups))):
        for f in row_factors:
            if f.feature == "profile:industry":
                assert f.value == items[r].facts.profile["industry"]


def test_grades_by_threshold_and_by_decile(model: Model) -> None:
    assert model.grade_of(0.8, hot=0.7, warm=0.4) == "hot"
    assert model.grade_of(0.7, hot=0.7, warm=0.4) == "hot"
    assert model.grade_of(0.5, hot=0.7, warm=0.4) == "warm"
    assert model.grade_of(0.1, hot=0.7, warm=0.4) == "cold"
    deciles = model.artifact.deciles
    assert len(deciles) == 9
    assert list(deciles) == sorted(deciles)
    assert model.grade_of(deciles[8]) == "hot"
    assert model.grade_of(1.0) == "hot"
    assert model.grade_of(0.0) == "cold"
    assert model.grade_of(deciles[3], hot_decile=9, warm_decile=4) in ("warm", "hot")
    below = math.nextafter(deciles[6], 0)
    if deciles[5] <= below < deciles[6]:
        assert model.grade_of(below) == "cold"


def test_describe(model: Model) -> None:
    described = model.describe()
    assert described["model_id"] == model.model_id
    assert described["n_train"] == 400
    assert described["window"]["from"] <= described["window"]["to"]
    assert described["metrics"]["cv_auc"] == model.artifact.metrics["cv_auc"]
    assert model.describe(["cv_auc"])["metrics"] == {"cv_auc": model.artifact.metrics["cv_auc"]}
    orjson.dumps(described)


_PREDICT = """
import sys
import numpy as np
from lifecycle.scoring.learned.artifact import content_hash, decode, model_id_of
from lifecycle.scoring.learned.model import Model
rows = np.load(sys.argv[1])
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    model = Model(decode(data, content_hash(data)), model_id_of(content_hash(data)))
    p = model.predict(rows)
    c = model.contributions(rows)
    sys.stdout.write(p.tobytes().hex() + " " + c.tobytes().hex() + "\\n")
"""


def test_predictions_are_identical_in_another_process(
    artifact: Artifact, rows: np.ndarray, tmp_path: Path,
) -> None:
    # the trained blend, and the trees and the baseline alone
    artifacts = [artifact, *(artifact.model_copy(update={"blend": w}) for w in (0.0, 1.0))]
    assert len({a.blend for a in artifacts}) == 3
    np.save(tmp_path / "rows.npy", rows)
    paths = []
    for i, a in enumerate(artifacts):
        paths.append(str(tmp_path / f"model{i}.json"))
        Path(paths[-1]).write_bytes(encode(a))
    done = subprocess.run([sys.executable, "-c", _PREDICT, str(tmp_path / "rows.npy"), *paths],
                          capture_output=True, check=True, text=True, timeout=60)
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for a, line in zip(artifacts, lines, strict=True):
        model = Model(a, "0" * 16)
        p_hex, c_hex = line.split(" ")
        assert p_hex == model.predict(rows).tobytes().hex()
        assert c_hex == model.contributions(rows).tobytes().hex()
