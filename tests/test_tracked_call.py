"""``modelsync.tracked_call``: the whole process knows a tracked call is running."""

from __future__ import annotations

import threading

import modelsync


def test_a_tracked_call_is_seen_from_every_thread_while_it_runs() -> None:
    seen: list[bool] = []

    def look() -> None:
        seen.append(modelsync.in_tracked_call())

    assert not modelsync.in_tracked_call()
    with modelsync.tracked_call():
        other = threading.Thread(target=look)
        other.start()
        other.join()
        with modelsync.tracked_call():  # nested: still inside after the inner block ends
            pass
        assert modelsync.in_tracked_call()
    assert seen == [True]
    assert not modelsync.in_tracked_call()
