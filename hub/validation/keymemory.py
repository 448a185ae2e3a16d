"""Memory of seen keys for the unique and primaryKey checks, bounded by the keys, not the rows.

frictionless keeps a dict {key tuple: last row number} and reports a repeated key with the
row of its previous occurrence. This keeps the same mapping as sorted numpy arrays, keyed by
two independent 64-bit polars hashes of the key (a 128-bit fingerprint: equal keys always
match, distinct keys practically never do), about 24 bytes per distinct key.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_SEEDS = (0x5EED_0001, 0x5EED_0002)


class KeyMemory:
    """Remembers the last row number of every key seen so far."""

    def __init__(self) -> None:
        self.first = np.zeros(0, dtype=np.uint64)  # sorted
        self.second = np.zeros(0, dtype=np.uint64)
        self.rows = np.zeros(0, dtype=np.int64)

    @property
    def size(self) -> int:
        """How many distinct keys are remembered."""
        return int(self.first.size)

    def check(self, keys: pl.DataFrame, rows: pl.Series) -> pl.Series:
        """Each key row's previous row with the same key (null if new); then remember them."""
        if keys.height == 0:
            return pl.Series("previous", [], dtype=pl.Int64)
        first, second = fingerprint(keys)
        numbers = rows.cast(pl.Int64).to_numpy()
        order = np.argsort(first, kind="stable")  # equal keys stay in row order
        s_first, s_second = first[order], second[order]
        same_first = s_first[1:] == s_first[:-1]
        same = same_first & (s_second[1:] == s_second[:-1])
        if (same_first & ~same).any():  # 64-bit collision in the batch: sort on both hashes
            order = np.lexsort((second, first))
            s_first, s_second = first[order], second[order]
            same = (s_first[1:] == s_first[:-1]) & (s_second[1:] == s_second[:-1])
        s_rows = numbers[order]
        previous = np.full(first.size, -1, dtype=np.int64)
        previous[order[1:][same]] = s_rows[:-1][same]
        starts = np.concatenate(([True], ~same))
        found, slots = self._find(s_first[starts], s_second[starts])
        previous[order[starts][found]] = self.rows[slots[found]]
        ends = np.concatenate((~same, [True]))
        self._remember(s_first[ends], s_second[ends], s_rows[ends])
        return pl.Series("previous", previous).replace(-1, None)

    def _find(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whether each (sorted, distinct) key is remembered, and at which index."""
        slots = np.searchsorted(self.first, first)
        inside = slots < self.first.size
        clipped = np.minimum(slots, max(self.first.size - 1, 0))
        found = np.zeros(first.size, dtype=bool)
        if self.first.size:
            same_first = inside & (self.first[clipped] == first)
            found = same_first & (self.second[clipped] == second)
            for index in np.flatnonzero(same_first & ~found):  # 64-bit collision: scan the run
                found[index], slots[index] = self._scan(
                    int(slots[index]), first[index], second[index]
                )
        return found, slots

    def _scan(self, start: int, first: np.uint64, second: np.uint64) -> tuple[bool, int]:
        position = start
        while position < self.first.size and self.first[position] == first:
            if self.second[position] == second:
                return True, position
            position += 1
        return False, start

    def _remember(self, first: np.ndarray, second: np.ndarray, rows: np.ndarray) -> None:
        """Set the last row of each (sorted, distinct) key, inserting the new ones in order."""
        found, slots = self._find(first, second)
        self.rows[slots[found]] = rows[found]
        new = ~found
        if new.any():
            at = slots[new]
            self.first = np.insert(self.first, at, first[new])
            self.second = np.insert(self.second, at, second[new])
            self.rows = np.insert(self.rows, at, rows[new])


def fingerprint(keys: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes per key row."""
    struct = keys.select(pl.struct(pl.all()).alias("key"))["key"]
    first = struct.hash(_SEEDS[0]).to_numpy()
    second = struct.hash(_SEEDS[1]).to_numpy()
    return first.astype(np.uint64, copy=False), second.astype(np.uint64, copy=False)
