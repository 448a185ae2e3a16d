"""A charter read beside the schemas it lists: the cross-checks that need no data.

The gate applies `schema_refusal` to every batch; `charter_problems` runs the same rules over
every schema a charter lists, for `hub charters check` and `hub validate --charter`, so a charter
that contradicts its schemas is found when it is written, not at its first harvest. Loading a
charter does not run them: reads load charters at each request, and a broken schema file must
not take a charter's reads away.
"""

from __future__ import annotations

from hub import schemas
from hub.charters import Charter


def schema_refusal(schema: schemas.TableSchema, charter: Charter) -> str:
    """Why rows of this schema cannot go out under this charter, or "": rows keyed by a data
    subject go out only under a personal charter naming that key."""
    personal = charter.personal_data or {}
    if schema.subject_field and charter.access != "personal":
        return (
            f"schema {schema.name!r} holds personal data (each row belongs to "
            f"the subject in {schema.subject_field!r}); charter {charter.id!r} "
            f"shares it as {charter.access!r}, not 'personal'"
        )
    subject = personal.get("subject_field")
    if charter.access == "personal" and (
        subject not in schema.fields or (schema.subject_field and subject != schema.subject_field)
    ):
        return (
            f"charter {charter.id!r} ties rows to their subject through "
            f"{subject!r}, which is not the subject field of schema "
            f"{schema.name!r} ({schema.subject_field or 'none declared'})"
        )
    return ""


def theme_refusal(schema: schemas.TableSchema, charter: Charter) -> str:
    """Why the charter does not cover this schema, or "" (its themes and its schema list)."""
    if not charter.covers(schema.theme, schema.name):
        covered = ", ".join(charter.schemas) if charter.schemas is not None else "any"
        return (
            f"charter {charter.id!r} version {charter.version} covers the themes "
            f"{', '.join(charter.themes)} and the schemas {covered}, not schema "
            f"{schema.name!r} ({schema.theme})"
        )
    return ""


def charter_problems(charter: Charter) -> list[str]:
    """What a charter version contradicts in the schemas it lists: a schema no folder holds,
    a broken schema file, a schema of a theme it does not cover, the personal-data rules."""
    if charter.schemas is None:
        return []  # any schema of its themes: each batch's is checked by the gate
    known = schemas.known_schemas()
    name = f"charter {charter.id!r} version {charter.version}"
    problems = []
    for listed in charter.schemas:
        if listed not in known:
            problems.append(
                f"{name} lists schema {listed!r}, which no schema folder holds "
                f"(known schemas: {', '.join(known) or 'none'})"
            )
            continue
        try:
            schema = schemas.load_schema(listed)
        except schemas.SchemaError as broken:
            problems.append(f"{name} lists schema {listed!r}, whose file is broken: {broken}")
            continue
        if schema.theme not in charter.themes:
            problems.append(
                f"{name} lists schema {listed!r}, of theme {schema.theme!r}, which it does not "
                f"cover (its themes: {', '.join(charter.themes)})"
            )
        refusal = schema_refusal(schema, charter)
        if refusal:
            problems.append(f"{name}: {refusal}")
    return problems
