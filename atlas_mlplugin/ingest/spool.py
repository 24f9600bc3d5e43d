"""A durable FIFO of governance operations waiting for Atlas, safe across threads and processes.

Why a directory of JSON files: it survives crashes and restarts, needs no extra service, and people can
look into it. One op is one file named ``<time_ns>-<op_id>.json``, so sorting names gives creation order.
Files are written to a temporary name, fsynced and renamed, so a reader never sees half an op.

Delivery is in order, hence one op at a time: ``drain`` holds an exclusive ``flock`` on ``.lock`` for the
whole drain. Holding it across the handler call is what makes "file deleted after the handler returned"
mean "delivered once" even with several processes draining the same directory. A crash between the
handler returning and the delete re-delivers that op later; that is harmless because every Atlas write we
make is an idempotent upsert keyed by qualifiedName (at-least-once delivery + idempotence = no duplicates).

``enqueue`` needs no lock: the rename is atomic and a new name sorts after every existing one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
import requests
from pydantic import BaseModel, Field, field_validator

from atlas_mlplugin.atlas.errors import (
    AtlasAuthError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    PendingTasksTimeoutError,
    excerpt,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: only threads of one process are kept apart there
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

SPOOL_DIR_ENV = "ATLAS_ML_SPOOL_DIR"
DEAD_DIR = "dead"
LOCK_FILE = ".lock"
UNREADABLE_KIND = "unreadable"
_SUFFIX = ".json"
_NAME = re.compile(r"\d+-([A-Za-z0-9_-]{1,64})\.json")
_STALE_TMP_SECONDS = 3600.0  # an enqueue in another process may be writing its tmp file right now
_LOCK_POLL_SECONDS = 0.02

# Failures where the op is fine but Atlas (or the way to it) is not: keep the op, keep the order, retry
# later. Auth and "not JSON" (proxy/SSO page) errors are here too: they hit every op alike, and
# dead-lettering the whole queue because a token expired would stop automatic delivery for good.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    AtlasUnavailableError,
    AtlasServerError,
    AtlasAuthError,
    AtlasResponseError,
    PendingTasksTimeoutError,
    requests.Timeout,
    requests.ConnectionError,
    TimeoutError,
    ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same op later can succeed; anything else is a fault of the op itself."""
    return isinstance(exc, TRANSIENT_ERRORS)


def describe_error(exc: BaseException) -> str:
    return excerpt(f"{type(exc).__name__}: {exc}", 2000)


def default_spool_dir() -> Path:
    """``$ATLAS_ML_SPOOL_DIR``, else the per-user data directory's ``spool``."""
    env = os.environ.get(SPOOL_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("atlas-mlplugin")) / "spool"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SpoolOp(BaseModel):
    """One governance write waiting for Atlas: which operation, and the JSON of its spec."""

    # The op_id goes into a file name, so it must not be able to name another path.
    op_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    kind: str = Field(min_length=1, description="register_dataset, record_training_run, ...")
    payload: dict[str, Any] = Field(default_factory=dict, description="spec.model_dump(mode='json')")
    created_at: datetime = Field(default_factory=_utcnow)
    attempts: int = Field(default=0, ge=0)
    last_error: str | None = None

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @classmethod
    def of(cls, kind: str, spec: BaseModel) -> SpoolOp:
        """The op for ``spec``; mode='json' makes dates/paths plain JSON so the file round-trips."""
        return cls(kind=kind, payload=spec.model_dump(mode="json"))


@dataclass
class DrainReport:
    delivered: int = 0
    failed_transient: bool = False
    dead: list[tuple[str, str]] = field(default_factory=list)  # (op_id, error)
    remaining: int = 0
    busy: bool = False  # another drainer held the spool for the whole timeout; nothing was tried
    error: str | None = None  # the transient error that stopped the drain


# -- files and locks -------------------------------------------------------------------------------

_name_lock = threading.Lock()
_last_ns = 0


def _next_ns() -> int:
    """Strictly increasing within this process even if the wall clock steps back or two calls collide."""
    global _last_ns
    with _name_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def _fsync_dir(directory: Path) -> None:
    # Makes the rename/unlink itself durable; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


_fallback_locks: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def _exclusive(lock_path: Path, timeout: float | None) -> Iterator[bool]:
    """Yield whether the lock was obtained within ``timeout`` (None = wait as long as it takes).

    A fresh file descriptor per acquisition: flock locks belong to the open file description, so two
    threads (or two Spool objects) of one process exclude each other just like two processes do.
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
        got = False
        if deadline is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            got = True
        else:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    got = True
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(_LOCK_POLL_SECONDS)
        yield got
    finally:
        os.close(fd)  # closing releases the flock


# -- the spool -------------------------------------------------------------------------------------


class Spool:
    """A directory queue of ``SpoolOp`` files; ``dead/`` holds ops that failed for a reason of their own."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_spool_dir()
        self.dead_directory = self.directory / DEAD_DIR
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dead_directory.mkdir(exist_ok=True, mode=0o700)
        self._lock_path = self.directory / LOCK_FILE

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    def __len__(self) -> int:
        return len(_op_files(self.directory))

    def enqueue(self, op: SpoolOp) -> Path:
        path = self.directory / f"{_next_ns():020d}-{op.op_id}{_SUFFIX}"
        _atomic_write(path, op.model_dump_json())
        return path

    def pending(self) -> list[SpoolOp]:
        """Queued ops in delivery order; unreadable files are skipped here (drain dead-letters them)."""
        return _read_all(self.directory)

    def dead_letters(self) -> list[SpoolOp]:
        return _read_all(self.dead_directory)

    def requeue_dead(self) -> int:
        """Put dead letters back under their original names, i.e. at their original place in the order."""
        with _exclusive(self._lock_path, None):
            moved = 0
            for path in _op_files(self.dead_directory):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, self.directory / path.name)
                    moved += 1
            _fsync_dir(self.directory)
            _fsync_dir(self.dead_directory)
            return moved

    def drain(
        self,
        handler: Callable[[SpoolOp], None],
        *,
        max_ops: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float | None = None,
    ) -> DrainReport:
        """Deliver queued ops in order until the spool is empty, ``max_ops`` ops were tried, a transient
        failure occurs (the op stays first in line) or ``timeout`` passes.

        ``timeout`` bounds waiting for another drainer and starting new ops; a handler call already under
        way is not interrupted. Ops failing for a reason of their own go to ``dead/`` and draining goes
        on, so one bad op can never block the rest.
        """
        report = DrainReport()
        deadline = None if timeout is None else time.monotonic() + timeout
        with _exclusive(self._lock_path, timeout) as held:
            if not held:
                report.busy = True
                report.remaining = len(self)
                return report
            self._remove_stale_tmp()
            files = _op_files(self.directory)
            if max_ops is not None:
                files = files[: max(max_ops, 0)]
            for done, path in enumerate(files, start=1):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if not self._deliver_one(path, handler, report):
                    break
                if progress is not None:
                    progress(done, len(files))
            report.remaining = len(self)
        return report

    # -- internals (called with the lock held) -----------------------------------------------------

    def _deliver_one(self, path: Path, handler: Callable[[SpoolOp], None], report: DrainReport) -> bool:
        """Handle one file; False means stop draining (transient failure)."""
        try:
            op = SpoolOp.model_validate_json(path.read_bytes())
        except FileNotFoundError:  # removed by hand while we held the lock
            return True
        except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            op = _unreadable_op(path, exc)
            self._bury(path, op)
            report.dead.append((op.op_id, op.last_error or ""))
            log.error("spooled op %s is unreadable and was moved to %s: %s", path.name, DEAD_DIR, exc)
            return True
        try:
            handler(op)
        except Exception as exc:
            error = describe_error(exc)
            failed = op.model_copy(update={"attempts": op.attempts + 1, "last_error": error})
            if is_transient(exc):
                _atomic_write(path, failed.model_dump_json())  # same name: keeps its place in line
                report.failed_transient = True
                report.error = error
                return False
            self._bury(path, failed)
            report.dead.append((op.op_id, error))
            log.error("Atlas rejected spooled %s %s; moved to %s: %s", op.kind, op.op_id, DEAD_DIR, error)
            return True
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)
        report.delivered += 1
        return True

    def _bury(self, path: Path, op: SpoolOp) -> None:
        # Written before the original is removed: a crash in between leaves a copy in both, never none.
        _atomic_write(self.dead_directory / path.name, op.model_dump_json())
        path.unlink(missing_ok=True)
        _fsync_dir(self.directory)

    def _remove_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for directory in (self.directory, self.dead_directory):
            for tmp in directory.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if tmp.stat().st_mtime < cutoff:
                        tmp.unlink()


def _op_files(directory: Path) -> list[Path]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [directory / n for n in sorted(names) if n.endswith(_SUFFIX) and not n.startswith(".")]


def _read_all(directory: Path) -> list[SpoolOp]:
    ops: list[SpoolOp] = []
    for path in _op_files(directory):
        try:
            ops.append(SpoolOp.model_validate_json(path.read_bytes()))
        except FileNotFoundError:  # delivered by a concurrent drain since we listed
            continue
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable spool file %s: %s", path, exc)
    return ops


def _unreadable_op(path: Path, exc: BaseException) -> SpoolOp:
    """Wrap a corrupt file as an op so it can sit in dead/ with its content and the reason kept."""
    try:
        content: str | None = path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        content = None
    match = _NAME.fullmatch(path.name)
    op_id = match.group(1) if match else uuid.uuid4().hex
    return SpoolOp(
        op_id=op_id,
        kind=UNREADABLE_KIND,
        payload={"file": path.name, "content": content},
        attempts=1,
        last_error=describe_error(exc),
    )
