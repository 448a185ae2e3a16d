"""The schema registry: the hub's Frictionless Table Schemas, found by name or path and checked."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import frictionless
import jsonschema
import yaml

from hub import registry
from hub.config import PROJECT_ROOT

log = logging.getLogger(__name__)

SUFFIX = registry.SCHEMA_SUFFIX
PROFILE_PATH = PROJECT_ROOT / "schemas" / "table-schema.profile.json"
# The store indexes these roles; each must name a field of a fitting type.
HUB_ROLE_TYPES = {
    "time": {"datetime", "date"},
    "end": {"datetime", "date"},  # a row's last day or instant, when it covers a period
    "period": {"string"},  # an ISO 8601 date or interval: `time` and `end` are derived from it
    "lon": {"number", "integer"},
    "lat": {"number", "integer"},
    "subject": {"string"},
    "geometry": {"geojson"},
}

Location = tuple[str | int, ...]  # keys and list indexes into a descriptor
Problem = tuple[Location, str]


class SchemaError(Exception):
    """A schema cannot be found or used."""


class UnknownSchemaError(SchemaError, LookupError):
    """No schema of that name in any schema folder."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name, self.known = name, list(known)
        super().__init__(f"unknown schema {name!r}; known schemas: {', '.join(known) or 'none'}")


class SchemaFileError(SchemaError):
    """A schema file is broken, rejected by frictionless or misses the hub's properties."""

    def __init__(self, path: Path, located: Sequence[tuple[int | None, str]]) -> None:
        self.path = path
        self.line = located[0][0]
        self.problems = [message for _, message in located]
        super().__init__(
            "\n".join(
                f"{path}:{line}: {message}" if line else f"{path}: {message}"
                for line, message in located
            )
        )


@dataclass(frozen=True)
class TableSchema:
    """A loaded, checked Table Schema and the columns the store indexes."""

    name: str
    version: str
    theme: str
    title: str
    descriptor: dict[str, Any]
    path: Path
    fields: list[str]
    primary_key: list[str]
    time_field: str | None
    lon_field: str | None
    lat_field: str | None
    subject_field: str | None
    geometry_field: str | None = None
    end_field: str | None = None
    period_field: str | None = None

    def field_descriptor(self, name: str) -> dict[str, Any]:
        """The descriptor of one field; KeyError if the schema has no such field."""
        for field in self.descriptor["fields"]:
            if field["name"] == name:
                return field
        raise KeyError(name)

    def missing_value(self, name: str) -> str:
        """The cell that means "missing" in a field: its first missing value, or the schema's.

        Writers that build rows from records (pushed JSON, derived alerts) put it for a null: a
        null cell is one the row does not have, which the gate reports as a missing cell.
        """
        descriptor = self.field_descriptor(name)
        missing = descriptor.get("missingValues", self.descriptor.get("missingValues", [""]))
        return str(missing[0]) if missing else ""

    def to_frictionless(self) -> frictionless.Schema:
        """A frictionless Schema built from this descriptor (custom properties kept)."""
        return frictionless.Schema.from_descriptor(copy.deepcopy(self.descriptor))


def known_schemas() -> list[str]:
    """Names of every schema in the schema folders, sorted."""
    return registry.known_schemas()


def find_schema(name: str) -> Path:
    """The file of a schema name: the first folder of `schema_dirs` that has it wins."""
    found = registry.schema_file(name)
    if found is None:
        raise UnknownSchemaError(name, known_schemas())
    return found


def load_schema(name_or_path: str | Path) -> TableSchema:
    """Load a schema by registry name or by file path, checked against frictionless and the hub."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise SchemaFileError(path, [(None, "no such schema file")])
    else:
        path = find_schema(str(name_or_path))
    descriptor = _checked_descriptor(path.resolve())
    return _table_schema(copy.deepcopy(descriptor), path)


def load_plain_schema(path: str | Path) -> dict[str, Any]:
    """An outside Table Schema file (no hub properties needed), checked by frictionless."""
    path = Path(path)
    if not path.is_file():
        raise SchemaFileError(path, [(None, "no such schema file")])
    text = path.read_text(encoding="utf-8")
    try:
        descriptor = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(path, [(exc.lineno, f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("fields"), list):
        raise SchemaFileError(path, [(1, "a Table Schema must be a JSON object with fields")])
    problems = _frictionless_problems(descriptor) or _foreign_key_problems(descriptor)
    if problems:
        raise SchemaFileError(
            path,
            sorted(
                (locate_line(text, where), _describe(descriptor, where, message))
                for where, message in problems
            ),
        )
    return descriptor


def category_labels(descriptor: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Each field's enum values with their labels: {field: {value: [label, *altLabels]}}."""
    return {
        field["name"]: {
            category["value"]: [category["label"], *category.get("altLabels", [])]
            for category in field["categories"]
        }
        for field in descriptor["fields"]
        if field.get("categories")
    }


def all_category_labels() -> dict[str, list[str]]:
    """Every enum value of the registry's schemas with its labels, merged across fields."""
    merged: dict[str, list[str]] = {}
    for name in known_schemas():
        try:
            descriptor = _checked_descriptor(find_schema(name).resolve())
        except SchemaFileError as exc:
            # One broken territory file must not take the labels of the others away.
            log.warning("schema %s left out of the category labels: %s", name, exc)
            continue
        for values in category_labels(descriptor).values():
            for value, labels in values.items():
                known = merged.setdefault(value, [])
                known += [label for label in labels if label not in known]
    return merged


def locate_line(text: str, path: Sequence[str | int]) -> int:
    """The 1-based line of `path` (keys, list indexes) in a JSON or YAML text, as deep as found."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1  # only texts JSON accepted get here, and YAML reads nearly all of them
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in path:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == str(step)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(step, int)
            and (step < len(node.value))
        ):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    else:
        # A list item that is an object: point at its first key, where JSON writers put the name.
        if path and isinstance(path[-1], int) and isinstance(node, yaml.MappingNode) and node.value:
            line = node.value[0][0].start_mark.line + 1
    return line


def _looks_like_path(value: str | Path) -> bool:
    """Whether a schema reference is a file path rather than a registry name."""
    if isinstance(value, Path):
        return True
    return "/" in value or "\\" in value or value.endswith(".json")


# Keyed on the file's identity and mtime so an edited file is re-read, an unchanged one is not.
_cache: dict[tuple[Path, int, int], dict[str, Any]] = {}


def _checked_descriptor(path: Path) -> dict[str, Any]:
    """Read and check a schema file, or raise SchemaFileError naming file and line."""
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key in _cache:
        return _cache[key]
    text = path.read_text(encoding="utf-8")
    try:
        descriptor = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaFileError(path, [(exc.lineno, f"not valid JSON: {exc.msg}")]) from None
    if not isinstance(descriptor, dict):
        raise SchemaFileError(path, [(1, "a Table Schema must be a JSON object")])
    problems = _profile_problems(descriptor) or _frictionless_problems(descriptor)
    problems = problems or (
        _hub_problems(descriptor)
        + _foreign_key_problems(descriptor)
        + _category_problems(descriptor)
        + _name_problems(descriptor, path)
    )
    if problems:
        located = [
            (locate_line(text, where), _describe(descriptor, where, message))
            for where, message in problems
        ]
        raise SchemaFileError(path, sorted(located))
    log.debug("loaded schema %s from %s", descriptor["name"], path)
    _cache[key] = descriptor
    return descriptor


@lru_cache(maxsize=1)
def _profile_validator() -> jsonschema.Draft202012Validator:
    """The JSON Schema validator of the hub's Table Schema profile."""
    profile = json.loads(PROFILE_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(profile)


def _profile_problems(descriptor: dict[str, Any]) -> list[Problem]:
    """What the hub's profile finds missing or wrong (name, version, theme, hub, documentation)."""
    errors = _profile_validator().iter_errors(descriptor)
    return [(tuple(error.absolute_path), error.message) for error in errors]


def _frictionless_problems(descriptor: dict[str, Any]) -> list[Problem]:
    """What frictionless rejects, located field by field because its notes carry no index."""
    problems: list[Problem] = []
    fields = descriptor.get("fields")
    for i, field in enumerate(fields if isinstance(fields, list) else []):
        if isinstance(field, dict):
            for error in frictionless.Field.validate_descriptor(field).errors:
                problems.append((("fields", i, *_note_path(error.note)), error.note))
            problems += _constraint_problems(i, field)
    seen = {message for _, message in problems}
    for error in frictionless.Schema.validate_descriptor(descriptor).errors:
        if error.type != "field-error" or error.note not in seen:
            problems.append((_note_path(error.note), error.note))
    return problems


_AT_PROPERTY = re.compile(r"at property '([^']*)'")
_NOTE_KEYS = {
    "field type": "type",
    "example value": "example",
    "primary key": "primaryKey",
    "foreign key": "foreignKeys",
    "names of the fields": "fields",
}


def _note_path(note: str) -> Location:
    """Guess the descriptor path a frictionless note is about."""
    found = _AT_PROPERTY.search(note)
    if found:
        return tuple(int(p) if p.isdigit() else p for p in found.group(1).split("/") if p)
    for words, key in _NOTE_KEYS.items():
        if words in note:
            return (key,)
    return ()


def _constraint_problems(i: int, field: dict[str, Any]) -> list[Problem]:
    """Constraint values frictionless accepts silently but cannot use (bad regex, wrong type)."""
    constraints = field.get("constraints")
    if not isinstance(constraints, dict):
        return []
    problems: list[Problem] = []
    pattern = constraints.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            message = f"invalid regular expression: {exc}"
            problems.append((("fields", i, "constraints", "pattern"), message))
    try:
        bare = {k: v for k, v in field.items() if k not in ("constraints", "example")}
        reader = frictionless.Field.from_descriptor(bare)
    except frictionless.FrictionlessException:
        return problems  # already reported by frictionless itself
    for key in ("minimum", "maximum", "enum"):
        values = constraints.get(key, [])
        for value in values if key == "enum" and isinstance(values, list) else [values]:
            if key in constraints and reader.read_cell(value)[1]:
                message = f"{value!r} is not a valid {field.get('type')}"
                problems.append((("fields", i, "constraints", key), message))
    return problems


def _foreign_key_problems(descriptor: dict[str, Any]) -> list[Problem]:
    """Refuse a foreign key the hub cannot check: one into another table. The hub checks keys
    into the schema's own table (`reference.resource` ""), in a batch and against the stored
    rows; a schema is shared by datasets, so another resource's name names no one table."""
    problems: list[Problem] = []
    for index, key in enumerate(descriptor.get("foreignKeys") or []):
        resource = (key.get("reference") or {}).get("resource")
        if resource:
            problems.append(
                (
                    ("foreignKeys", index, "reference", "resource"),
                    f"a foreign key into resource {resource!r} cannot be checked: the hub "
                    "checks foreign keys into the schema's own table only "
                    '(reference.resource ""); a schema is shared by datasets, so another '
                    "resource's name names no one table to look the values up in",
                )
            )
    return problems


def _hub_problems(descriptor: dict[str, Any]) -> list[Problem]:
    """Check that `hub` names existing fields of fitting types."""
    types = {f["name"]: f for f in descriptor["fields"]}
    problems: list[Problem] = []
    for role, name in descriptor["hub"].items():
        field = types.get(name)
        if field is None:
            problems.append((("hub", role), f"names {name!r}, which is not a field"))
        elif field.get("type", "string") not in HUB_ROLE_TYPES[role]:
            allowed = " or ".join(sorted(HUB_ROLE_TYPES[role]))
            problems.append((("hub", role), f"field {name!r} must be of type {allowed}"))
        elif role == "subject" and not field.get("constraints", {}).get("required"):
            # A personal row without its subject could be read by nobody, or by everybody.
            problems.append((("hub", role), f"field {name!r} must be required"))
    return problems


def _category_problems(descriptor: dict[str, Any]) -> list[Problem]:
    """A field's categories must label each value of its enum once, and nothing else."""
    problems: list[Problem] = []
    for i, field in enumerate(descriptor["fields"]):
        where: Location = ("fields", i, "categories")
        enum = field.get("constraints", {}).get("enum")
        if "categories" not in field:
            continue
        if not isinstance(enum, list):
            problems.append((where, "label the values of an enum, and the field has none"))
            continue
        seen: set[str] = set()
        for j, category in enumerate(field["categories"]):
            value = category["value"]
            if value not in enum:
                problems.append(((*where, j), f"{value!r} is not in the enum"))
            elif value in seen:
                problems.append(((*where, j), f"{value!r} is labelled twice"))
            seen.add(value)
        missing = ", ".join(repr(value) for value in enum if value not in seen)
        if missing:
            problems.append((where, f"no category for {missing}"))
    return problems


def _name_problems(descriptor: dict[str, Any], path: Path) -> list[Problem]:
    """A registry file must be named after the schema it holds."""
    if path.name.endswith(SUFFIX) and path.name[: -len(SUFFIX)] != descriptor["name"]:
        return [(("name",), f"{descriptor['name']!r} does not match the file name {path.name}")]
    return []


def _describe(descriptor: dict[str, Any], path: Location, message: str) -> str:
    """Prefix a message with the field it concerns, by name rather than by index."""
    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        fields = descriptor.get("fields")
        field = fields[path[1]] if isinstance(fields, list) and path[1] < len(fields) else {}
        number = f"#{path[1] + 1}"
        name = field.get("name", number) if isinstance(field, dict) else number
        rest = ".".join(str(p) for p in path[2:])
        return f"field {name!r}{' ' + rest if rest else ''}: {message}"
    where = ".".join(str(p) for p in path)
    return f"{where}: {message}" if where else message


def _table_schema(descriptor: dict[str, Any], path: Path) -> TableSchema:
    """Build the TableSchema of a checked descriptor."""
    hub = descriptor["hub"]
    return TableSchema(
        name=descriptor["name"],
        version=descriptor["version"],
        theme=descriptor["theme"],
        title=descriptor["title"],
        descriptor=descriptor,
        path=path,
        fields=[field["name"] for field in descriptor["fields"]],
        primary_key=list(descriptor.get("primaryKey", [])),
        time_field=hub.get("time"),
        lon_field=hub.get("lon"),
        lat_field=hub.get("lat"),
        subject_field=hub.get("subject"),
        geometry_field=hub.get("geometry"),
        end_field=hub.get("end"),
        period_field=hub.get("period"),
    )
