"""CKAN's action errors (one envelope and status each) and the parameter checks raising them."""

from __future__ import annotations

import math
from typing import Any

from hub import jsontext
from hub.redaction import QUOTED_MAX, clipped


def echoed(value: object, limit: int = QUOTED_MAX) -> str:
    """A caller's value quoted (a text's repr, or any other value's), cut as `clipped` cuts."""
    return repr(clipped(value, limit)) if isinstance(value, str) else clipped(repr(value), limit)


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


LIST_MAX = 1000  # values of one list parameter (fl, facet.field, fq_list, organizations …)
TRUE = {"true", "1", "yes", "on", "y", "t"}
FALSE = {"false", "0", "no", "off", "n", "f", "none", ""}


def single(data: dict[str, Any], key: str, default: Any = None) -> Any:
    """The value of a single-valued parameter. Repeated in a query string or a form, it arrives
    as a list (werkzeug's `mixed`, as in CKAN), as a JSON list would: either is refused, naming
    it, rather than one of its values picked silently (CKAN's `id` took the first)."""
    value = data.get(key, default)
    if isinstance(value, list):
        raise ValidationError({key: [f"Takes one value, not {len(value)} (repeated, or a list)"]})
    return value


def as_bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    """A boolean parameter read CKAN's way (asbool): "True", "true", "1" … all count."""
    value = single(data, key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValidationError({key: [f"Invalid boolean value: {echoed(value)}"]})


INT_MAX = 2**31 - 1  # Solr's int: CKAN hands rows, start and limits on to it


def as_int(
    data: dict[str, Any],
    key: str,
    default: int | None = None,
    low: int = -INT_MAX,
    high: int = INT_MAX,
) -> int | None:
    """An integer parameter read as CKAN's int_validator does, within [low, high]."""
    value = single(data, key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    number = whole_number(value)
    if number is None:
        raise ValidationError({key: ["Invalid integer"]})
    if number < low:
        raise ValidationError(
            {key: ["Must be a natural number" if low == 0 else f"Must be at least {low}"]}
        )
    if number > high:
        raise ValidationError({key: [f"Must be at most {high}"]})
    return number


def whole_number(value: Any) -> int | None:
    """A whole number from an int, an integral float or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return None  # JSON's true is no count of rows
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # inf and nan are not integral; 2.0 is 2, as in CKAN
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and len(value) <= 50:
        try:
            return int(value)
        except ValueError:
            return None
    return None


def as_natural(data: dict[str, Any], key: str, default: int | None = None) -> int | None:
    """A non-negative integer parameter, or CKAN's validation messages."""
    return as_int(data, key, default, low=0)


def as_text(data: dict[str, Any], key: str, default: str = "") -> str:
    """A string parameter (one value: a repeated one, or a list, is refused)."""
    value = single(data, key, default)
    if isinstance(value, dict):
        raise ValidationError({key: ["Must be text, not an object or a list"]})
    return default if value is None else str(value)


def as_list(data: dict[str, Any], key: str) -> list[str] | None:
    """A list parameter: a JSON list, a JSON-encoded string, repeated keys or a CSV string."""
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except ValueError:  # not JSON, too many digits, nested too deep or holding a NUL
            value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValidationError({key: ["Not a list"]})
    if len(value) > LIST_MAX:
        raise ValidationError({key: [f"More than {LIST_MAX} values"]})
    if any(isinstance(v, dict | list) for v in value):
        raise ValidationError({key: ["Values must be text, not objects or lists"]})
    return [str(v) for v in value]


def require_text(data: dict[str, Any], *keys: str) -> str:
    """The first of `keys` that is given, or CKAN's `Missing value` for the last one."""
    for key in keys:
        value = as_text(data, key)
        if value:
            return value
    raise ValidationError({keys[-1]: ["Missing value"]})
