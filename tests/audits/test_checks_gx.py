"""The same checks run through Great Expectations (GX Core 1.x) give the same figures (SPEC §1).

GX is a dev dependency used only here as an oracle. Where GX and Charter differ on purpose
(regex fullmatch default, duplicate_values), the test names the difference instead.
"""

import numpy as np
import pandas as pd
import pytest

from tests.audits.test_checks_quality import frame, run

gx = pytest.importorskip("great_expectations")

FIELDS = (
    "element_count",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "missing_count",
    "missing_percent",
)


@pytest.fixture(scope="module")
def gx_validate():
    context = gx.get_context(mode="ephemeral")
    batch_definition = (
        context.data_sources.add_pandas("oracle")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )

    def validate(df: pd.DataFrame, expectation):
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        return batch.validate(expectation, result_format={"result_format": "SUMMARY"})

    return validate


def _same(ours: dict, theirs, fields=FIELDS):
    assert ours["success"] == theirs.success
    for field in fields:
        if field in theirs.result:
            assert ours[field] == pytest.approx(theirs.result[field]), field


@pytest.fixture(scope="module")
def df():
    return frame(600, seed=11)


def test_not_null_matches_gx(gx_validate, df):
    [ours] = run(df, [{"kind": "not_null", "column": "age", "mostly": 0.85}])
    theirs = gx_validate(
        df, gx.expectations.ExpectColumnValuesToNotBeNull(column="age", mostly=0.85)
    )
    assert ours["element_count"] == theirs.result["element_count"]
    assert ours["unexpected_count"] == theirs.result["unexpected_count"]
    assert ours["unexpected_percent"] == pytest.approx(theirs.result["unexpected_percent"])
    assert ours["success"] == theirs.success


@pytest.mark.parametrize("mostly", [1.0, 0.8])
def test_range_matches_gx(gx_validate, df, mostly):
    [ours] = run(
        df, [{"kind": "range", "column": "age", "min_value": 0, "max_value": 120, "mostly": mostly}]
    )
    theirs = gx_validate(
        df,
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="age", min_value=0, max_value=120, mostly=mostly
        ),
    )
    _same(ours, theirs)
    assert ours["partial_unexpected_list"] == theirs.result["partial_unexpected_list"]


def test_strict_range_matches_gx(gx_validate, df):
    [ours] = run(
        df,
        [
            {
                "kind": "range",
                "column": "age",
                "min_value": 0,
                "max_value": 120,
                "strict_min": True,
                "strict_max": True,
            }
        ],
    )
    theirs = gx_validate(
        df,
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="age", min_value=0, max_value=120, strict_min=True, strict_max=True
        ),
    )
    _same(ours, theirs)


def test_allowed_values_match_gx(gx_validate, df):
    allowed = ["A1", "B2", "C3", "D44"]
    [ours] = run(
        df, [{"kind": "allowed_values", "column": "code", "value_set": allowed, "mostly": 0.7}]
    )
    theirs = gx_validate(
        df,
        gx.expectations.ExpectColumnValuesToBeInSet(column="code", value_set=allowed, mostly=0.7),
    )
    _same(ours, theirs)


def test_regex_search_mode_matches_gx(gx_validate, df):
    """GX's regex expectation searches anywhere in the value: Charter's mode 'search'."""
    [ours] = run(
        df, [{"kind": "regex", "column": "code", "regex": "[A-D][0-9]$", "mode": "search"}]
    )
    theirs = gx_validate(
        df, gx.expectations.ExpectColumnValuesToMatchRegex(column="code", regex="[A-D][0-9]$")
    )
    _same(ours, theirs)


def test_unique_matches_gx_duplicate_rows(gx_validate, df):
    [ours] = run(df, [{"kind": "unique", "column": "id"}])
    theirs = gx_validate(df, gx.expectations.ExpectColumnValuesToBeUnique(column="id"))
    _same(ours, theirs)
    assert ours["details"]["duplicate_rows"] == theirs.result["unexpected_count"]


def test_row_count_matches_gx(gx_validate, df):
    [ours] = run(df, [{"kind": "row_count", "min_value": 10, "max_value": 500}])
    theirs = gx_validate(
        df, gx.expectations.ExpectTableRowCountToBeBetween(min_value=10, max_value=500)
    )
    assert ours["observed_value"] == theirs.result["observed_value"]
    assert ours["success"] == theirs.success is False


def test_nulls_in_value_checks_match_gx(gx_validate):
    df = pd.DataFrame({"x": [1.0, np.nan, 50.0, np.nan, 3.0, 200.0]})
    [ours] = run(df, [{"kind": "range", "column": "x", "max_value": 100}])
    theirs = gx_validate(
        df, gx.expectations.ExpectColumnValuesToBeBetween(column="x", max_value=100)
    )
    _same(ours, theirs)
