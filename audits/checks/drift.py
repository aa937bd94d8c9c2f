"""Distribution drift against a reference version: PSI for numbers, chi-square for categories.

PSI (SPEC §1): 10 equal-width bins over the reference's range (values beyond it fall in the end
bins), empty bins counted as 1e-5, PSI = sum((cur - ref) * ln(cur / ref)); < 0.1 stable,
0.1-0.25 moderate, > 0.25 significant. Categories: scipy's chi-square test of independence on
the 2 x k table of reference and current counts.

A run always records the distribution it saw (`details.distribution`), so the run bound to a
version becomes the baseline for later versions. Numbers are binned exactly on the reference's
edges while streaming; the run's own 10-bin histogram is computed from a fixed-size reservoir
sample (exact up to `SAMPLE_CAP` rows), so memory stays bounded.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from audits.checks.quality import Accumulator, CheckContext
from audits.checks.results import json_value, make_result, not_applicable_result

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

BINS = 10
EMPTY_BIN = 1e-5
PSI_STABLE = 0.1
PSI_SIGNIFICANT = 0.25
SAMPLE_CAP = 200_000
MAX_CATEGORIES = 1000
OTHER = "__other__"


def equal_width_edges(lo: float, hi: float, bins: int = BINS) -> list[float]:
    """bins + 1 equal-width edges over [lo, hi]; a constant column gets a unit-wide range."""
    import numpy as np

    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return [float(x) for x in np.linspace(lo, hi, bins + 1)]


def bin_counts(values: Any, edges: list[float]) -> list[int]:
    """Counts per bin; values below the first or above the last edge fall in the end bins."""
    import numpy as np

    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    inner = np.asarray(edges[1:-1], dtype=float)
    idx = np.searchsorted(inner, arr, side="right")  # numpy.histogram's [a, b) with last closed
    return [int(x) for x in np.bincount(idx, minlength=len(edges) - 1)]


def psi(reference_counts: list[float], current_counts: list[float]) -> float:
    """Population stability index of two binned distributions (empty bins as 1e-5)."""
    ref_total, cur_total = sum(reference_counts), sum(current_counts)
    if not ref_total or not cur_total:
        raise ValueError("PSI needs at least one value in each distribution")
    value = 0.0
    for r, c in zip(reference_counts, current_counts, strict=True):
        p = (r / ref_total) or EMPTY_BIN
        q = (c / cur_total) or EMPTY_BIN
        value += (q - p) * math.log(q / p)
    return value


def psi_band(value: float) -> str:
    if value < PSI_STABLE:
        return "stable"
    return "moderate" if value <= PSI_SIGNIFICANT else "significant"


def psi_from_values(reference: Any, current: Any, bins: int = BINS) -> float:
    """PSI of two samples with `bins` equal-width bins over the reference's range."""
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    ref = ref[~np.isnan(ref)]
    edges = equal_width_edges(float(ref.min()), float(ref.max()), bins)
    return psi(bin_counts(ref, edges), bin_counts(current, edges))


def chi_square(reference: dict[str, int], current: dict[str, int]) -> dict[str, Any]:
    """Chi-square test of independence on reference vs current category counts (scipy)."""
    from scipy.stats import chi2_contingency

    categories = sorted(set(reference) | set(current), key=str)
    table = [[reference.get(c, 0) for c in categories], [current.get(c, 0) for c in categories]]
    kept = [i for i in range(len(categories)) if table[0][i] + table[1][i] > 0]
    if len(kept) < 2:
        return {"statistic": 0.0, "p_value": 1.0, "dof": 0, "categories": len(kept)}
    table = [[row[i] for i in kept] for row in table]
    result = chi2_contingency(table, correction=False)
    return {
        "statistic": float(result.statistic),
        "p_value": float(result.pvalue),
        "dof": int(result.dof),
        "categories": len(kept),
    }


class DistributionDriftCheck(Accumulator):
    """Accumulate the column's distribution; compare with the reference (`ctx.references`)."""

    def __init__(self, spec: dict[str, Any], ctx: CheckContext, index: int = 0) -> None:
        import numpy as np

        super().__init__(spec, ctx, index)
        self.reference = ctx.references.get(index)
        self.numeric: bool | None = None
        if self.reference is not None:
            self.numeric = self.reference.get("type") == "numeric"
        if spec.get("method") == "psi":
            self.numeric = True
        elif spec.get("method") == "chi_square":
            self.numeric = False
        self.rng = np.random.default_rng(0)  # deterministic: same version, same findings
        self.sample = np.empty(0, dtype=float)
        self.seen = 0
        self.lo = self.hi = None
        self.ref_bins = [0] * BINS
        self.categories: Counter = Counter()
        self.total = self.nulls = 0

    def update(self, chunk: pd.DataFrame) -> None:
        import pandas as pd

        series = chunk[self.spec["column"]]
        self.total += len(series)
        self.nulls += int(series.isna().sum())
        values = series.dropna()
        if self.numeric is None:
            self.numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(
                series
            )
        if self.numeric:
            self._update_numeric(pd.to_numeric(values, errors="coerce").dropna().to_numpy(float))
        else:
            for value, count in values.astype(str).value_counts().items():
                key = (
                    value
                    if value in self.categories or len(self.categories) < MAX_CATEGORIES
                    else OTHER
                )
                self.categories[key] += int(count)

    def _update_numeric(self, arr: Any) -> None:
        import numpy as np

        if arr.size == 0:
            return
        self.lo = float(arr.min()) if self.lo is None else min(self.lo, float(arr.min()))
        self.hi = float(arr.max()) if self.hi is None else max(self.hi, float(arr.max()))
        if self.reference is not None and self.reference.get("type") == "numeric":
            counts = bin_counts(arr, self.reference["edges"])
            self.ref_bins = [a + b for a, b in zip(self.ref_bins, counts, strict=True)]
        room = SAMPLE_CAP - self.sample.size
        if room > 0:
            self.sample = np.concatenate([self.sample, arr[:room]])
            self.seen += min(room, arr.size)
            arr = arr[room:]
        if arr.size:  # reservoir sampling (algorithm R), vectorised
            positions = self.seen + np.arange(arr.size)
            slots = self.rng.integers(0, positions + 1)
            keep = slots < SAMPLE_CAP
            self.sample[slots[keep]] = arr[keep]
            self.seen += arr.size

    own_override: dict[str, Any] | None = None  # set when SQL computed the histogram

    def own_distribution(self) -> dict[str, Any] | None:
        if self.own_override is not None:
            return self.own_override
        if self.numeric:
            if self.lo is None:
                return None
            edges = equal_width_edges(self.lo, self.hi)
            counts = bin_counts(self.sample, edges)
            return {
                "type": "numeric",
                "edges": edges,
                "counts": counts,
                "n": self.seen,
                "sample_size": int(self.sample.size),
            }
        if not self.categories:
            return None
        counts: Counter = Counter()
        mask = self.mask  # PII values are never stored: keys are masked (hash keeps them distinct)
        for key, count in self.categories.items():
            counts[mask(key) if mask and key != OTHER else key] += count
        return {"type": "categorical", "counts": dict(counts), "n": sum(counts.values())}

    def finish(self) -> dict[str, Any]:
        own = self.own_distribution()
        reference = self.reference
        if reference is None:
            result = not_applicable_result(
                self.spec, "no reference distribution yet; this run records one as a baseline"
            )
            result["details"]["distribution"] = own
            return result
        if own is None:
            return not_applicable_result(self.spec, "the column has no values to compare")
        if self.numeric:
            return self._psi_result(reference, own)
        return self._chi_result(reference, own)

    def _psi_result(self, reference: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
        value = psi(reference["counts"], self.ref_bins)
        band = psi_band(value)
        status = {"stable": "pass", "moderate": "warn"}.get(band)
        if status is None:
            status = "fail" if self.spec.get("severity") == "critical" else "warn"
        return make_result(
            spec=self.spec,
            success=band == "stable",
            status=status,
            observed_value=value,
            element_count=self.total,
            missing_count=self.nulls,
            details={
                "method": "psi",
                "statistic": value,
                "band": band,
                "rule": "PSI on 10 equal-width bins of the reference range, empty bins 1e-5; "
                "< 0.1 stable, 0.1-0.25 moderate, > 0.25 significant",
                "reference_version": reference.get("version"),
                "edges": reference["edges"],
                "reference_counts": reference["counts"],
                "current_counts": self.ref_bins,
                "distribution": own,
            },
        )

    def _chi_result(self, reference: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
        test = chi_square(reference["counts"], own["counts"])
        alpha = float(self.spec.get("p_value_threshold", 0.05))
        success = test["p_value"] >= alpha
        return make_result(
            spec=self.spec,
            success=success,
            observed_value=test["statistic"],
            element_count=self.total,
            missing_count=self.nulls,
            details={
                "method": "chi_square",
                **test,
                "alpha": alpha,
                "rule": f"chi-square test of independence; drift when p < {alpha}",
                "reference_version": reference.get("version"),
                "distribution": own,
            },
        )


__all__ = [
    "DistributionDriftCheck",
    "bin_counts",
    "chi_square",
    "json_value",
    "psi",
    "psi_band",
    "psi_from_values",
]
