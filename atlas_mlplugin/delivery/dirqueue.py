"""A durable FIFO of files in one directory, safe across threads and processes: the one queue primitive
under the governance spool and the OpenLineage event directory.

Why a directory of files: it survives crashes and restarts, needs no extra service, and people can look
into it. One item is one file named ``<time_ns>-<item_id><suffix>``, so sorting names gives arrival order.
Files are written to a temporary name, fsynced and renamed, so a reader never sees half an item.

Delivery is in order, hence one item at a time: ``drain`` holds an exclusive ``flock`` on ``.lock`` for the
whole drain. Holding it across the handler call is what makes "file deleted after the handler returned"
mean "delivered once" even with several processes draining the same directory. A crash between the
handler returning and the delete re-delivers that item later, so handlers must be idempotent (ours are
upserts keyed by qualifiedName: at-least-once delivery + idempotence = no duplicates).

``put`` needs no lock: the rename is atomic and a new name sorts after every existing one. An item that
fails for a reason of its own goes to the dead-letter folder with the reason beside it
(``<name>.reason.txt``) and never blocks the rest; a transient failure (Atlas down) stops the drain and
keeps the item first in line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from atlas_mlplugin.filelock import exclusive

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
REASON_SUFFIX = ".reason.txt"
_ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STALE_TMP_SECONDS = 3600.0  # a put in another process may be writing its tmp file right now


@dataclass(frozen=True)
class DeadLetter:
    name: str  # the file name, e.g. 00001764-<id>.json
    item_id: str  # the id part of the name
    reason: str


@dataclass
class QueueDrainReport:
    delivered: int = 0
    failed_transient: bool = False
    dead: list[DeadLetter] = field(default_factory=list)
    remaining: int = 0
    busy: bool = False  # another drainer held the queue for the whole timeout; nothing was tried
    error: str | None = None  # the transient error that stopped the drain


@dataclass(frozen=True)
class Failure:
    """What the queue does with an item whose handler raised: keep it in line (transient) or bury it;
    `content` replaces the file's bytes (e.g. with an attempt counter), `reason` is said in logs and beside
    a dead letter."""

    transient: bool
    reason: str
    content: bytes | None = None


# -- files and locks -------------------------------------------------------------------------------

_name_lock = threading.Lock()
_last_ns = 0


def _next_ns() -> int:
    """Strictly increasing within this process even if the wall clock steps back or two calls collide."""
    global _last_ns
    with _name_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def fsync_dir(directory: Path) -> None:
    # Makes the rename/unlink itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a private temporary file, fsync and rename (mode 0600)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


# -- the queue -------------------------------------------------------------------------------------

Handler = Callable[[Path, bytes], None]
OnFailure = Callable[[Path, bytes, Exception], Failure]


class DirectoryQueue:
    """Items as files in `directory`, in arrival order; `dead_dir` (a sub-folder) holds the dead letters."""

    def __init__(self, directory: Path | str, *, dead_dir: str = "dead", suffix: str = ".json") -> None:
        self.directory = Path(directory).expanduser()
        self.dead_directory = self.directory / dead_dir
        self.suffix = suffix
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dead_directory.mkdir(exist_ok=True, mode=0o700)
        self.lock_path = self.directory / LOCK_FILE

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.directory)!r})"

    def __len__(self) -> int:
        return len(self.files())

    def files(self) -> list[Path]:
        """Queued items in delivery order."""
        return self._listed(self.directory)

    def dead_files(self) -> list[Path]:
        return self._listed(self.dead_directory)

    def item_id(self, path: Path) -> str:
        return path.name.removesuffix(self.suffix).partition("-")[2] or path.name

    def put(self, data: bytes, item_id: str | None = None) -> Path:
        """Add an item at the end of the line; returns its file."""
        item_id = item_id or uuid.uuid4().hex
        if not _ITEM_ID.match(item_id):  # the id goes into a file name: it must not name another path
            raise ValueError(f"item id {item_id!r} must be 1-64 letters, digits, '_' or '-'")
        path = self.directory / f"{_next_ns():020d}-{item_id}{self.suffix}"
        atomic_write(path, data)
        return path

    def locked(self, timeout: float | None = None) -> contextlib.AbstractContextManager[bool]:
        """Hold the queue's lock (what drain holds), e.g. to change the queue from outside a drain."""
        return exclusive(self.lock_path, timeout)

    def requeue_dead(self) -> int:
        """Put dead letters back under their original names, i.e. at their original place in the order."""
        with self.locked():
            moved = 0
            for path in self.dead_files():
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, self.directory / path.name)
                    moved += 1
                with contextlib.suppress(FileNotFoundError):
                    (self.dead_directory / (path.name + REASON_SUFFIX)).unlink()
            fsync_dir(self.directory)
            fsync_dir(self.dead_directory)
            return moved

    def dead_reason(self, path: Path) -> str | None:
        try:
            return (self.dead_directory / (path.name + REASON_SUFFIX)).read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def drain(self, handler: Handler, on_failure: OnFailure, *, max_items: int | None = None,
              timeout: float | None = None, progress: Callable[[int, int], None] | None = None) -> QueueDrainReport:
        """Hand items to `handler` in order until the queue is empty, `max_items` were tried, a transient
        failure occurs (the item stays first in line) or `timeout` passes.

        `timeout` bounds waiting for another drainer and starting new items; a handler call already under
        way is not interrupted. `on_failure` decides what a handler's exception means for the item.
        """
        report = QueueDrainReport()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.locked(timeout) as held:
            if not held:
                report.busy = True
                report.remaining = len(self)
                return report
            self._remove_stale_tmp()
            files = self.files()
            if max_items is not None:
                files = files[: max(max_items, 0)]
            for done, path in enumerate(files, start=1):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if not self._deliver_one(path, handler, on_failure, report):
                    break
                if progress is not None:
                    progress(done, len(files))
            report.remaining = len(self)
        return report

    # -- internals (called with the lock held) -----------------------------------------------------

    def _deliver_one(self, path: Path, handler: Handler, on_failure: OnFailure, report: QueueDrainReport) -> bool:
        """Handle one file; False means stop draining (transient failure)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # removed by hand while we held the lock
            return True
        try:
            handler(path, data)
        except Exception as exc:
            failure = on_failure(path, data, exc)
            if failure.transient:
                if failure.content is not None:
                    atomic_write(path, failure.content)  # same name: keeps its place in line
                report.failed_transient = True
                report.error = failure.reason
                return False
            self.bury(path, failure.content if failure.content is not None else data, failure.reason)
            report.dead.append(DeadLetter(path.name, self.item_id(path), failure.reason))
            return True
        path.unlink(missing_ok=True)
        fsync_dir(self.directory)
        report.delivered += 1
        return True

    def bury(self, path: Path, content: bytes, reason: str) -> None:
        """Move an item to the dead letters with its reason beside it. Written before the original is
        removed: a crash in between leaves a copy in both places, never in none."""
        atomic_write(self.dead_directory / (path.name + REASON_SUFFIX), reason.encode("utf-8") + b"\n")
        atomic_write(self.dead_directory / path.name, content)
        path.unlink(missing_ok=True)
        fsync_dir(self.directory)

    def _remove_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for directory in (self.directory, self.dead_directory):
            for tmp in directory.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()

    def _listed(self, directory: Path) -> list[Path]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return [directory / n for n in sorted(names) if n.endswith(self.suffix) and not n.startswith(".")]
