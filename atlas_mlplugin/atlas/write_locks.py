"""Writes serialised per qualifiedName, across the threads and processes of one host.

Atlas 2.1.0 does not enforce a unique qualifiedName when two creates race: two `atlas-ml apply` of one file,
or two ingests of one event, each look a name up, find nothing and create it, leaving two ACTIVE entities
with one name (and a later retraction reaches only one of them). Holding a lock on the name from the look-up
to the end of the write closes that window.

One lock file per bucket of names (a hash of the name picks one of `BUCKETS` files) under a directory per
Atlas server, held with flock: it goes with the process when that dies (no stale locks after kill -9), and a
bucket shared by two names only makes them wait for each other. A thread may take a name it already holds
again (a registry operation holding a dataset's name calls the upsert that holds it too). Locks are taken
in bucket order; a nested hold that would break the order can wait for another process in the opposite
order, so every wait is bounded by `timeout` and then raises `WriteLockTimeout`, a TimeoutError the spool
treats as "retry later".

Processes on different hosts writing one Atlas do not see each other's locks; give them a shared
ATLAS_ML_LOCK_DIR on a filesystem with working flock, or send their writes through one host (the receiver).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only the threads of one process are kept apart there
    fcntl = None  # type: ignore[assignment]

LOCK_DIR_ENV = "ATLAS_ML_LOCK_DIR"
BUCKETS = 4096
DEFAULT_TIMEOUT = 120.0
_POLL_SECONDS = 0.01


class WriteLockTimeout(TimeoutError):
    """Another writer held a name longer than the timeout."""


def default_lock_dir(server_url: str) -> Path:
    """`$ATLAS_ML_LOCK_DIR`, else the user cache directory; one subdirectory per Atlas server."""
    base = os.environ.get(LOCK_DIR_ENV)
    root = Path(base).expanduser() if base else Path(platformdirs.user_cache_dir("atlas-mlplugin")) / "write-locks"
    return root / hashlib.sha1(server_url.rstrip("/").encode()).hexdigest()[:16]


@dataclass
class _Bucket:
    thread_lock: threading.RLock = field(default_factory=threading.RLock)
    fd: int | None = None
    depth: int = 0  # holds by the owning thread; only that thread reads or changes it


class WriteLocks:
    def __init__(self, directory: Path, *, timeout: float = DEFAULT_TIMEOUT, buckets: int = BUCKETS) -> None:
        self.directory = directory
        self.timeout = timeout
        self._buckets_count = buckets
        self._buckets: dict[int, _Bucket] = {}
        self._mutex = threading.Lock()
        self._dir_ready = False

    @classmethod
    def for_server(cls, server_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> WriteLocks:
        return cls(default_lock_dir(server_url), timeout=timeout)

    def bucket_of(self, name: str) -> int:
        return int.from_bytes(hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=4).digest(),
                              "big") % self._buckets_count

    @contextlib.contextmanager
    def hold(self, names: Iterable[str]) -> Iterator[None]:
        """Hold every name in `names` (none: a no-op) until the block ends."""
        wanted = [n for n in names if n]
        deadline = time.monotonic() + self.timeout
        taken: list[_Bucket] = []
        try:
            for index in sorted({self.bucket_of(n) for n in wanted}):
                taken.append(self._acquire(index, deadline, wanted))
            yield
        finally:
            for bucket in reversed(taken):
                self._release(bucket)

    def _bucket(self, index: int) -> _Bucket:
        with self._mutex:
            return self._buckets.setdefault(index, _Bucket())

    def _acquire(self, index: int, deadline: float, names: list[str]) -> _Bucket:
        bucket = self._bucket(index)
        if not bucket.thread_lock.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise self._timeout(names)
        if bucket.depth == 0:
            try:
                bucket.fd = self._lock_file(index, deadline)
            except BaseException:
                bucket.thread_lock.release()
                raise
            if bucket.fd is None:
                bucket.thread_lock.release()
                raise self._timeout(names)
        bucket.depth += 1
        return bucket

    def _release(self, bucket: _Bucket) -> None:
        bucket.depth -= 1
        if bucket.depth == 0 and bucket.fd is not None:
            if bucket.fd >= 0:
                os.close(bucket.fd)  # closing releases the flock
            bucket.fd = None
        bucket.thread_lock.release()

    def _lock_file(self, index: int, deadline: float) -> int | None:
        if fcntl is None:  # pragma: no cover
            return -1
        if not self._dir_ready:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._dir_ready = True
        fd = os.open(self.directory / f"{index:04x}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(_POLL_SECONDS)
            except BaseException:
                os.close(fd)
                raise

    def _timeout(self, names: list[str]) -> WriteLockTimeout:
        shown = ", ".join(sorted(set(names))[:3])
        return WriteLockTimeout(f"another writer held {shown} for more than {self.timeout:.0f} s (lock files in "
                                f"{self.directory}); the write is retried later")
