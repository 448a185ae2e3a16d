"""IPT-style Darwin Core Archives written by tests: an Occurrence core (tab-separated, one
header line, no quotes) whose meta.xml maps each column to the Darwin Core term it is named
after, as an IPT export does, and the `dwca` source harvesting it from a file url."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hub.config import get_settings
from pipelines.sources import Operator, Source

DWC = "http://rs.tdwg.org/dwc/terms/"
Row = Mapping[str, str]


def ipt_zip(path: Path, rows: Sequence[Row]) -> Path:
    """An archive at `path` of `rows` (term → value), every term any row has a column."""
    terms = list(dict.fromkeys(term for row in rows for term in row)) or ["occurrenceID"]
    fields = "\n".join(
        f'    <field index="{i}" term="{DWC}{term}"/>' for i, term in enumerate(terms)
    )
    meta = f"""<archive xmlns="http://rs.tdwg.org/dwc/text/">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
{fields}
  </core>
</archive>
"""
    lines = ["\t".join(terms), *("\t".join(row.get(t, "") for t in terms) for row in rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.xml", meta)
        archive.writestr("occurrence.txt", "\n".join(lines) + "\n")
    return path


def ipt_source(
    path: Path, monkeypatch: pytest.MonkeyPatch, source_id: str = "onem-inventaire", **options: Any
) -> Source:
    """The `dwca` source of the archive at `path`, its folder a root file urls may read."""
    monkeypatch.setenv("HUB_FILE_ROOTS", str(path.parent))
    get_settings.cache_clear()
    return Source(
        id=source_id, title="Inventaire ONEM", operator=Operator("gbif", "GBIF"),
        theme="biodiversity", format="dwca", url=path.as_uri(),
        schema="biodiversity-occurrence", charter="gbif-cc-by", options=options,
    )  # fmt: skip


def occurrence(number: int, **terms: str) -> dict[str, str]:
    """A present human observation near Montpellier, `terms` added or replaced."""
    return {
        "occurrenceID": f"onem-{number:03d}",
        "basisOfRecord": "HumanObservation",
        "scientificName": "Quercus ilex L.",
        "eventDate": "2019-05-01",
        "decimalLatitude": f"{43.60 + number / 1000:.3f}",
        "decimalLongitude": f"{3.85 + number / 1000:.3f}",
        "countryCode": "FR",
        **terms,
    }
