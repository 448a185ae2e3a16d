"""A row's frictionless error descriptors, in the order frictionless's `Row` produces them.

frictionless reads a row's cells lazily: the unique fields are read first (then the
primary-key fields) and the first unique or primary-key error makes it read the whole row
before that error is appended. So a row's errors are: the cell errors of the fields read
so far, the other fields' cell errors in field order, extra cells, missing cells (all
replaced by a single blank-row error when every cell is blank), with the unique and
primary-key errors slotted where they were found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hub.validation.foreignkeys import ForeignKey
from hub.validation.tableerrors import describe_cell_error, describe_row_error

if TYPE_CHECKING:
    from hub.validation.validator import Validator

ALL_NONE_NOTE = 'cells composing the primary keys are all "None"'
SAME_AS_NOTE = "the same as in the row at position %s"


@dataclass
class RowFacts:
    """What was found about one invalid row."""

    row: int
    cells: tuple[str | None, ...]  # the field cells, None where the row has no cell
    codes: tuple[int, ...]  # per field: error bits (see `hub.validation.fieldtypes.CastColumn`)
    extras: list[str] = field(default_factory=list)
    blank: bool = False
    unique_previous: dict[str, int | None] = field(default_factory=dict)
    key_previous: int | None = None
    key_blank: bool = False
    foreign_missing: list[ForeignKey] = field(default_factory=list)  # keys it breaks


class _RowReport:
    """Replays frictionless's lazy reading of one row."""

    def __init__(self, facts: RowFacts, validator: Validator):
        self.facts, self.validator = facts, validator
        present = list(facts.cells)
        while present and present[-1] is None:
            present.pop()
        self.cells = ["" if cell is None else cell for cell in present] + list(facts.extras)
        self.errors: list[dict[str, Any]] = []
        self.read: set[int] = set()  # fields whose cell errors are already listed
        self.complete = False
        self.index = validator.field_indexes

    def read_field(self, index: int) -> None:
        code = self.facts.codes[index]
        if not code or self.complete or index in self.read:
            return  # a field without errors adds nothing, whenever it is read
        self.read.add(index)
        caster = self.validator.casters[index]
        source = self.facts.cells[index]
        cell = str(source)
        if code & 1:
            self.errors.append(self._cell_error("type-error", caster.notes[0], cell, caster))
            return
        for bit in range(1, len(caster.notes)):
            if code & (1 << bit):
                self.errors.append(
                    self._cell_error("constraint-error", caster.notes[bit], cell, caster)
                )

    def read_all(self) -> None:
        if self.complete:
            return
        for index, code in enumerate(self.facts.codes):
            if code:
                self.read_field(index)
        casters = self.validator.casters
        width, row = len(casters), self.facts.row
        for number, cell in enumerate(self.cells[width:], start=width + 1):
            self.errors.append(
                describe_cell_error("extra-cell", "", self.cells, row, cell, "", number)
            )
        for caster in casters[len(self.cells) :]:
            self.errors.append(
                describe_cell_error(
                    "missing-cell", "", self.cells, row, "", caster.name, caster.number
                )
            )
        if self.facts.blank:
            self.errors = [describe_row_error("blank-row", "", self.cells, row)]
        self.complete = True

    def _cell_error(self, kind: str, note: str, cell: str, caster: Any) -> dict[str, Any]:
        return describe_cell_error(
            kind, note, self.cells, self.facts.row, cell, caster.name, caster.number
        )

    def _foreign_key_error(self, key: ForeignKey) -> dict[str, Any]:
        values = []
        for name in key.fields:
            index = self.index[name]
            values.append(self.validator.casters[index].reader(self.facts.cells[index])[0])
        error = describe_row_error("foreign-key", key.note(values), self.cells, self.facts.row)
        error["fieldNames"] = list(key.fields)
        error["fieldCells"] = ["" if value is None else str(value) for value in values]
        error["referenceName"] = ""
        error["referenceFieldNames"] = list(key.reference)
        return error

    def build(self) -> list[dict[str, Any]]:
        facts, validator = self.facts, self.validator
        for name in validator.unique_names:
            index = self.index[name]
            self.read_field(index)
            previous = facts.unique_previous.get(name)
            if previous is not None:
                self.read_all()
                caster = validator.casters[index]
                typed, _ = caster.reader(facts.cells[index])
                note = SAME_AS_NOTE % previous
                self.errors.append(self._cell_error("unique-error", note, str(typed), caster))
        if validator.primary_key:
            for name in validator.primary_key:
                self.read_field(self.index[name])
            if facts.key_blank or facts.key_previous is not None:
                self.read_all()
                note = ALL_NONE_NOTE if facts.key_blank else SAME_AS_NOTE % facts.key_previous
                self.errors.append(describe_row_error("primary-key", note, self.cells, facts.row))
        for key in validator.foreign_keys:
            for name in key.fields:
                self.read_field(self.index[name])
            if key in facts.foreign_missing:
                self.read_all()
                self.errors.append(self._foreign_key_error(key))
        self.read_all()
        return self.errors


def describe_row(facts: RowFacts, validator: Validator) -> list[dict[str, Any]]:
    """The row's error descriptors, exactly as frictionless lists them."""
    return _RowReport(facts, validator).build()
