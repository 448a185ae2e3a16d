"""An outage of something the hub relies on, logged as the README's Logs section promises: one
warning when it starts, a reminder at most every REMIND seconds while it lasts (with how many
failures it has seen), and one warning when it ends — never a line, nor a traceback, per retry."""

from __future__ import annotations

import logging
import threading
import time

REMIND = 60.0  # seconds between reminders of an outage that goes on


class Outage:
    """The state of one dependency, as seen by this process (thread-safe)."""

    def __init__(self, what: str, log: logging.Logger, remind: float = REMIND) -> None:
        self.what, self.log, self.remind = what, log, remind
        self._lock = threading.Lock()
        self.since: float | None = None  # monotonic start of the ongoing outage
        self.failures = 0
        self._reminded = 0.0

    @property
    def ongoing(self) -> bool:
        """Whether an outage has started and not ended."""
        return self.since is not None

    def failed(self, exc: BaseException, during: str = "") -> None:
        """Note one failure: a warning if it starts an outage or a reminder is due."""
        reason = (str(exc).splitlines() or [type(exc).__name__])[0] or type(exc).__name__
        where = f" ({during})" if during else ""
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            if self.since is None:
                self.since = self._reminded = now
                self.log.warning("%s unavailable%s: %s; retrying", self.what, where, reason)
            elif now - self._reminded >= self.remind:
                self._reminded = now
                self.log.warning(
                    "%s still unavailable after %.0f s (%d failures)%s: %s",
                    self.what,
                    now - self.since,
                    self.failures,
                    where,
                    reason,
                )

    def recovered(self) -> None:
        """Note a success: a warning if it ends an outage (cheap when there is none)."""
        if self.since is None:
            return
        with self._lock:
            if self.since is None:
                return
            lasted, failures = time.monotonic() - self.since, self.failures
            self.since, self.failures = None, 0
        self.log.warning(
            "%s answers again after %.0f s (%d failures during the outage)",
            self.what,
            lasted,
            failures,
        )


DATABASE = Outage("database", logging.getLogger("hub.database"))
