"""Print a results JSON as the Markdown table docs/PERFORMANCE.md holds.

    .venv/bin/python bench/report.py [bench/results/latest.json ...]

Several files may be given (e.g. a full-scale run of some groups and a small run of the
rest); each row says which scale and run it came from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(paths: list[Path]) -> str:
    lines = [
        "| figure | value | unit | target | baseline (same run) | ratio | status | scale |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path in paths:
        data = json.loads(path.read_text())
        for fig in data["figures"]:
            scale = fig.get("scale", data["meta"]["scale"])
            status = {"pass": "pass", "FAIL": "**FAIL**"}.get(fig["status"], fig["status"])
            lines.append(
                f"| {fig['name']} | {_fmt(fig['value'])} | {fig['unit']} | {fig['target']} | "
                f"{_fmt(fig['baseline'])} | {_fmt(fig['ratio'])} | {status} | {scale} |"
            )
    return "\n".join(lines)


def notes(paths: list[Path]) -> str:
    out = []
    for path in paths:
        data = json.loads(path.read_text())
        for fig in data["figures"]:
            if fig["notes"]:
                scale = fig.get("scale", data["meta"]["scale"])
                out.append(f"- `{fig['name']}` ({scale}): {fig['notes']}")
    return "\n".join(out)


if __name__ == "__main__":
    given = [Path(p) for p in sys.argv[1:]] or [ROOT / "bench" / "results" / "latest.json"]
    print(table(given))
    print()
    print(notes(given))
