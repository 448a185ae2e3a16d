"""The Table Schema engine: CSV tables read and checked as frictionless-py does, column-wise.

`tables` reads CSV as frictionless does (encodings, dialects, row numbers); `validator` checks
chunks against a schema with exactly frictionless's errors; `reports` builds its report.
"""

from hub.validation.validator import (
    ChunkResult,
    SchemaError,
    Validator,
    format_report,
    validate_file,
)

__all__ = ["ChunkResult", "SchemaError", "Validator", "format_report", "validate_file"]
