"""Fingerprints of seen keys as sorted numpy arrays: about 24 bytes per distinct key.

`hub.validation.keymemory` moves its keys here once they are many (numpy is imported only
then: a small file does not pay for it).
"""

from __future__ import annotations

import numpy as np
import polars as pl


class KeyArrays:
    """The last row number of every key seen so far, as sorted arrays of fingerprints."""

    def __init__(self, first: list[int], second: list[int], rows: list[int]) -> None:
        order = np.lexsort((np.array(second, dtype=np.uint64), np.array(first, dtype=np.uint64)))
        self.first = np.array(first, dtype=np.uint64)[order]  # sorted
        self.second = np.array(second, dtype=np.uint64)[order]
        self.rows = np.array(rows, dtype=np.int64)[order]

    @property
    def size(self) -> int:
        """How many distinct keys are remembered."""
        return int(self.first.size)

    def check(self, hashes: pl.Series, others: pl.Series, rows: pl.Series) -> pl.Series:
        """Each key's previous row with the same fingerprint (null if new); then remember them."""
        first = hashes.to_numpy().astype(np.uint64, copy=False)
        second = others.to_numpy().astype(np.uint64, copy=False)
        numbers = rows.cast(pl.Int64).to_numpy()
        order = _row_ordered(first)
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
        # one lookup per distinct key of the batch: its first row gets the remembered row, and
        # the remembered row becomes its last row
        starts = np.concatenate(([True], ~same))
        ends = np.concatenate((~same, [True]))
        distinct_first, distinct_second = s_first[starts], s_second[starts]
        found, slots = self._find(distinct_first, distinct_second)
        previous[order[starts][found]] = self.rows[slots[found]]
        last = s_rows[ends]
        self.rows[slots[found]] = last[found]
        new = ~found
        if new.any():
            self._insert(slots[new], distinct_first[new], distinct_second[new], last[new])
        result = pl.Series("previous", previous)
        return result.set(result < 0, None)

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

    def _insert(
        self, slots: np.ndarray, first: np.ndarray, second: np.ndarray, rows: np.ndarray
    ) -> None:
        """Merge new (sorted) keys in at their (non-decreasing) slots: one pass, no re-sort."""
        at = slots + np.arange(slots.size)  # where each new key lands in the merged arrays
        kept = np.ones(self.first.size + slots.size, dtype=bool)
        kept[at] = False
        self.first = _merged(self.first, first, at, kept)
        self.second = _merged(self.second, second, at, kept)
        self.rows = _merged(self.rows, rows, at, kept)


def _merged(old: np.ndarray, new: np.ndarray, at: np.ndarray, kept: np.ndarray) -> np.ndarray:
    merged = np.empty(kept.size, dtype=old.dtype)
    merged[at] = new
    merged[kept] = old
    return merged


def _row_ordered(first: np.ndarray) -> np.ndarray:
    """The order sorting the hashes, equal hashes in row order (cheaper than a stable sort:
    only the few runs of equal hashes are put in order afterwards)."""
    order = np.argsort(first)
    sorted_first = first[order]
    equal = sorted_first[1:] == sorted_first[:-1]
    if equal.any():
        in_run = np.concatenate(([False], equal)) | np.concatenate((equal, [False]))
        where = np.flatnonzero(in_run)
        part = order[where]
        order[where] = part[np.lexsort((part, sorted_first[where]))]
    return order
