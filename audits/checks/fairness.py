"""Fairness metrics (SPEC §2): per-group rates, parity figures, the four-fifths rule, reweighing.

Everything is computed from per-group counts (weighted where a weight column is given), so a
file is scanned once in chunks and a PostgreSQL table by one GROUP BY. Figures equal fairlearn's
(`between_groups` differences and ratios) and AIF360's signed figures; tests hold them to 1e-9.
A figure that cannot be computed is reported as undefined with the reason, never as a number.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from audits.checks.quality import Accumulator, CheckContext
from audits.checks.results import json_value, make_result

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FIELDS = (
    "n",
    "label_pos",
    "pred_pos",
    "w",
    "w_label_pos",
    "w_pred_pos",
    "w_tp",
    "w_fn",
    "w_fp",
    "w_tn",
)
FISHER_MIN_EXPECTED = 5  # below this expected count in any cell, use Fisher's exact test

GroupKey = tuple
Counts = dict[GroupKey, dict[str, float]]


def is_positive(series: pd.Series, pos_label: Any) -> pd.Series:
    """True where a label equals `pos_label`, also when a CSV gave 1 and the policy says "1"."""
    return (series == pos_label) | (series.astype(str) == str(pos_label))


def group_counts(
    frame: pd.DataFrame,
    *,
    label: str,
    protected: list[str],
    prediction: str | None = None,
    pos_label: Any = 1,
    weight: str | None = None,
) -> tuple[Counts, int]:
    """Per-group counts of one frame and the number of rows left out for a null value."""
    import pandas as pd

    needed = [
        label,
        *protected,
        *([prediction] if prediction else []),
        *([weight] if weight else []),
    ]
    complete = frame[needed].notna().all(axis=1)
    data = frame.loc[complete]
    y = is_positive(data[label], pos_label).to_numpy(dtype=bool)
    yhat = is_positive(data[prediction], pos_label).to_numpy(dtype=bool) if prediction else y
    w = data[weight].astype(float).to_numpy() if weight else 1.0
    table = pd.DataFrame(
        {
            "n": 1,
            "label_pos": y.astype(int),
            "pred_pos": yhat.astype(int),
            "w": w * 1.0 if weight else 1.0,
            "w_label_pos": w * y,
            "w_pred_pos": w * yhat,
            "w_tp": w * (y & yhat),
            "w_fn": w * (y & ~yhat),
            "w_fp": w * (~y & yhat),
            "w_tn": w * (~y & ~yhat),
        },
        index=data.index,
    )
    for column in protected:
        table[f"__g_{column}"] = data[column].to_numpy()
    keys = [f"__g_{c}" for c in protected]
    summed = table.groupby(keys, sort=True).sum()
    counts: Counts = {}
    for key, row in summed.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        counts[tuple(json_value(k) for k in key)] = {f: float(row[f]) for f in FIELDS}
    return counts, int((~complete).sum())


def merge_counts(into: Counts, more: Counts) -> Counts:
    """Add one chunk's group counts into the running totals."""
    for key, row in more.items():
        target = into.setdefault(key, dict.fromkeys(FIELDS, 0.0))
        for field in FIELDS:
            target[field] += row[field]
    return into


def _rate(num: float, den: float, reason: str) -> tuple[float | None, str | None]:
    return (num / den, None) if den else (None, reason)


def _spread(values: dict[str, float | None], name: str) -> dict[str, Any]:
    """max - min and min / max over groups; undefined when any group's figure is undefined."""
    missing = [g for g, v in values.items() if v is None]
    if missing:
        reason = f"{name} is undefined for group(s) {', '.join(missing)}"
        return {
            "difference": None,
            "ratio": None,
            "difference_undefined": reason,
            "ratio_undefined": reason,
        }
    if not values:
        reason = "no groups"
        return {
            "difference": None,
            "ratio": None,
            "difference_undefined": reason,
            "ratio_undefined": reason,
        }
    hi, lo = max(values.values()), min(values.values())
    out: dict[str, Any] = {"difference": hi - lo, "max": hi, "min": lo}
    if hi == 0:
        out["ratio"] = None
        out["ratio_undefined"] = f"0/0: {name} is 0 in every group"
    else:
        out["ratio"] = lo / hi
    return out


def group_label(key: GroupKey, protected: list[str]) -> str:
    if len(protected) == 1:
        return str(key[0])
    return ", ".join(f"{p}={v}" for p, v in zip(protected, key, strict=True))


def _significance(sel_a: int, n_a: int, sel_b: int, n_b: int) -> dict[str, Any]:
    """Two-proportion z-test (pooled), or Fisher's exact test when an expected count is < 5."""
    from scipy.stats import fisher_exact, norm

    pooled = (sel_a + sel_b) / (n_a + n_b)
    expected = min(n_a * pooled, n_a * (1 - pooled), n_b * pooled, n_b * (1 - pooled))
    if expected < FISHER_MIN_EXPECTED:
        table = [[sel_a, n_a - sel_a], [sel_b, n_b - sel_b]]
        statistic, p_value = fisher_exact(table, alternative="two-sided")
        return {
            "test": "fisher_exact",
            "statistic": json_value(statistic),
            "p_value": float(p_value),
        }
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = 0.0 if se == 0 else (sel_a / n_a - sel_b / n_b) / se
    return {"test": "two_proportion_z", "statistic": z, "p_value": float(2 * norm.sf(abs(z)))}


def _group_rows(counts: Counts, protected: list[str], has_pred: bool) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(counts, key=lambda k: tuple(str(x) for x in k)):
        c = counts[key]
        undefined: dict[str, str] = {}
        sr, why = _rate(c["w_pred_pos"], c["w"], "no rows")
        base, _ = _rate(c["w_label_pos"], c["w"], "no rows")
        row: dict[str, Any] = {
            "group": dict(zip(protected, key, strict=True)),
            "label": group_label(key, protected),
            "n": int(c["n"]),
            "weight": c["w"],
            "positives": int(c["label_pos"]),
            "selected": int(c["pred_pos"]),
            "selection_rate": sr,
            "base_rate": base,
            "tpr": None,
            "fpr": None,
        }
        if has_pred:
            row["tpr"], why = _rate(c["w_tp"], c["w_tp"] + c["w_fn"], "no positive labels")
            if why:
                undefined["tpr"] = why
            row["fpr"], why = _rate(c["w_fp"], c["w_fp"] + c["w_tn"], "no negative labels")
            if why:
                undefined["fpr"] = why
        else:
            undefined["tpr"] = undefined["fpr"] = "no prediction column"
        row["undefined"] = undefined
        rows.append(row)
    return rows


def _privileged_key(privileged: Any, protected: list[str]) -> GroupKey:
    if isinstance(privileged, dict):
        return tuple(json_value(privileged.get(p)) for p in protected)
    if isinstance(privileged, list | tuple):
        return tuple(json_value(v) for v in privileged)
    return (json_value(privileged),)


def _matches(key: GroupKey, wanted: GroupKey) -> bool:
    return all(str(a) == str(b) for a, b in zip(key, wanted, strict=True))


def aif360_figures(
    counts: Counts, *, protected: list[str], privileged: Any, has_pred: bool
) -> dict[str, Any]:
    """AIF360's signed figures, unprivileged (all other rows pooled) minus privileged."""
    wanted = _privileged_key(privileged, protected)
    if len(wanted) != len(protected):
        return {"undefined": "privileged group must give a value for each protected attribute"}
    priv = dict.fromkeys(FIELDS, 0.0)
    unpriv = dict.fromkeys(FIELDS, 0.0)
    for key, row in counts.items():
        target = priv if _matches(key, wanted) else unpriv
        for f in FIELDS:
            target[f] += row[f]
    if not priv["n"] or not unpriv["n"]:
        return {
            "undefined": "the privileged group is absent, or it is the only group",
            "privileged": group_label(wanted, protected),
        }

    def rates(c: dict[str, float]) -> tuple[float, float | None, float | None]:
        sr = c["w_pred_pos"] / c["w"]
        tpr = c["w_tp"] / (c["w_tp"] + c["w_fn"]) if c["w_tp"] + c["w_fn"] else None
        fpr = c["w_fp"] / (c["w_fp"] + c["w_tn"]) if c["w_fp"] + c["w_tn"] else None
        return sr, tpr, fpr

    sr_p, tpr_p, fpr_p = rates(priv)
    sr_u, tpr_u, fpr_u = rates(unpriv)
    out: dict[str, Any] = {"privileged": group_label(wanted, protected), "undefined": {}}
    out["statistical_parity_difference"] = sr_u - sr_p
    if sr_p:
        out["disparate_impact"] = sr_u / sr_p
    else:
        out["disparate_impact"] = None
        out["undefined"]["disparate_impact"] = "the privileged group's selection rate is 0"
    if not has_pred:
        for name in ("equal_opportunity_difference", "average_odds_difference"):
            out[name] = None
            out["undefined"][name] = "no prediction column"
        return out
    if tpr_p is None or tpr_u is None:
        out["equal_opportunity_difference"] = out["average_odds_difference"] = None
        out["undefined"]["equal_opportunity_difference"] = "a side has no positive labels"
        out["undefined"]["average_odds_difference"] = "a side has no positive labels"
        return out
    out["equal_opportunity_difference"] = tpr_u - tpr_p
    if fpr_p is None or fpr_u is None:
        out["average_odds_difference"] = None
        out["undefined"]["average_odds_difference"] = "a side has no negative labels"
    else:
        out["average_odds_difference"] = 0.5 * ((fpr_u - fpr_p) + (tpr_u - tpr_p))
    return out


def _four_fifths(rows: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    rates = {r["label"]: r["selection_rate"] for r in rows if r["selection_rate"] is not None}
    if not rates or max(rates.values()) == 0:
        for r in rows:
            r["impact_ratio"] = None
            r["undefined"]["impact_ratio"] = "0/0: no group has any selections"
        return {
            "rule": "29 CFR 1607.4(D)",
            "threshold": threshold,
            "flagged": [],
            "undefined": "no group has any selections",
            "reference_group": None,
        }
    top = max(rows, key=lambda r: (r["selection_rate"] or 0, -len(r["label"])))
    flagged = []
    for r in rows:
        r["impact_ratio"] = r["selection_rate"] / top["selection_rate"]
        if r is not top:
            r["significance"] = _significance(r["selected"], r["n"], top["selected"], top["n"])
        if r["impact_ratio"] < threshold:
            flagged.append(r["label"])
    return {
        "rule": "29 CFR 1607.4(D): impact ratio SR_g / max SR below the threshold is flagged; "
        "the rule is not conclusive, so a significance test is reported beside it",
        "threshold": threshold,
        "reference_group": top["label"],
        "flagged": flagged,
    }


def fairness_from_counts(  # noqa: PLR0913
    counts: Counts,
    *,
    protected: list[str],
    has_prediction: bool,
    privileged: Any = None,
    ratio_threshold: float = 0.8,
    difference_threshold: float = 0.10,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """The full fairness report (groups, overall figures, criteria) from per-group counts."""
    rows = _group_rows(counts, protected, has_prediction)
    sr = _spread({r["label"]: r["selection_rate"] for r in rows}, "selection rate")
    tpr = _spread({r["label"]: r["tpr"] for r in rows}, "TPR")
    fpr = _spread({r["label"]: r["fpr"] for r in rows}, "FPR")
    metrics: dict[str, Any] = {
        "demographic_parity_difference": sr["difference"],
        "demographic_parity_ratio": sr["ratio"],
        "equal_opportunity_difference": tpr["difference"],
        "equal_opportunity_ratio": tpr["ratio"],
        "equalized_odds_difference": None,
        "equalized_odds_ratio": None,
    }
    undefined = {}
    for name, source, part in (
        ("demographic_parity_difference", sr, "difference"),
        ("demographic_parity_ratio", sr, "ratio"),
        ("equal_opportunity_difference", tpr, "difference"),
        ("equal_opportunity_ratio", tpr, "ratio"),
    ):
        if source.get(f"{part}_undefined"):
            undefined[name] = source[f"{part}_undefined"]
    if tpr["difference"] is not None and fpr["difference"] is not None:
        metrics["equalized_odds_difference"] = max(tpr["difference"], fpr["difference"])
    else:
        undefined["equalized_odds_difference"] = tpr.get("difference_undefined") or fpr.get(
            "difference_undefined"
        )
    if tpr.get("ratio") is not None and fpr.get("ratio") is not None:
        metrics["equalized_odds_ratio"] = min(tpr["ratio"], fpr["ratio"])
    else:
        undefined["equalized_odds_ratio"] = tpr.get("ratio_undefined") or fpr.get("ratio_undefined")
    if not has_prediction:
        for name in (
            "equal_opportunity_difference",
            "equal_opportunity_ratio",
            "equalized_odds_difference",
            "equalized_odds_ratio",
        ):
            undefined[name] = "no prediction column: TPR and FPR need predictions"
    four_fifths = _four_fifths(rows, ratio_threshold)
    warnings = [
        f"group {r['label']} has {r['n']} rows, fewer than {min_group_size}: its figures are "
        "unstable"
        for r in rows
        if r["n"] < min_group_size
    ]
    if len(rows) < 2:
        warnings.append("fewer than two groups: parity cannot be assessed")
    criteria = _criteria(metrics, has_prediction, ratio_threshold, difference_threshold)
    report = {
        "method": "between_groups",
        "protected": protected,
        "rates_from": "prediction" if has_prediction else "label (base rate; no prediction column)",
        "groups": rows,
        "metrics": metrics,
        "undefined": undefined,
        "four_fifths": four_fifths,
        "criteria": criteria,
        "warnings": warnings,
        "thresholds": {
            "ratio": ratio_threshold,
            "difference": difference_threshold,
            "min_group_size": min_group_size,
        },
    }
    if privileged is not None:
        report["aif360"] = aif360_figures(
            counts, protected=protected, privileged=privileged, has_pred=has_prediction
        )
    return report


def _criteria(
    metrics: dict[str, Any], has_pred: bool, ratio: float, diff: float
) -> list[dict[str, Any]]:
    wanted = [
        ("demographic_parity_ratio", ">=", ratio),
        ("demographic_parity_difference", "<=", diff),
    ]
    if has_pred:
        wanted += [
            ("equal_opportunity_difference", "<=", diff),
            ("equalized_odds_difference", "<=", diff),
        ]
    out = []
    for name, op, threshold in wanted:
        value = metrics[name]
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out.append({"metric": name, "op": op, "threshold": threshold, "value": value, "met": met})
    return out


def fairness_report(frame: pd.DataFrame, **spec: Any) -> dict[str, Any]:
    """Convenience for one in-memory frame: counts, then the report (tests and notebooks)."""
    counts, _ = group_counts(
        frame,
        label=spec["label"],
        protected=list(spec["protected"]),
        prediction=spec.get("prediction"),
        pos_label=spec.get("pos_label", 1),
        weight=spec.get("weight"),
    )
    return fairness_from_counts(
        counts,
        protected=list(spec["protected"]),
        has_prediction=bool(spec.get("prediction")),
        privileged=spec.get("privileged"),
        ratio_threshold=spec.get("ratio_threshold", 0.8),
        difference_threshold=spec.get("difference_threshold", 0.10),
        min_group_size=spec.get("min_group_size", 30),
    )


def fairness_result(spec: dict[str, Any], counts: Counts, excluded: int) -> dict[str, Any]:
    """Wrap a fairness report in the common result shape (observed value: the parity ratio)."""
    report = fairness_from_counts(
        counts,
        protected=spec["protected"],
        has_prediction=bool(spec.get("prediction")),
        privileged=spec.get("privileged"),
        ratio_threshold=spec["ratio_threshold"],
        difference_threshold=spec["difference_threshold"],
        min_group_size=spec["min_group_size"],
    )
    failed = [c for c in report["criteria"] if c["met"] is False]
    total = int(sum(c["n"] for c in counts.values())) + excluded
    return make_result(
        spec=spec,
        success=not failed,
        observed_value=report["metrics"]["demographic_parity_ratio"],
        element_count=total,
        missing_count=excluded,
        details=report,
    )


class FairnessCheck(Accumulator):
    """Accumulate per-group counts over chunks; build the report at the end."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        super().__init__(spec, ctx, index)
        self.counts: Counts = {}
        self.excluded = 0

    @property
    def columns(self) -> list[str]:
        s = self.spec
        return [
            s["label"],
            *s["protected"],
            *[c for c in (s.get("prediction"), s.get("weight")) if c],
        ]

    def update(self, chunk: pd.DataFrame) -> None:
        counts, excluded = group_counts(
            chunk,
            label=self.spec["label"],
            protected=self.spec["protected"],
            prediction=self.spec.get("prediction"),
            pos_label=self.spec.get("pos_label", 1),
            weight=self.spec.get("weight"),
        )
        merge_counts(self.counts, counts)
        self.excluded += excluded

    def finish(self) -> dict[str, Any]:
        return fairness_result(self.spec, self.counts, self.excluded)


# --- mitigation: reweighing (Kamiran & Calders 2012) ---------------------------------------------


class ReweighingError(ValueError):
    """Reweighing is impossible for this data (some group never has some label)."""


def reweighing_table(counts: Counts, *, protected: list[str]) -> dict[tuple, dict[str, float]]:
    """Weight of (group g, label y) = n_y * n_g / (n * n_gy), keyed by (group key, is_positive)."""
    n = sum(c["n"] for c in counts.values())
    n_pos = sum(c["label_pos"] for c in counts.values())
    n_y = {True: n_pos, False: n - n_pos}
    table: dict[tuple, dict[str, float]] = {}
    problems = []
    for key, c in counts.items():
        for positive in (True, False):
            n_gy = c["label_pos"] if positive else c["n"] - c["label_pos"]
            if n_y[positive] and not n_gy:
                which = "positive" if positive else "negative"
                problems.append(f"group {group_label(key, protected)} has no {which} labels")
                continue
            weight = n_y[positive] * c["n"] / (n * n_gy) if n_gy else 0.0
            table[(key, positive)] = {
                "n_g": c["n"],
                "n_y": n_y[positive],
                "n_gy": n_gy,
                "weight": weight,
            }
    if problems:
        raise ReweighingError(
            "Reweighing needs every group to have both labels (n_gy > 0): " + "; ".join(problems)
        )
    return table


def apply_weights(
    frame: pd.DataFrame,
    table: dict[tuple, dict[str, float]],
    *,
    label: str,
    protected: list[str],
    pos_label: Any = 1,
) -> pd.Series:
    """The reweighing weight of every row of `frame` (NaN where the row has a null key)."""
    import numpy as np
    import pandas as pd

    def text(value: Any) -> str | None:
        return None if pd.isna(value) else str(json_value(value))

    keys = [f"k{i}" for i in range(len(protected))]
    left = pd.DataFrame(
        {k: frame[c].map(text).to_numpy() for k, c in zip(keys, protected, strict=True)}
    )
    left["y"] = is_positive(frame[label], pos_label).to_numpy(dtype=bool)
    lookup = pd.DataFrame(
        [
            {
                **{k: str(v) for k, v in zip(keys, key, strict=True)},
                "y": bool(y),
                "w": row["weight"],
            }
            for (key, y), row in table.items()
        ],
        columns=[*keys, "y", "w"],
    )
    weights = left.merge(lookup, how="left", on=[*keys, "y"])["w"].to_numpy(dtype=float, copy=True)
    weights[frame[label].isna().to_numpy()] = np.nan
    return pd.Series(weights, index=frame.index, name="weight")
