"""A circuit breaker per department: CLOSED → OPEN → HALF_OPEN → CLOSED.

It opens after ``failures`` consecutive failed calls (a call is counted once,
after its retries), refuses calls while open, and after ``reset_s`` lets one
probe call through (HALF_OPEN): success closes it, failure opens it again.
Time comes from an injected clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitBreaker:
    """Counts consecutive failures; not thread-safe (one event loop owns it).

    Args:
        failures: consecutive failed calls that open the breaker.
        reset_s: how long it stays open before one half-open probe.
        clock: a monotonic clock in seconds.
        on_change: called with the new state on every transition.
    """

    def __init__(
        self,
        *,
        failures: int,
        reset_s: float,
        clock: Callable[[], float],
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.threshold = failures
        self.reset_s = reset_s
        self._clock = clock
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_count = 0
        self.opened_at: float | None = None
        self._probing = False

    def allow(self) -> bool:
        """May a call go upstream now? Claims the half-open probe when it is due."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            assert self.opened_at is not None
            if self._clock() - self.opened_at < self.reset_s:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probing:  # HALF_OPEN: one probe at a time
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._probing = False
        self.consecutive_failures = 0
        if self.state is not BreakerState.CLOSED:
            self.opened_at = None
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self._probing = False
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self.consecutive_failures >= self.threshold
        ):
            self.opened_at = self._clock()
            self.opened_count += 1
            self._set(BreakerState.OPEN)

    def release(self) -> None:
        """The call ended without a verdict (cancelled): free the probe slot."""
        self._probing = False

    def _set(self, state: BreakerState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)
