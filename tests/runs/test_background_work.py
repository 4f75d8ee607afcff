"""``modelsync.adapters.background``: tracking work finished after the call that queued it
returns."""

from __future__ import annotations

import threading

import pytest

from modelsync.errors import TrackingWarning
from modelsync.runs.background import BackgroundWork


def test_tasks_run_one_at_a_time_in_the_order_they_were_queued() -> None:
    work = BackgroundWork()
    done: list[int] = []
    futures = [work.submit(lambda n=n: str(done.append(n) or n)) for n in range(5)]
    work.wait()
    assert done == [0, 1, 2, 3, 4]
    assert [future.result() for future in futures] == ["0", "1", "2", "3", "4"]


def test_the_caller_goes_on_while_a_task_runs() -> None:
    work = BackgroundWork()
    gate = threading.Event()
    future = work.submit(lambda: str(gate.wait()))
    assert not future.done()  # submit returned while the task waits for the caller
    gate.set()
    work.wait()
    assert future.result() == "True"


def test_a_failed_task_is_warned_about_in_the_callers_thread_by_flush() -> None:
    work = BackgroundWork()

    def broken() -> str:
        raise RuntimeError("disk on fire")

    future = work.submit(broken)
    assert future.result() is None  # the future never raises
    with pytest.warns(TrackingWarning, match="could not finish recording a fit: RuntimeError"):
        work.flush()
    work.flush()  # warned once


def test_held_data_is_refused_past_the_limit_until_released() -> None:
    work = BackgroundWork(max_held_bytes=100)
    assert work.reserve(60)
    assert not work.reserve(50)
    work.release(60)
    assert work.reserve(100)
