"""The command line's run keeps the garbage collector out of the gateway loop's way."""

from __future__ import annotations

import gc

from optimizer.cli import GC_THRESHOLDS, quiet_garbage_collector


def test_the_run_keeps_the_garbage_collector_quiet_and_puts_it_back():
    before = gc.get_threshold()
    with quiet_garbage_collector():
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed before the run is out of the collector's way
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
