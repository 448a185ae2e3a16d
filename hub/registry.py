"""Which schemas and charters exist, by their files' names only: cheap enough for every listing.

hub.schemas and hub.charters parse and check the files (frictionless, jsonschema); saying
whether a name exists needs neither, so reading source files (`hub sources`, the dashboard)
checks their `schema` and `charter` here without paying for those imports.
"""

from __future__ import annotations

from pathlib import Path

from hub.config import get_settings

SCHEMA_SUFFIX = ".schema.json"
CHARTER_SUFFIX = ".yaml"


def known_schemas() -> list[str]:
    """Names of every schema in the schema folders, sorted."""
    return sorted(
        {
            path.name[: -len(SCHEMA_SUFFIX)]
            for folder in _existing(get_settings().schema_dirs)
            for path in folder.glob(f"*{SCHEMA_SUFFIX}")
        }
    )


def schema_file(name: str) -> Path | None:
    """The file of a schema name (the first folder that has it wins), None if none has it."""
    for folder in get_settings().schema_dirs:
        candidate = folder / f"{name}{SCHEMA_SUFFIX}"
        if candidate.is_file():
            return candidate
    return None


def charter_id_of(path: Path) -> str:
    """The charter id a file name claims: ID.yaml or ID@VERSION.yaml."""
    return path.stem.split("@", 1)[0]


def known_charters() -> list[str]:
    """Ids of every charter in the charter folders, sorted."""
    return sorted(
        {
            charter_id_of(path)
            for folder in _existing(get_settings().charter_dirs)
            for path in folder.glob(f"*{CHARTER_SUFFIX}")
        }
    )


def _existing(folders: list[Path]) -> list[Path]:
    return [folder for folder in folders if folder.is_dir()]
