"""The bad-token limiter: a guessing client is stopped, others are not, memory stays bounded."""

from __future__ import annotations

from hub.api.auth import FailureLimiter


def test_ten_thousand_wrong_tokens_stop_one_client_only():
    limiter = FailureLimiter(allowed=20, window=60, clients=1000)
    for attempt in range(10_000):
        if limiter.retry_after("198.51.100.1", now=float(attempt) / 1000) == 0:
            limiter.fail("198.51.100.1", now=float(attempt) / 1000)
    assert limiter.retry_after("198.51.100.1", now=10.0) > 0
    assert limiter.retry_after("198.51.100.2", now=10.0) == 0
    assert len(limiter._failures["198.51.100.1"]) == 20


def test_the_block_lifts_when_the_window_has_passed():
    limiter = FailureLimiter(allowed=3, window=60)
    for second in range(3):
        limiter.fail("c", now=float(second))
    assert 55 <= limiter.retry_after("c", now=5.0) <= 60
    assert limiter.retry_after("c", now=61.0) == 0


def test_many_clients_do_not_grow_memory_without_bound():
    limiter = FailureLimiter(allowed=5, window=60, clients=100)
    for client in range(5_000):
        limiter.fail(f"client-{client}", now=1.0)
    assert len(limiter._failures) == 100
