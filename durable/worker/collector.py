"""Full garbage collections of the timer loop's process, moved to moments when no timer is due.

A full collection stops every thread of the process while it walks all tracked objects: 70-80 ms
in a worker that has run a few hundred instances, which made the timers due meanwhile that late.
The loop freezes what its start-up allocated (never walked again), turns the automatic full
collections off, and runs one itself when the next timer is far enough away; if it is never
quiet that long, it runs one anyway after MOST_SECONDS, so cycles cannot pile up for ever.
"""

from __future__ import annotations

import gc
import logging
import time

logger = logging.getLogger(__name__)

EVERY_SECONDS = 30.0
MOST_SECONDS = 120.0
QUIET_SECONDS = 0.25
# Young collections go on as usual; the full one waits for this many of them (never, in practice).
NO_AUTOMATIC_FULL = 1_000_000


class Collector:
    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self._last = time.monotonic()

    def start(self) -> None:
        gc.collect()
        gc.freeze()
        self._saved = gc.get_threshold()
        young, middle, _ = self._saved
        gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)
        self._last = time.monotonic()

    def quiet(self, seconds: float) -> bool:
        """Run a full collection if one is due and nothing is for `seconds`; True if it ran."""
        since = time.monotonic() - self._last
        if since < EVERY_SECONDS or (seconds < QUIET_SECONDS and since < MOST_SECONDS):
            return False
        began = time.perf_counter()
        gc.collect()
        self._last = time.monotonic()
        logger.debug("full garbage collection", extra={"ms": round((time.perf_counter() - began) * 1000, 1)})
        return True

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
