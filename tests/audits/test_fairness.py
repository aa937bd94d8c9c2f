"""Fairness figures equal fairlearn's to 1e-9 (SPEC §2), including the SPEC test vector."""

import numpy as np
import pandas as pd
import pytest
from fairlearn import metrics as flm

from audits.checks.engine import run_on_chunks
from audits.checks.fairness import (
    ReweighingError,
    apply_weights,
    fairness_report,
    group_counts,
    reweighing_table,
)
from audits.checks.quality import CheckContext
from audits.checks.specs import validate_checks

TOL = 1e-9


def spec_vector() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0],
            "yhat": [1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0],
            "sex": [1] * 6 + [0] * 6,
        }
    )


def generated(n: int = 5000, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["f", "m"], n, p=[0.45, 0.55])
    race = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    p = 0.3 + 0.15 * (sex == "m") + 0.1 * (race == "a")
    y = (rng.random(n) < p).astype(int)
    yhat = np.where(rng.random(n) < 0.8, y, 1 - y)
    yhat = np.where((sex == "f") & (rng.random(n) < 0.1), 0, yhat)
    weight = rng.uniform(0.5, 2.0, n)
    return pd.DataFrame({"y": y, "yhat": yhat, "sex": sex, "race": race, "w": weight})


def test_spec_test_vector():
    report = fairness_report(spec_vector(), label="y", prediction="yhat", protected=["sex"])
    m = report["metrics"]
    assert m["demographic_parity_difference"] == pytest.approx(1 / 6, abs=TOL)
    assert m["demographic_parity_ratio"] == pytest.approx(2 / 3, abs=TOL)
    assert m["equalized_odds_difference"] == pytest.approx(1 / 6, abs=TOL)
    assert m["equal_opportunity_ratio"] == pytest.approx(0.75, abs=TOL)


def _oracle(df, sensitive, weights=None):
    kw = {"sensitive_features": sensitive, "sample_weight": weights}
    return {
        "demographic_parity_difference": flm.demographic_parity_difference(df.y, df.yhat, **kw),
        "demographic_parity_ratio": flm.demographic_parity_ratio(df.y, df.yhat, **kw),
        "equalized_odds_difference": flm.equalized_odds_difference(df.y, df.yhat, **kw),
        "equalized_odds_ratio": flm.equalized_odds_ratio(df.y, df.yhat, **kw),
        "equal_opportunity_difference": flm.equal_opportunity_difference(df.y, df.yhat, **kw),
        "equal_opportunity_ratio": flm.equal_opportunity_ratio(df.y, df.yhat, **kw),
    }


@pytest.mark.parametrize("protected", [["sex"], ["race"], ["sex", "race"]])
@pytest.mark.parametrize("weighted", [False, True])
def test_overall_figures_equal_fairlearn(protected, weighted):
    df = generated()
    report = fairness_report(
        df, label="y", prediction="yhat", protected=protected, weight="w" if weighted else None
    )
    oracle = _oracle(df, df[protected], df.w if weighted else None)
    for name, value in oracle.items():
        assert report["metrics"][name] == pytest.approx(value, abs=TOL), name


def test_per_group_rates_equal_fairlearn():
    df = generated()
    frame = flm.MetricFrame(
        metrics={
            "sr": flm.selection_rate,
            "tpr": flm.true_positive_rate,
            "fpr": flm.false_positive_rate,
            "n": flm.count,
        },
        y_true=df.y,
        y_pred=df.yhat,
        sensitive_features=df[["sex", "race"]],
    )
    report = fairness_report(df, label="y", prediction="yhat", protected=["sex", "race"])
    by_group = frame.by_group
    for row in report["groups"]:
        key = (row["group"]["sex"], row["group"]["race"])
        assert row["n"] == by_group.loc[key, "n"]
        assert row["selection_rate"] == pytest.approx(by_group.loc[key, "sr"], abs=TOL)
        assert row["tpr"] == pytest.approx(by_group.loc[key, "tpr"], abs=TOL)
        assert row["fpr"] == pytest.approx(by_group.loc[key, "fpr"], abs=TOL)
        base = df.y[(df.sex == key[0]) & (df.race == key[1])].mean()
        assert row["base_rate"] == pytest.approx(base, abs=TOL)


def test_chunked_counts_equal_one_pass():
    df = generated()
    specs = validate_checks(
        [{"kind": "fairness", "label": "y", "prediction": "yhat", "protected": ["sex", "race"]}]
    )
    ctx = CheckContext(
        now=pd.Timestamp.now(tz="UTC").to_pydatetime(), columns=[{"name": c} for c in df.columns]
    )
    [result] = run_on_chunks((df.iloc[i : i + 333] for i in range(0, len(df), 333)), specs, ctx)
    oracle = _oracle(df, df[["sex", "race"]])
    for name, value in oracle.items():
        assert result["details"]["metrics"][name] == pytest.approx(value, abs=TOL)
    assert result["element_count"] == len(df)


def test_label_only_uses_base_rate_and_marks_tpr_undefined():
    df = generated()
    report = fairness_report(df, label="y", protected=["sex"])
    m = report["metrics"]
    oracle = flm.demographic_parity_difference(df.y, df.y, sensitive_features=df.sex)
    assert m["demographic_parity_difference"] == pytest.approx(oracle, abs=TOL)
    assert m["equalized_odds_difference"] is None
    assert "no prediction column" in report["undefined"]["equal_opportunity_difference"]


def test_group_without_positives_makes_tpr_undefined_not_zero():
    df = pd.DataFrame(
        {"y": [0, 0, 0, 1, 1, 0], "yhat": [0, 1, 0, 1, 0, 0], "g": ["a", "a", "a", "b", "b", "b"]}
    )
    report = fairness_report(df, label="y", prediction="yhat", protected=["g"])
    group_a = report["groups"][0]
    assert group_a["tpr"] is None and group_a["undefined"]["tpr"] == "no positive labels"
    assert report["metrics"]["equal_opportunity_difference"] is None
    assert "group(s) a" in report["undefined"]["equal_opportunity_difference"]


def test_zero_selections_make_ratio_undefined():
    df = pd.DataFrame({"y": [1, 0, 1, 0], "yhat": [0, 0, 0, 0], "g": [1, 1, 2, 2]})
    report = fairness_report(df, label="y", prediction="yhat", protected=["g"])
    assert report["metrics"]["demographic_parity_ratio"] is None
    assert report["undefined"]["demographic_parity_ratio"].startswith("0/0")
    assert report["metrics"]["demographic_parity_difference"] == 0


def test_four_fifths_rule_with_significance_and_small_group_warning():
    df = generated()
    report = fairness_report(
        df, label="y", prediction="yhat", protected=["race"], min_group_size=600
    )
    top = max(report["groups"], key=lambda r: r["selection_rate"])
    for row in report["groups"]:
        assert row["impact_ratio"] == pytest.approx(row["selection_rate"] / top["selection_rate"])
        if row is not top:
            assert row["significance"]["test"] == "two_proportion_z"
            assert 0 <= row["significance"]["p_value"] <= 1
    assert report["four_fifths"]["flagged"] == [
        r["label"] for r in report["groups"] if r["impact_ratio"] < 0.8
    ]
    assert any("fewer than 600" in w for w in report["warnings"])


def test_small_groups_use_fisher_exact():
    report = fairness_report(spec_vector(), label="y", prediction="yhat", protected=["sex"])
    tested = [r for r in report["groups"] if "significance" in r]
    assert tested[0]["significance"]["test"] == "fisher_exact"


def test_aif360_signed_figures():
    df = spec_vector()
    report = fairness_report(df, label="y", prediction="yhat", protected=["sex"], privileged=1)
    a = report["aif360"]
    # unprivileged (sex=0): SR 2/6, TPR 1/2, FPR 1/4; privileged: SR 3/6, TPR 2/3, FPR 1/3
    assert a["statistical_parity_difference"] == pytest.approx(2 / 6 - 3 / 6, abs=TOL)
    assert a["disparate_impact"] == pytest.approx((2 / 6) / (3 / 6), abs=TOL)
    assert a["equal_opportunity_difference"] == pytest.approx(1 / 2 - 2 / 3, abs=TOL)
    assert a["average_odds_difference"] == pytest.approx(
        0.5 * ((1 / 4 - 1 / 3) + (1 / 2 - 2 / 3)), abs=TOL
    )


def test_criteria_decide_success():
    report = fairness_report(spec_vector(), label="y", prediction="yhat", protected=["sex"])
    met = {c["metric"]: c["met"] for c in report["criteria"]}
    assert met == {
        "demographic_parity_ratio": False,
        "demographic_parity_difference": False,
        "equal_opportunity_difference": False,
        "equalized_odds_difference": False,
    }


def test_reweighing_removes_statistical_parity_difference():
    df = generated()
    counts, _ = group_counts(df, label="y", protected=["sex", "race"])
    table = reweighing_table(counts, protected=["sex", "race"])
    weights = apply_weights(df, table, label="y", protected=["sex", "race"])
    n = len(df)
    for (key, positive), row in table.items():
        n_y = (df.y == int(positive)).sum()
        n_g = ((df.sex == key[0]) & (df.race == key[1])).sum()
        n_gy = ((df.sex == key[0]) & (df.race == key[1]) & (df.y == int(positive))).sum()
        assert row["weight"] == pytest.approx(n_y * n_g / (n * n_gy), abs=TOL)
    weighted = df.assign(w=weights)
    rates = weighted.groupby("sex").apply(
        lambda g: (g.w * g.y).sum() / g.w.sum(), include_groups=False
    )
    assert rates.max() - rates.min() == pytest.approx(0, abs=TOL)
    oracle = flm.demographic_parity_difference(
        df.y, df.y, sensitive_features=df[["sex", "race"]], sample_weight=weights
    )
    assert oracle == pytest.approx(0, abs=TOL)


def test_reweighing_refuses_when_a_group_lacks_a_label():
    df = pd.DataFrame({"y": [1, 1, 0, 1], "g": ["a", "a", "b", "b"]})
    counts, _ = group_counts(df, label="y", protected=["g"])
    with pytest.raises(ReweighingError, match="group a has no negative labels"):
        reweighing_table(counts, protected=["g"])
