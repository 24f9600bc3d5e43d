"""An exclusive lock on a file, across threads and processes (flock), with who holds it.

Used by the directory queue (one drainer at a time), the local server's state directory (one launcher at a
time) and the download cache (one download at a time). The holder writes a line about itself into the lock
file, so a process that has to wait can say who it is waiting for.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only threads of one process are kept apart there
    fcntl = None  # type: ignore[assignment]

POLL_SECONDS = 0.02
_fallback_locks: dict[str, threading.Lock] = {}


def holder_of(lock_path: Path) -> str:
    """What the current holder wrote about itself, or '' when nobody said."""
    try:
        return lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def exclusive(lock_path: Path, timeout: float | None, *, owner: str | None = None,
              on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Yield whether the lock was obtained within ``timeout`` (None = wait as long as it takes).

    ``owner`` is written into the lock file while it is held; ``on_wait(holder)`` is called once when the
    lock is busy, with what the holder wrote. A fresh file descriptor per acquisition: flock locks belong to
    the open file description, so two threads (or two objects) of one process exclude each other just like
    two processes do, and the lock goes with the process when it dies (no stale lock after kill -9).
    """
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    if fcntl is None:  # pragma: no cover
        lock = _fallback_locks.setdefault(str(lock_path), threading.Lock())
        got = lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))
        try:
            yield got
        finally:
            if got:
                lock.release()
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        got, told = False, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if on_wait is not None and not told:
                    holder = holder_of(lock_path)
                    if not holder:  # it may have the lock but not have written its line yet
                        time.sleep(0.05)
                        holder = holder_of(lock_path)
                    on_wait(holder)
                    told = True
                if deadline is not None and time.monotonic() >= deadline:
                    break
                time.sleep(POLL_SECONDS if deadline is not None else 0.2)
        if got and owner is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, owner.encode("utf-8") + b"\n", 0)
        yield got
    finally:
        os.close(fd)  # closing releases the flock
