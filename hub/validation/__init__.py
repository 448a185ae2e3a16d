"""The Table Schema engine: CSV tables read and checked as frictionless-py does, column-wise.

`tables` reads CSV as frictionless does (encodings, dialects, row numbers); `validator` checks
chunks against a schema with exactly frictionless's errors; `files` validates a whole file;
`reports` builds its report.
The names below are loaded on first use: importing one helper module of the package (e.g.
`readahead`) does not pay for frictionless and the validator.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.validation.files import validate_file
    from hub.validation.reports import format_report
    from hub.validation.validator import ChunkResult, SchemaError, Validator

__all__ = ["ChunkResult", "SchemaError", "Validator", "format_report", "validate_file"]
_MODULES = {
    "ChunkResult": "validator",
    "SchemaError": "validator",
    "Validator": "validator",
    "format_report": "reports",
    "validate_file": "files",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(f"hub.validation.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
