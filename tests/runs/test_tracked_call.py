"""``modelsync.adapters.tracked_call``: the whole process knows a tracked call is running."""

from __future__ import annotations

import threading

from modelsync import adapters


def test_a_tracked_call_is_seen_from_every_thread_while_it_runs() -> None:
    seen: list[bool] = []

    def look() -> None:
        seen.append(adapters.in_tracked_call())

    assert not adapters.in_tracked_call()
    with adapters.tracked_call():
        other = threading.Thread(target=look)
        other.start()
        other.join()
        with adapters.tracked_call():  # nested: still inside after the inner block ends
            pass
        assert adapters.in_tracked_call()
    assert seen == [True]
    assert not adapters.in_tracked_call()
