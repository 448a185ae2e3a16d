"""Source files as a territory writes them, for the harvest tests: the real OpenAQ sample (or a
feed standing in for it) under OpenAQ's charter."""

from __future__ import annotations

from pathlib import Path

OPENAQ_SAMPLE = "air/openaq_location_3145071_measurements.csv"


def openaq_source_file(
    folder: Path,
    source_id: str,
    url: str,
    *,
    title: str = "",
    operator: str = "openaq",
    schedule: str = "",
) -> Path:
    """`folder/<source_id>.yaml`: an openaq-csv source of `url` (a sample's `file://` url, or a
    local server's), by `operator` (OpenAQ's own id by default), on `schedule` if given."""
    name = "OpenAQ" if operator == "openaq" else operator
    lines = [
        f"id: {source_id}",
        f"title: {title or f'PM2.5 Toronto ({source_id})'}",
        f"operator: {{id: {operator}, name: {name}, kind: public}}",
        "theme: air-quality",
        "format: openaq-csv",
        f"url: {url}",
        "schema: air-quality-observation",
        "charter: openaq-cc-by",
    ]
    if schedule:
        lines.append(f'schedule: "{schedule}"')
    path = folder / f"{source_id}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
