"""Memory of seen keys for the unique and primaryKey checks, bounded by the keys, not the rows.

frictionless keeps a dict {key tuple: last row number} and reports a repeated key with the
row of its previous occurrence. This keeps the same mapping keyed by two independent 64-bit
polars hashes of the key (a 128-bit fingerprint: equal keys always match, distinct keys
practically never do): in a dict while the keys are few, then as sorted numpy arrays
(`hub.validation.keyarrays`, about 24 bytes per distinct key).
"""

from __future__ import annotations

import sys
import threading
from importlib import import_module
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from hub.validation.keyarrays import KeyArrays

_SEEDS = (0x5EED_0001, 0x5EED_0002)
DICT_KEYS = 50_000  # keys kept in a dict at most (each costs ~100 bytes there)


class KeyMemory:
    """Remembers the last row number of every key seen so far."""

    def __init__(self) -> None:
        self.few: dict[tuple[int, int], int] | None = {}
        self.many: KeyArrays | None = None

    @property
    def size(self) -> int:
        """How many distinct keys are remembered."""
        return len(self.few) if self.few is not None else self.many.size  # type: ignore[union-attr]

    def check(self, keys: pl.DataFrame, rows: pl.Series) -> pl.Series:
        """Each key row's previous row with the same key (null if new); then remember them."""
        if keys.height == 0:
            return pl.Series("previous", [], dtype=pl.Int64)
        first, second = fingerprint(keys)
        if self.few is not None and len(self.few) + keys.height > DICT_KEYS:
            from hub.validation.keyarrays import KeyArrays  # numpy, once the keys are many

            pairs, numbers = list(self.few), list(self.few.values())
            self.many = KeyArrays([p[0] for p in pairs], [p[1] for p in pairs], numbers)
            self.few = None
        if self.many is not None:
            return self.many.check(first, second, rows)
        return self._check_few(first, second, rows)

    def _check_few(self, first: pl.Series, second: pl.Series, rows: pl.Series) -> pl.Series:
        few = self.few
        assert few is not None
        previous = []
        pairs = zip(first.to_list(), second.to_list(), strict=True)
        for pair, row in zip(pairs, rows.cast(pl.Int64).to_list(), strict=True):
            previous.append(few.get(pair))
            few[pair] = row
        return pl.Series("previous", previous, dtype=pl.Int64)


def prefetch_arrays() -> None:
    """Start importing the arrays' module (numpy) in a helper thread, for keys about to be many."""
    if "hub.validation.keyarrays" not in sys.modules:
        name = "hub.validation.keyarrays"
        threading.Thread(target=import_module, args=(name,), name="prefetch-numpy").start()


def fingerprint(keys: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Two independent 64-bit hashes per key row."""
    struct = keys.select(pl.struct(pl.all()).alias("key"))["key"]
    return struct.hash(_SEEDS[0]), struct.hash(_SEEDS[1])
