"""Validation reports in frictionless's report-descriptor shape, and as human text."""

from __future__ import annotations

import os
import time
from typing import Any

from frictionless import helpers


def resource_name(place: str) -> str:
    """The resource name frictionless derives from a path (its slugified file stem)."""
    stem = os.path.splitext(os.path.basename(place))[0]
    return helpers.slugify(stem, regex_pattern=r"[^-a-z0-9._/]") or "name"


def build_report(
    place: str,
    labels: list[str],
    errors: list[dict[str, Any]],
    started: float,
    stats: dict[str, Any],
    warnings: list[str] | None = None,
    *,
    error_total: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A one-task report, as frictionless's `Report.to_descriptor()` lays it out.

    `error_total` counts errors beyond the listed ones, when a long list was cut short.
    """
    warnings = warnings or []
    total = len(errors) if error_total is None else error_total
    seconds = round(time.perf_counter() - started, 3)
    task_stats = {"errors": total, "warnings": len(warnings), "seconds": seconds}
    task_stats.update({key: value for key, value in stats.items() if value})
    task = {
        "name": name or resource_name(place),
        "type": "table",
        "valid": not total,
        "place": place,
        "labels": list(labels),
        "stats": task_stats,
        "warnings": warnings,
        "errors": errors,
    }
    return {
        "valid": not total,
        "stats": {"tasks": 1, "errors": total, "warnings": len(warnings), "seconds": seconds},
        "warnings": [],
        "errors": [],
        "tasks": [task],
    }


def format_report(report: dict[str, Any], *, max_rows: int = 50) -> str:
    """Human text: a summary line per task, then a row/field/type/message table."""
    lines: list[str] = []
    for task in report.get("tasks", []):
        stats = task.get("stats", {})
        state = "valid" if task.get("valid") else "INVALID"
        lines.append(
            f"{task.get('place', '')}: {state} - {stats.get('rows', 0)} rows, "
            f"{stats.get('errors', 0)} errors ({stats.get('seconds', 0)} s)"
        )
        errors = task.get("errors", [])
        shown = errors[:max_rows]
        if shown:
            width = max(5, *(len(str(e.get("fieldName", ""))) for e in shown))
            lines.append(f"{'row':>8}  {'field':<{width}}  {'type':<18}  message")
            for error in shown:
                row, name = error.get("rowNumber", ""), error.get("fieldName", "")
                kind, message = error["type"], error.get("message", "")
                lines.append(f"{row!s:>8}  {name!s:<{width}}  {kind:<18}  {message}")
        if len(errors) > max_rows:
            lines.append(f"... and {len(errors) - max_rows} more errors")
        lines += [f"warning: {warning}" for warning in task.get("warnings", [])]
    return "\n".join(lines)
