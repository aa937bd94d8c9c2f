"""Fairness audit on 1M rows against fairlearn's MetricFrame for the same metrics.

Target (issue 8): <= 2x fairlearn's MetricFrame time. Both get the same in-memory DataFrame
(label, prediction, sex): Charter's fairness check through its engine (`run_on_chunks`, chunks
of 100k rows as a file audit feeds it) and fairlearn's MetricFrame with selection rate, TPR,
FPR and count per group plus the between-group differences and ratios Charter reports.
"""

from __future__ import annotations

import statistics
import time

from bench.common import SEED, Figure, Scale, at_most

SPEC = {"kind": "fairness", "label": "label", "prediction": "prediction", "protected": ["sex"]}


def _frame(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    sex = np.where(rng.random(rows) < 0.5, "F", "M")
    label = (rng.random(rows) < np.where(sex == "F", 0.30, 0.36)).astype(np.int64)
    prediction = np.where(rng.random(rows) < 0.85, label, 1 - label).astype(np.int64)
    return pd.DataFrame({"sex": sex, "label": label, "prediction": prediction})


def run(scale: Scale) -> list[Figure]:
    from django.utils import timezone
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    from audits.checks.engine import run_on_chunks
    from audits.checks.quality import CheckContext
    from audits.checks.specs import validate_checks

    df = _frame(scale.fairness_rows)
    specs = validate_checks([SPEC])
    columns = [{"name": c, "type": str(t), "nullable": True} for c, t in df.dtypes.items()]
    ctx = CheckContext(now=timezone.now(), columns=columns)
    step = 100_000

    def ours():
        chunks = (df.iloc[i : i + step] for i in range(0, len(df), step))
        return run_on_chunks(chunks, specs, ctx)[0]

    def theirs():
        frame = MetricFrame(
            metrics={
                "selection_rate": selection_rate,
                "true_positive_rate": true_positive_rate,
                "false_positive_rate": false_positive_rate,
                "count": count,
            },
            y_true=df["label"],
            y_pred=df["prediction"],
            sensitive_features=df["sex"],
        )
        return frame.by_group, frame.difference(), frame.ratio()

    result = ours()
    theirs()
    repeats = max(3, scale.repeats)
    ours_t, theirs_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        theirs()
        ours_t.append(t1 - t0)
        theirs_t.append(time.perf_counter() - t1)
    mine, base = statistics.median(ours_t), statistics.median(theirs_t)
    return [
        Figure(
            name="fairness.audit_vs_fairlearn",
            value=round(mine, 3),
            unit="s",
            target="<= 2x fairlearn MetricFrame",
            passed=at_most(mine / base, 2) and result.get("status") != "error",
            baseline=round(base, 3),
            baseline_name="fairlearn MetricFrame (SR, TPR, FPR, count; difference, ratio)",
            ratio=round(mine / base, 2),
            group="fairness",
            notes=f"{scale.fairness_rows:,} rows, one protected attribute (2 groups); "
            f"Charter also runs significance tests; status {result.get('status')}",
        )
    ]
