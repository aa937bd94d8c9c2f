"""API list throughput: `GET /api/v1/datasets/` against a plain JsonResponse of the same rows.

Targets (issue 8): a paginated, permission-filtered list of 50 datasets >= 0.4x the throughput
of a plain JsonResponse, p99 <= 50 ms at 8 concurrent clients; queries per request constant in
page size and <= 6; filtered by permissions (an ML engineer with grants) <= 2x the latency of
the unfiltered list (a steward sees every dataset). Served by gunicorn (2 workers x 4 threads)
on loopback; load comes from bench/loadgen.py in its own process.
"""

from __future__ import annotations

import os

from bench.common import Figure, Gunicorn, Scale, at_least, at_most, load, log

# Engineers sharing the machine each set their own port range.
PORT = int(os.environ.get("BENCH_PORT", "8106"))
PAGES = 20


def query_counts(username: str, token: str | None = None) -> dict[int, int]:
    """Queries one list request makes, by page size (in-process, real views); logged in with
    a session, or with `token` as the load runs do."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if token is None:
        client = Client(HTTP_HOST="localhost")
        client.force_login(get_user_model().objects.get(username=username))
    else:
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token}")
    counts = {}
    for size in (10, 50):
        client.get(f"/api/v1/datasets/?page_size={size}")
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/api/v1/datasets/?page_size={size}")
        assert response.status_code == 200, response.status_code
        # Session and user loading are the same for every request; count what the view does.
        counts[size] = len(ctx.captured_queries)
    return counts


def visible_count(username: str) -> int:
    from django.contrib.auth import get_user_model

    from access.policies import datasets_for

    return datasets_for(get_user_model().objects.get(username=username), "view").count()


def run(scale: Scale) -> list[Figure]:
    from bench.catalog_data import api_token_for, populate

    pop = populate(
        datasets=scale.search_datasets,
        columns_per_dataset=scale.search_columns_per_dataset,
        grants=scale.api_grants,
    )
    log(f"api: catalog of {pop.datasets:,} datasets, {pop.grants:,} grants ({pop.seconds:.0f} s)")
    engineer = {"Authorization": f"Token {api_token_for(pop.engineer_username)}"}
    steward = {"Authorization": f"Token {api_token_for(pop.steward_username)}"}
    counts = query_counts(pop.engineer_username)
    token_counts = query_counts(pop.engineer_username, engineer["Authorization"].split()[1])
    pages = min(PAGES, visible_count(pop.engineer_username) // 50)
    api_paths = [f"/api/v1/datasets/?page={p}" for p in range(1, pages + 1)]
    base_paths = [f"/bench/baseline/datasets/?page={p}" for p in range(1, pages + 1)]
    n = scale.http_requests
    with Gunicorn(port=PORT) as server:
        baseline = load(base=server.base, paths=base_paths, requests=n)
        filtered = load(base=server.base, paths=api_paths, requests=n, headers=engineer)
        unfiltered = load(base=server.base, paths=api_paths, requests=n, headers=steward)
    for label, res in (("baseline", baseline), ("filtered", filtered), ("unfiltered", unfiltered)):
        log(
            f"api: {label} {res['throughput_rps']:.0f} rps p50 {res['p50_ms']:.1f} ms "
            f"p99 {res['p99_ms']:.1f} ms statuses {res['statuses']} errors {res['error_count']}"
        )
        if set(res["statuses"]) != {"200"}:
            raise RuntimeError(f"{label}: non-200 responses {res['statuses']} {res['errors']}")
    ratio = filtered["throughput_rps"] / baseline["throughput_rps"]
    perm_ratio = filtered["p50_ms"] / unfiltered["p50_ms"]
    scale_note = f"{pop.datasets:,} datasets, {pop.grants:,} grants, 8 clients, {n} requests"
    return [
        Figure(
            name="api.dataset_list_throughput",
            value=round(filtered["throughput_rps"], 1),
            unit="req/s",
            target=">= 0.4x plain JsonResponse",
            passed=at_least(ratio, 0.4),
            baseline=round(baseline["throughput_rps"], 1),
            baseline_name="plain Django JsonResponse of the same 50 rows",
            ratio=round(ratio, 3),
            group="api",
            notes=f"permission-filtered (ML engineer with grants); {scale_note}",
            extra={"filtered": filtered, "baseline": baseline},
        ),
        Figure(
            name="api.dataset_list_p99",
            value=round(filtered["p99_ms"], 1),
            unit="ms",
            target="<= 50 ms",
            passed=at_most(filtered["p99_ms"], 50),
            baseline=round(baseline["p99_ms"], 1),
            baseline_name="plain JsonResponse p99",
            ratio=round(filtered["p99_ms"] / baseline["p99_ms"], 2),
            group="api",
            notes=f"p50 {filtered['p50_ms']:.1f} ms, p95 {filtered['p95_ms']:.1f} ms",
        ),
        Figure(
            name="api.permission_filtered_vs_unfiltered",
            value=round(filtered["p50_ms"], 1),
            unit="ms p50",
            target="<= 2x unfiltered",
            passed=at_most(perm_ratio, 2),
            baseline=round(unfiltered["p50_ms"], 1),
            baseline_name="same list as a steward (no permission filter)",
            ratio=round(perm_ratio, 2),
            group="api",
            notes=f"p95 {filtered['p95_ms']:.1f} vs {unfiltered['p95_ms']:.1f} ms; {scale_note}",
            extra={"unfiltered": unfiltered},
        ),
        Figure(
            name="api.dataset_list_queries",
            value=counts[50],
            unit="queries/request",
            target="<= 6 and equal for page size 10 and 50",
            passed=counts[50] <= 6 and counts[10] == counts[50],
            group="api",
            notes=(
                f"page size 10: {counts[10]}, page size 50: {counts[50]} (session auth); "
                f"with the token of the load runs: {token_counts[10]}, {token_counts[50]}"
            ),
        ),
    ]
