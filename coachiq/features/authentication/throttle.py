"""Back-off against password and pairing-code guessing.

Each key (a client address, a user name, a shared key for pairing) may fail a few times for free;
after that every failure doubles the wait before the next attempt is even looked at, up to a ceiling.
A success clears the key. Attempts during a wait are answered 429 with Retry-After, without checking
the password, so guessing costs the guesser time and the server nothing. Memory is bounded: the
oldest keys are forgotten beyond `max_keys`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int
    blocked_until: float


class Backoff:
    """Per-key failure counting with exponential waits."""

    def __init__(self, free_failures: int = 3, first_wait_s: float = 1.0, max_wait_s: float = 300.0,
                 max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.first_wait_s = first_wait_s
        self.max_wait_s = max_wait_s
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, *keys: str) -> float:
        """Seconds to wait before any of `keys` may try again (0 when all may try now)."""
        now = self._clock()
        return max((f.blocked_until - now for k in keys if (f := self._keys.get(k)) is not None), default=0.0)

    def fail(self, *keys: str) -> float:
        """Count a failure for each key; returns the longest wait it imposes."""
        now = self._clock()
        longest = 0.0
        for key in keys:
            entry = self._keys.pop(key, None) or _Failures(0, now)
            entry.count += 1
            excess = entry.count - self.free_failures
            if excess > 0:
                wait = min(self.first_wait_s * 2 ** (excess - 1), self.max_wait_s)
                entry.blocked_until = now + wait
                longest = max(longest, wait)
            self._keys[key] = entry
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return longest

    def succeed(self, *keys: str) -> None:
        """Forget the failures of `keys`."""
        for key in keys:
            self._keys.pop(key, None)
