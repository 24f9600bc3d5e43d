"""Per-qualifiedName write locks: one writer per name across processes and threads, re-entrant in a thread,
bounded waits that end in an error the spool retries."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.write_locks import WriteLocks, WriteLockTimeout
from atlas_mlplugin.delivery.transient import is_transient


def _hold_in_child(directory: str, name: str, seconds: float, ready: multiprocessing.Event) -> None:
    with WriteLocks(Path(directory)).hold([name]):
        ready.set()
        time.sleep(seconds)


def test_a_name_held_by_another_process_waits_until_it_is_released(tmp_path: Path) -> None:
    ready = multiprocessing.get_context("spawn").Event()
    child = multiprocessing.get_context("spawn").Process(target=_hold_in_child,
                                                         args=(str(tmp_path), "file:///a", 1.0, ready))
    child.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with WriteLocks(tmp_path, timeout=30).hold(["file:///a"]):
            waited = time.monotonic() - started
        assert waited > 0.5  # it waited for the other process's write to end
    finally:
        child.join(30)


def test_a_wait_past_the_timeout_is_a_transient_error(tmp_path: Path) -> None:
    holder, waiter = WriteLocks(tmp_path), WriteLocks(tmp_path, timeout=0.2)
    with holder.hold(["file:///a"]), pytest.raises(WriteLockTimeout, match="file:///a") as caught, \
            waiter.hold(["file:///a"]):
        pass
    assert is_transient(caught.value)  # the spool keeps the op and retries it


def test_a_thread_may_take_a_name_it_holds_again_and_other_threads_wait(tmp_path: Path) -> None:
    locks = WriteLocks(tmp_path, timeout=5)
    order: list[str] = []
    with locks.hold(["file:///a", "file:///b"]):
        with locks.hold(["file:///a"]):  # re-entrant: a registry op holding a name calls the upsert holding it
            order.append("inner")

        def other() -> None:
            with locks.hold(["file:///b"]):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("outer done")
    thread.join(5)
    assert order == ["inner", "outer done", "other"]


def test_different_names_do_not_wait_for_each_other(tmp_path: Path) -> None:
    holder, other = WriteLocks(tmp_path), WriteLocks(tmp_path, timeout=0.2)
    names = [f"file:///d{i}" for i in range(50)]
    free = next(n for n in names if other.bucket_of(n) != holder.bucket_of("file:///a"))
    with holder.hold(["file:///a"]), other.hold([free]):
        pass
