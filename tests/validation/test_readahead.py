"""read_ahead: the same items in order, produced one ahead in a helper thread."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest

from hub.validation.readahead import read_ahead

FLOW = contextvars.ContextVar("flow", default="none")


def test_items_come_in_order_from_a_helper_thread() -> None:
    threads: list[str] = []

    def produce() -> Iterator[int]:
        for number in range(5):
            threads.append(threading.current_thread().name)
            yield number * number

    assert list(read_ahead(produce())) == [0, 1, 4, 9, 16]
    assert set(threads) != {threading.current_thread().name}


def test_the_helper_sees_the_callers_context_variables() -> None:
    token = FLOW.set("harvest-42")
    try:
        assert list(read_ahead(FLOW.get() for _ in range(2))) == ["harvest-42"] * 2
    finally:
        FLOW.reset(token)


def test_an_error_is_raised_at_the_item_it_stopped() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 is broken")

    seen = []
    with pytest.raises(ValueError, match="row 3 is broken"):
        for item in read_ahead(produce()):
            seen.append(item)
    assert seen == [1, 2]


def test_closing_early_stops_after_the_item_under_way() -> None:
    made: list[int] = []

    def produce() -> Iterator[int]:
        for number in range(100):
            made.append(number)
            yield number

    items = read_ahead(produce())
    assert [next(items), next(items)] == [0, 1]
    items.close()
    assert made == [0, 1, 2]
