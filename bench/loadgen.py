"""A small, bounded HTTP load generator: N threads, keep-alive connections, loopback only.

Reads a JSON spec on stdin ({base, paths, requests, concurrency, headers, max_seconds,
warmup, and for writes method and bodies}) and prints one JSON object: throughput, latency
percentiles in ms, status counts.
It refuses any host but the loopback, and stops after `requests` or `max_seconds`.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return float("nan")
    index = max(0, min(len(ordered) - 1, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def run(spec: dict) -> dict:
    target = urlparse(spec["base"])
    if target.hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load {target.hostname}: loopback only")
    paths: list[str] = spec["paths"]
    total = int(spec["requests"])
    concurrency = int(spec.get("concurrency", 8))
    headers = dict(spec.get("headers") or {})
    deadline_s = float(spec.get("max_seconds", 120))
    warmup = int(spec.get("warmup", 0))
    method = spec.get("method", "GET")
    bodies: list[str] = spec.get("bodies") or []
    if bodies:
        headers.setdefault("Content-Type", spec.get("content_type", "application/json"))

    lock = threading.Lock()
    counter = {"next": 0}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    sizes: list[int] = []

    def take() -> int | None:
        with lock:
            n = counter["next"]
            if n >= total:
                return None
            counter["next"] = n + 1
            return n

    def worker(stop_at: float, record: bool, quota: list[int] | None) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while time.monotonic() < stop_at:
            if quota is not None:
                if not quota:
                    break
                n = quota.pop()
            else:
                n = take()
                if n is None:
                    break
            path = paths[n % len(paths)]
            start = time.perf_counter()
            try:
                body = bodies[n % len(bodies)].encode() if bodies else None
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            elapsed = time.perf_counter() - start
            if record:
                with lock:
                    latencies.append(elapsed)
                    statuses[str(status)] = statuses.get(str(status), 0) + 1
                    sizes.append(len(body))
        conn.close()

    # Warm-up: every connection, every path once or more, not recorded.
    if warmup:
        per_thread = [list(range(i, warmup, concurrency)) for i in range(concurrency)]
        threads = [
            threading.Thread(target=worker, args=(time.monotonic() + 30, False, q))
            for q in per_thread
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    stop_at = time.monotonic() + deadline_s
    threads = [
        threading.Thread(target=worker, args=(stop_at, True, None)) for _ in range(concurrency)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    done = len(ordered)
    return {
        "requests": done,
        "wall_s": wall,
        "throughput_rps": done / wall if wall else 0.0,
        "p50_ms": _percentile(ordered, 50) * 1000,
        "p95_ms": _percentile(ordered, 95) * 1000,
        "p99_ms": _percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] * 1000) if ordered else float("nan"),
        "statuses": statuses,
        "errors": errors[:5],
        "error_count": len(errors),
        "mean_bytes": (sum(sizes) / len(sizes)) if sizes else 0,
        "timed_out": done < total,
    }


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin))))
