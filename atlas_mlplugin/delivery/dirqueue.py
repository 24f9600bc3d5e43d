"""A durable FIFO of files in one directory, safe across threads and processes: the one queue primitive
under the governance spool and the OpenLineage event directory.

Why a directory of files: it survives crashes and restarts, needs no extra service, and people can look
into it. One item is one file named ``<time_ns>-<item_id><suffix>``, so sorting names gives arrival order.
Files are written to a temporary name, fsynced and renamed, so a reader never sees half an item.

Delivery is in order, hence one item at a time: ``drain`` holds an exclusive ``flock`` on ``.lock`` for the
whole drain. Holding it across the handler call is what makes "file deleted after the handler returned"
mean "delivered once" even with several processes draining the same directory: a second drainer waits (and
can say for whom, from the lock file) and then finds only what is left. A crash between the handler
returning and the delete re-delivers that item later, so handlers must be idempotent (ours are upserts
keyed by qualifiedName: at-least-once delivery + idempotence = no duplicates). A file that disappears under
a drainer (taken by a drainer that does not honour the lock, or removed by hand) is counted as ``vanished``
and skipped, never an error, and is never written back.

When the handler fails, the queue's ``on_failure`` classifies the error (transient.py) and the queue acts:

- ``UNAVAILABLE``: the drain stops and the item stays first in line, however often it happens;
- ``RETRY``: the item's failure count goes up (a sidecar file under ``.attempts/``, so it holds across
  processes and restarts); below ``max_attempts`` the drain stops with the item first in line (or, with
  ``retry_delays``, waits and tries it again in this drain); at ``max_attempts`` it is dead-lettered;
- ``REJECT``: dead-lettered at once.

A dead letter goes to the dead-letter folder with the reason beside it (``<name>.reason.txt``) and never
blocks the rest. Everything the queue writes (items, rewritten items, dead letters, reasons) goes through
its ``scrub`` function and is private: files 0600, folders 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from atlas_mlplugin.delivery.transient import FailureKind
from atlas_mlplugin.filelock import exclusive
from atlas_mlplugin.limits import MAX_NESTING, json_nesting
from atlas_mlplugin.scrubbing import logger, scrub_text, scrub_value

log = logger(__name__)

LOCK_FILE = ".lock"
ATTEMPTS_DIR = ".attempts"
REASON_SUFFIX = ".reason.txt"
DEFAULT_MAX_ATTEMPTS = 5
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
    delivered_ids: list[str] = field(default_factory=list)
    failed_transient: bool = False  # stopped because Atlas was unavailable; the item stays first in line
    dead: list[DeadLetter] = field(default_factory=list)
    remaining: int = 0
    busy: bool = False  # another drainer held the queue for the whole timeout; nothing was tried
    error: str | None = None  # the error that stopped the drain
    retrying: tuple[str, int] | None = None  # (item id, failures so far) when a RETRY failure stopped the drain
    vanished: int = 0  # items another drainer (or a person) took while this one was at work
    total: int = 0  # items in the queue when this drain got the lock
    waited_for: str | None = None  # who held the lock when this drain had to wait (what the holder wrote)

    @property
    def stopped(self) -> bool:
        """The drain stopped at an item that is still first in line (unavailable, or retrying)."""
        return self.failed_transient or self.retrying is not None


@dataclass(frozen=True)
class Failure:
    """What ``on_failure`` makes of a handler's exception: its class, the reason (said in logs and beside a
    dead letter) and optionally new bytes for the item (e.g. with an attempt counter)."""

    kind: FailureKind
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


def private_dir(directory: Path, *, tighten: bool = True) -> None:
    """Create `directory` (0700); with `tighten`, take group and other access away from an existing one we
    own, since it holds payloads that may name people's data."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not tighten:
        return
    with contextlib.suppress(OSError):
        info = directory.stat()
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.chmod(directory, 0o700)


def scrub_json_bytes(data: bytes, *, keep: frozenset[str] = frozenset()) -> bytes:
    """`data` with credentials removed: JSON has every string scrubbed as a name (values of `keep` keys
    untouched); anything else (a truncated file, garbage) is scrubbed as text. Too deep a document is
    treated as text, before any parser can recurse into it."""
    text = data.decode("utf-8", errors="replace")
    if json_nesting(text) <= MAX_NESTING:
        try:
            value = json.loads(text)
        except ValueError:
            pass
        else:
            return json.dumps(scrub_value(value, keep=keep), ensure_ascii=False).encode("utf-8")
    return scrub_text(text).encode("utf-8")


def _drainer() -> str:
    """What a drainer writes into the lock file: enough to find it, nothing from its arguments (which may
    hold a token)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    since = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"pid {os.getpid()} ({program}), draining since {since}"


# -- the queue -------------------------------------------------------------------------------------

Handler = Callable[[Path, bytes], None]
OnFailure = Callable[[Path, bytes, Exception], Failure]
Scrub = Callable[[bytes], bytes]


class DirectoryQueue:
    """Items as files in `directory`, in arrival order; `dead_dir` (a sub-folder) holds the dead letters.

    `scrub` is applied to every byte the queue writes; `private_root` makes the queue directory itself 0700
    (off for a directory another program shares with us, such as the Spark listener's event directory)."""

    def __init__(self, directory: Path | str, *, dead_dir: str = "dead", suffix: str = ".json",
                 scrub: Scrub = scrub_json_bytes, private_root: bool = True) -> None:
        self.directory = Path(directory).expanduser()
        self.dead_directory = self.directory / dead_dir
        self.attempts_directory = self.directory / ATTEMPTS_DIR
        self.suffix = suffix
        self.scrub = scrub
        private_dir(self.directory, tighten=private_root)
        private_dir(self.dead_directory)
        private_dir(self.attempts_directory)
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
        """Add an item (scrubbed) at the end of the line; returns its file."""
        item_id = item_id or uuid.uuid4().hex
        if not _ITEM_ID.match(item_id):  # the id goes into a file name: it must not name another path
            raise ValueError(f"item id {item_id!r} must be 1-64 letters, digits, '_' or '-'")
        path = self.directory / f"{_next_ns():020d}-{item_id}{self.suffix}"
        atomic_write(path, self.scrub(data))
        return path

    def dead_letter(self, data: bytes, reason: str, item_id: str | None = None) -> Path:
        """Put an item straight into the dead letters with its reason (one refused before it was queued)."""
        item_id = item_id or uuid.uuid4().hex
        if not _ITEM_ID.match(item_id):
            raise ValueError(f"item id {item_id!r} must be 1-64 letters, digits, '_' or '-'")
        path = self.dead_directory / f"{_next_ns():020d}-{item_id}{self.suffix}"
        atomic_write(path.with_name(path.name + REASON_SUFFIX), scrub_text(reason).encode("utf-8") + b"\n")
        atomic_write(path, self.scrub(data))
        return path

    def locked(self, timeout: float | None = None) -> contextlib.AbstractContextManager[bool]:
        """Hold the queue's lock (what drain holds), e.g. to change the queue from outside a drain."""
        return exclusive(self.lock_path, timeout)

    def rewrite(self, path: Path, data: bytes) -> bool:
        """Replace a queued item's bytes in place (same name, same place in line), only if it is still
        queued: writing back an item another drainer took would deliver it twice. Call with the lock held."""
        if not path.exists():
            return False
        atomic_write(path, self.scrub(data))
        return True

    def failures(self, path: Path) -> int:
        """How often the item failed with a RETRY-class error so far (across processes and restarts)."""
        try:
            return int(json.loads((self.attempts_directory / path.name).read_text(encoding="utf-8"))["failures"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def requeue_dead(self) -> int:
        """Put dead letters back under their original names, i.e. at their original place in the order,
        with a fresh attempt count."""
        with self.locked():
            moved = 0
            for path in self.dead_files():
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, self.directory / path.name)
                    moved += 1
                with contextlib.suppress(FileNotFoundError):
                    (self.dead_directory / (path.name + REASON_SUFFIX)).unlink()
                with contextlib.suppress(FileNotFoundError):
                    (self.attempts_directory / path.name).unlink()
            fsync_dir(self.directory)
            fsync_dir(self.dead_directory)
            return moved

    def dead_reason(self, path: Path) -> str | None:
        try:
            return (self.dead_directory / (path.name + REASON_SUFFIX)).read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def drain(self, handler: Handler, on_failure: OnFailure, *, max_items: int | None = None,
              timeout: float | None = None, lock_timeout: float | None = None,
              progress: Callable[[int, int], None] | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
              retry_delays: tuple[float, ...] = (), on_wait: Callable[[str], None] | None = None,
              stop: threading.Event | None = None) -> QueueDrainReport:
        """Hand items to `handler` in order until the queue is empty, `max_items` were tried, the head item
        cannot go now (unavailable, or retrying below `max_attempts`), `timeout` passes or `stop` is set.

        `timeout` bounds waiting for another drainer (`lock_timeout`, when given, bounds that alone) and
        starting new items; a handler call already under way is not interrupted. After a RETRY failure the
        drain waits `retry_delays[i]` and tries the item again, as long as delays are left and the timeout
        allows; without delays the next drain retries it. `on_wait(holder)` is called once if another
        drainer holds the queue.
        """
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {max_attempts})")
        report = QueueDrainReport()
        deadline = None if timeout is None else time.monotonic() + timeout

        def waiting(holder: str) -> None:
            report.waited_for = holder or "another drainer"
            if on_wait is not None:
                on_wait(report.waited_for)

        with exclusive(self.lock_path, timeout if lock_timeout is None else lock_timeout, owner=_drainer(),
                       on_wait=waiting) as held:
            if not held:
                report.busy = True
                report.remaining = len(self)
                return report
            self._remove_stale_files()
            files = self.files()
            report.total = len(files)
            if max_items is not None:
                files = files[: max(max_items, 0)]
            for done, path in enumerate(files, start=1):
                if (deadline is not None and time.monotonic() >= deadline) or (stop is not None and stop.is_set()):
                    break
                if not self._deliver_one(path, handler, on_failure, report, max_attempts=max_attempts,
                                         retry_delays=retry_delays, deadline=deadline, stop=stop):
                    break
                if progress is not None:
                    progress(done, len(files))
            report.remaining = len(self)
        return report

    # -- internals (called with the lock held) -----------------------------------------------------

    def _deliver_one(self, path: Path, handler: Handler, on_failure: OnFailure, report: QueueDrainReport, *,
                     max_attempts: int, retry_delays: tuple[float, ...], deadline: float | None,
                     stop: threading.Event | None) -> bool:
        """Handle one file; False means stop draining (the item stays first in line)."""
        delays = list(retry_delays)
        while True:
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # taken by someone else since we listed: theirs, not an error
                report.vanished += 1
                return True
            try:
                handler(path, data)
            except Exception as exc:
                failure = self._classified(on_failure, path, data, exc)
                reason = scrub_text(failure.reason)
                if failure.kind is FailureKind.UNAVAILABLE:
                    if failure.content is not None:
                        self.rewrite(path, failure.content)
                    report.failed_transient = True
                    report.error = reason
                    return False
                if failure.kind is FailureKind.RETRY:
                    failures = self._count_failure(path, reason)
                    if failures < max_attempts:
                        if failure.content is not None:
                            self.rewrite(path, failure.content)
                        if delays and self._pause(delays.pop(0), deadline, stop):
                            continue
                        report.retrying = (self.item_id(path), failures)
                        report.error = f"{reason} (failed {failures} of {max_attempts} times; tried again later)"
                        return False
                    reason = f"gave up after {failures} failed attempts: {reason}"
                if not path.exists():  # taken while the handler ran: nothing of ours to bury
                    report.vanished += 1
                    return True
                self.bury(path, failure.content if failure.content is not None else data, reason)
                report.dead.append(DeadLetter(path.name, self.item_id(path), reason))
                log.warning("dead-lettered %s in %s: %s", path.name, self.dead_directory, reason.splitlines()[0])
                return True
            path.unlink(missing_ok=True)
            self._forget_failures(path)
            fsync_dir(self.directory)
            report.delivered += 1
            report.delivered_ids.append(self.item_id(path))
            return True

    @staticmethod
    def _classified(on_failure: OnFailure, path: Path, data: bytes, exc: Exception) -> Failure:
        try:
            return on_failure(path, data, exc)
        except Exception as bug:  # noqa: BLE001 - a faulty classifier must not stop the queue for good
            log.exception("classifying the failure of %s failed", path.name)
            return Failure(FailureKind.RETRY, f"{type(exc).__name__}: {exc} (and {type(bug).__name__}: {bug})")

    @staticmethod
    def _pause(delay: float, deadline: float | None, stop: threading.Event | None) -> bool:
        """Wait `delay` before retrying in this drain; False when the deadline or a stop comes first."""
        if deadline is not None and time.monotonic() + delay >= deadline:
            return False
        if stop is not None:
            return not stop.wait(delay)
        time.sleep(delay)
        return True

    def _count_failure(self, path: Path, reason: str) -> int:
        failures = self.failures(path) + 1
        record = {"failures": failures, "last_error": reason}
        atomic_write(self.attempts_directory / path.name, json.dumps(record).encode("utf-8"))
        return failures

    def _forget_failures(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.attempts_directory / path.name).unlink()

    def bury(self, path: Path, content: bytes, reason: str) -> None:
        """Move an item to the dead letters (scrubbed) with its reason beside it. Written before the original
        is removed: a crash in between leaves a copy in both places, never in none."""
        atomic_write(self.dead_directory / (path.name + REASON_SUFFIX), scrub_text(reason).encode("utf-8") + b"\n")
        atomic_write(self.dead_directory / path.name, self.scrub(content))
        path.unlink(missing_ok=True)
        self._forget_failures(path)
        fsync_dir(self.directory)

    def _remove_stale_files(self) -> None:
        """Temporary files of crashed writers, and failure counts of items that are gone."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for directory in (self.directory, self.dead_directory, self.attempts_directory):
            for tmp in directory.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()
        queued = {p.name for p in self.files()}
        for sidecar in self._listed(self.attempts_directory):
            if sidecar.name not in queued:
                with contextlib.suppress(OSError):
                    sidecar.unlink()

    def _listed(self, directory: Path) -> list[Path]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return [directory / n for n in sorted(names) if n.endswith(self.suffix) and not n.startswith(".")]
