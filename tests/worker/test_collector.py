"""The timer loop's process times its own full garbage collections: none while a timer is near."""

from __future__ import annotations

import gc
import time

from durable.worker import collector


def test_collector__no_automatic_full_collection_and_one_only_when_quiet_or_overdue():
    before = gc.get_threshold()
    kept = collector.Collector()
    kept.start()
    try:
        assert gc.get_threshold()[2] == collector.NO_AUTOMATIC_FULL
        assert gc.get_freeze_count() > 0, "what start-up allocated is frozen"
        assert not kept.quiet(10.0), "the last one was just now"
        kept._last = time.monotonic() - collector.EVERY_SECONDS - 1
        assert not kept.quiet(0.01), "a timer is due in 10 ms: not now"
        collections = gc.get_stats()[2]["collections"]
        assert kept.quiet(collector.QUIET_SECONDS)
        assert gc.get_stats()[2]["collections"] == collections + 1
        kept._last = time.monotonic() - collector.MOST_SECONDS - 1
        assert kept.quiet(0.0), "never quiet for two minutes: it runs anyway"
    finally:
        kept.stop()
        gc.unfreeze()
    assert gc.get_threshold() == before
