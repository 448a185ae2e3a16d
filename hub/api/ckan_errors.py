"""CKAN's action errors (one envelope and status each) and the parameter checks raising them."""

from __future__ import annotations

import json
from typing import Any


class ActionError(Exception):
    """An action's failure, answered with CKAN's error envelope."""

    status = 500
    kind = "Internal Server Error"
    prefix = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def error(self) -> dict[str, Any]:
        """The `error` object of the envelope (CKAN prefixes messages; ckanapi strips them)."""
        text = f"{self.prefix}: {self.message}" if self.message else self.prefix
        return {"__type": self.kind, "message": text or self.kind}


class NotFound(ActionError):
    """CKAN's NotFound: 404, `Not Found Error`."""

    status, kind, prefix = 404, "Not Found Error", "Not found"


class NotAuthorized(ActionError):
    """CKAN's NotAuthorized: 403, `Authorization Error`."""

    status, kind, prefix = 403, "Authorization Error", "Access denied"


class SearchQueryError(ActionError):
    """CKAN's SearchQueryError: 400, `Search Query Error`."""

    status, kind, prefix = 400, "Search Query Error", "Search Query is invalid"

    def error(self) -> dict[str, Any]:
        """CKAN formats the message as `Search Query is invalid: %r` of the error's args."""
        return {"__type": self.kind, "message": f"{self.prefix}: {self.message!r}"}


class ValidationError(ActionError):
    """CKAN's ValidationError: 409, the field → messages dict itself plus `__type`."""

    status, kind = 409, "Validation Error"

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in fields.items()))
        self.fields = fields

    def error(self) -> dict[str, Any]:
        """ckanapi exposes this dict as `ValidationError.error_dict`."""
        return {**self.fields, "__type": self.kind}


TRUE = {"true", "1", "yes", "on", "y", "t"}
FALSE = {"false", "0", "no", "off", "n", "f", "none", ""}


def as_bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    """A boolean parameter read CKAN's way (asbool): "True", "true", "1" … all count."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationError({key: [f"Invalid boolean value: {value!r}"]})


def as_natural(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """A non-negative integer parameter, or CKAN's validation messages."""
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValidationError({key: ["Invalid integer"]})
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({key: ["Invalid integer"]}) from None
    if number < 0:
        raise ValidationError({key: ["Must be a natural number"]})
    return number


def as_text(data: dict[str, Any], key: str, default: str = "") -> str:
    """A string parameter (a repeated one keeps its first value)."""
    value = data.get(key, default)
    if isinstance(value, list):
        value = value[0] if value else default
    return default if value is None else str(value)


def as_list(data: dict[str, Any], key: str) -> list[str] | None:
    """A list parameter: a JSON list, a JSON-encoded string, repeated keys or a CSV string."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValidationError({key: ["Not a list"]})
    return [str(v) for v in value]


def require_text(data: dict[str, Any], *keys: str) -> str:
    """The first of `keys` that is given, or CKAN's `Missing value` for the last one."""
    for key in keys:
        value = as_text(data, key)
        if value:
            return value
    raise ValidationError({keys[-1]: ["Missing value"]})
