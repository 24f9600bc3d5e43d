"""Deliver governance operations to Atlas without ever breaking or stalling the caller's training code.

``Deliverer.submit`` never raises and returns within a small bound (``wait``, 1.5 s by default,
``ATLAS_ML_SUBMIT_WAIT`` to change it), whatever Atlas does, including accepting connections and never
answering:

1. The op is written to the durable ``Spool`` first (a few milliseconds), so once ``submit`` returns
   "spooled" or "delivered" it survives a crash, and every op goes through one ordered queue.
2. A worker thread drains the spool, in order, and the caller waits up to ``wait`` for its op: "delivered"
   when Atlas took it, "rejected" when Atlas refused it (it is then a dead letter with the reason), else
   "spooled": it stays on disk and the worker keeps delivering, with exponential backoff while Atlas is
   unavailable or failing it (spool.py says what is retried, for how long, and what is dead-lettered).
   While the worker is backing off, or a drain is already slower than ``wait``, the caller does not wait.
3. An op that cannot be written (no usable spool directory, disk full) goes to Atlas directly, still
   bounded by ``wait``; if Atlas does not take it in time it is "rejected": logged, and nothing holds it.
4. An op naming a local file that does not exist is "rejected" at once (kept as a dead letter with the
   reason). Existing files are fingerprinted (sha256) on a separate thread right after the op is spooled:
   the caller never pays for reading a large model or dataset, the fingerprint is taken as soon as
   possible after the call (not when Atlas comes back, by which time the file may have been overwritten),
   and the drain waits for it before delivering the op. If the process ends before a fingerprint is done
   (``exit_timeout`` bounds the wait), the op stays spooled without it and is fingerprinted when delivered.
5. At interpreter exit one bounded drain (``exit_timeout``) delivers what it can; the rest stays on disk
   for the next run or ``atlas-ml spool flush``.

The handler (usually ``handler.registry_handler``) runs on the worker thread; give it a client built from
``fail_fast(settings)`` so that a dead Atlas costs the worker one short attempt, not the session's retries.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import functools
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.operations import fingerprinted, unfingerprinted_paths
from atlas_mlplugin.delivery.spool import DrainReport, Spool, SpoolOp, scrub_op_bytes
from atlas_mlplugin.delivery.transient import describe_error
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

Outcome = Literal["delivered", "spooled", "rejected"]
WAIT_ENV = "ATLAS_ML_SUBMIT_WAIT"
DEFAULT_WAIT = 1.5
_LOCK_WAIT = 0.5  # how long the worker waits for another process's drain before looking again
_BUSY_DELAY = 1.0


def fail_fast(settings: AtlasSettings, *, connect_timeout: float = 2.0, read_timeout: float = 15.0) -> AtlasSettings:
    """``settings`` tightened for the worker: short timeouts and a single attempt per request."""
    return settings.model_copy(
        update={
            "connect_timeout": min(settings.connect_timeout, connect_timeout),
            "read_timeout": min(settings.read_timeout, read_timeout),
            "max_retries": 1,
        }
    )


def submit_wait() -> float:
    """``$ATLAS_ML_SUBMIT_WAIT`` seconds, else 1.5: how long a caller waits for a direct delivery."""
    raw = os.environ.get(WAIT_ENV)
    if not raw:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60:
        log.warning("%s=%r is not a number of seconds between 0 and 60; using %g", WAIT_ENV, raw, DEFAULT_WAIT)
        return DEFAULT_WAIT
    return value


class Deliverer:
    """Submit ops through the spool to Atlas, in order, without raising or waiting long (see the module)."""

    def __init__(
        self,
        spool: Spool | None,
        handler: Callable[[SpoolOp], None],
        *,
        flush_interval: float = 30.0,
        max_backoff: float = 300.0,
        exit_timeout: float = 5.0,
        wait: float | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.spool = spool
        self.wait = submit_wait() if wait is None else max(wait, 0.0)
        self._handler = handler
        self._interval = flush_interval
        self._max_backoff = max(max_backoff, flush_interval)
        self._exit_timeout = exit_timeout
        self._closed = False
        self._reset_threads()
        atexit.register(self._at_exit)
        _live.add(self)
        if self._backlog():  # left over from an earlier run: start delivering it now
            with self._cond:
                self._ensure_worker()

    def _reset_threads(self) -> None:
        """Fresh thread state: at construction, and in a forked child (which inherits no threads)."""
        self._cond = threading.Condition()
        self._drain_lock = threading.Lock()  # one drain at a time in this process; the spool's flock does the rest
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake = False
        self._fp_ready = False
        self._waiting: set[str] = set()
        self._results: dict[str, Outcome] = {}
        self._draining_since: float | None = None
        self._retry_at = 0.0  # monotonic time before which the worker backs off after a failed drain
        self._fp_executor: ThreadPoolExecutor | None = None
        self._fingerprints: dict[str, Future[SpoolOp]] = {}
        self._fp_paths: dict[str, Path] = {}

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_flushing(self) -> bool:
        """Whether the worker has something to deliver (a drain under way, or ops waiting in the spool)."""
        thread = self._thread
        if self._closed or thread is None or not thread.is_alive():
            return False
        return self._draining_since is not None or self._backlog() > 0

    # -- submitting ------------------------------------------------------------------------------

    def submit(self, op: SpoolOp) -> Outcome:
        """Hand ``op`` over: "delivered", "spooled" or "rejected" (see the module); never raises."""
        try:
            return self._submit(op)
        except Exception:  # noqa: BLE001 - a governance write must never break the caller
            log.exception("atlas-mlplugin could not hand over %s %s", getattr(op, "kind", "?"),
                          getattr(op, "op_id", "?"))
            return "rejected"

    def _submit(self, op: SpoolOp) -> Outcome:
        missing = [p for p in unfingerprinted_paths(op) if not p.exists()]
        if missing:
            return self._refuse(op, f"local_path {missing[0]} does not exist or cannot be read, so it cannot be "
                                    "fingerprinted; give the path of the local copy (or its sha256)")
        if self.spool is None:
            return self._deliver_unspooled(op, "no usable spool directory")
        try:
            path = self.spool.enqueue(op)
        except OSError as exc:
            return self._deliver_unspooled(op, f"the spool {self.spool.directory} cannot take it: {exc}")
        with self._cond:
            if unfingerprinted_paths(op):
                self._fingerprint_later(op, path)
            self._ensure_worker()
            now = time.monotonic()
            slow = self._draining_since is not None and now - self._draining_since > self.wait
            if self._closed or now < self._retry_at or slow or self.wait == 0:
                self._wake = self._wake or not (now < self._retry_at)
                self._cond.notify_all()
                return "spooled"
            self._waiting.add(op.op_id)
            self._wake = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: op.op_id in self._results, timeout=self.wait)
            self._waiting.discard(op.op_id)
            outcome = self._results.pop(op.op_id, None)
        return outcome or self._settled_elsewhere(path)

    def _settled_elsewhere(self, path: Path) -> Outcome:
        """The caller's wait is over: the op is still spooled, or another drainer settled it."""
        if path.exists():
            return "spooled"
        assert self.spool is not None
        return "rejected" if (self.spool.dead_directory / path.name).exists() else "delivered"

    def _refuse(self, op: SpoolOp, reason: str) -> Outcome:
        log.error("atlas-mlplugin did not send %s %s to Atlas: %s", op.kind, op.op_id, reason)
        if self.spool is not None:
            try:
                kept = self.spool.reject(op, reason)
                log.error("kept it as a dead letter: %s", kept)
            except OSError as exc:
                log.error("and could not keep it as a dead letter in %s: %s", self.spool.dead_directory, exc)
        return "rejected"

    def _deliver_unspooled(self, op: SpoolOp, why: str) -> Outcome:
        """No spool can hold the op: try Atlas once, off the caller's thread, for at most ``wait``."""
        done = threading.Event()
        failure: list[BaseException] = []

        def deliver() -> None:
            try:
                self._handler(fingerprinted(op))
            except Exception as exc:  # noqa: BLE001 - reported below
                failure.append(exc)
            finally:
                done.set()

        threading.Thread(target=deliver, name="atlas-ml-direct", daemon=True).start()
        if done.wait(self.wait) and not failure:
            return "delivered"
        error = describe_error(failure[0]) if failure else f"Atlas did not answer within {self.wait:g} s"
        log.error("atlas-mlplugin could not deliver %s %s (%s) and cannot keep it (%s); it is lost unless "
                  "Atlas still takes the attempt under way", op.kind, op.op_id, error, why)
        return "rejected"

    # -- fingerprints ----------------------------------------------------------------------------

    def _fingerprint_later(self, op: SpoolOp, path: Path) -> None:
        """Start fingerprinting the spooled op's local files now, on the fingerprint thread (lock held)."""
        if self._fp_executor is None:
            self._fp_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atlas-ml-fingerprint")

        def compute() -> SpoolOp:
            # The op as it lies in the spool (scrubbed; local_path kept), with its sha256 values filled in.
            return fingerprinted(SpoolOp.model_validate_json(scrub_op_bytes(op.model_dump_json().encode())))

        future = self._fp_executor.submit(compute)
        self._fingerprints[op.op_id] = future
        self._fp_paths[op.op_id] = path
        future.add_done_callback(lambda _: self._fingerprint_done())

    def _fingerprint_done(self) -> None:
        with self._cond:
            self._fp_ready = True
            self._cond.notify_all()

    def _persist_fingerprints(self, timeout: float = _LOCK_WAIT) -> None:
        """Write finished fingerprints into their spool files, so they outlive this process."""
        with self._cond:
            done = [(op_id, f, self._fp_paths[op_id]) for op_id, f in self._fingerprints.items()
                    if f.done() and f.exception() is None]
        if not done or self.spool is None:
            return
        queue = self.spool.queue
        with queue.locked(timeout) as held:
            if not held:
                return  # another process drains this spool now; next time
            for op_id, future, path in done:
                try:
                    current = SpoolOp.model_validate_json(path.read_bytes())
                    queue.rewrite(path, current.model_copy(update={"payload": future.result().payload})
                                  .model_dump_json().encode("utf-8"))
                except FileNotFoundError:
                    pass  # delivered (or dead-lettered) meanwhile
                except (OSError, ValueError) as exc:
                    log.warning("could not record the fingerprint of %s in %s: %s", op_id, path, exc)
                    continue
                with self._cond:
                    self._fingerprints.pop(op_id, None)
                    self._fp_paths.pop(op_id, None)

    def _deliver(self, op: SpoolOp) -> None:
        """The drain's handler: the op with its fingerprint (waited for if under way), then the real handler."""
        with self._cond:
            future = self._fingerprints.get(op.op_id)
        if future is not None:
            op = op.model_copy(update={"payload": future.result().payload})  # raises the fingerprint's error
        self._handler(op)

    # -- draining --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> DrainReport:
        """Drain now in this thread; ``timeout`` bounds waiting and starting ops (not a running call)."""
        if self.spool is None:
            return DrainReport()
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._drain_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return DrainReport(busy=True, remaining=self._backlog())
        try:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            self._persist_fingerprints(_LOCK_WAIT if left is None else min(left, _LOCK_WAIT))
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            return self._drain_locked(timeout=left)
        finally:
            self._drain_lock.release()

    def _drain_locked(self, **kwargs: object) -> DrainReport:
        assert self.spool is not None
        with self._cond:
            self._draining_since = time.monotonic()
        try:
            report = self.spool.drain(self._deliver, **kwargs)  # type: ignore[arg-type]
        finally:
            with self._cond:
                self._draining_since = None
        if not report.stopped and not report.busy:
            with self._cond:
                self._retry_at = 0.0  # Atlas took what there was: callers may wait for it again
        self._resolve(report)
        if report.delivered:
            log.info("delivered %d spooled op(s) to Atlas; %d left", report.delivered, report.remaining)
        return report

    def _resolve(self, report: DrainReport | None) -> None:
        """Tell waiting callers what became of their ops."""
        with self._cond:
            if report is not None:
                for op_id in report.delivered_ids:
                    self._settle(op_id, "delivered")
                for op_id, _ in report.dead:
                    self._settle(op_id, "rejected")
            if report is None or report.stopped:  # the rest stays spooled behind the op that cannot go now
                for op_id in list(self._waiting):
                    self._results.setdefault(op_id, "spooled")
            self._cond.notify_all()

    def _settle(self, op_id: str, outcome: Outcome) -> None:
        if op_id in self._waiting:
            self._results[op_id] = outcome
        self._fingerprints.pop(op_id, None)
        self._fp_paths.pop(op_id, None)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the worker has nothing left to deliver (or is closed); True if so."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_flushing:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            with self._cond:
                self._cond.wait(0.05)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker (after its current handler call) and drop the exit hook; ops stay spooled."""
        with self._cond:
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._persist_fingerprints()
        if self._fp_executor is not None:
            self._fp_executor.shutdown(wait=False)
        atexit.unregister(self._at_exit)

    # -- background ------------------------------------------------------------------------------

    def _backlog(self) -> int:
        if self.spool is None:
            return 0
        try:
            return len(self.spool)
        except OSError:
            return 1  # cannot tell: assume a backlog, which keeps order and never loses the op

    def _ensure_worker(self) -> None:
        """Start the worker unless it runs (call with ``_cond`` held)."""
        if self._closed or self.spool is None or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="atlas-ml-spool-worker", daemon=True)
        self._thread.start()

    def _has_work(self, due: float) -> bool:
        return self._closed or self._wake or self._fp_ready or time.monotonic() >= due

    def _run(self) -> None:
        failures = 0
        next_drain = time.monotonic()  # at once: it was started because there is work
        while True:
            with self._cond:
                self._cond.wait_for(functools.partial(self._has_work, next_drain),
                                    timeout=max(next_drain - time.monotonic(), 0.0))
                if self._closed:
                    for op_id in self._waiting:
                        self._results.setdefault(op_id, "spooled")
                    self._cond.notify_all()
                    return
                drain_now = self._wake or time.monotonic() >= next_drain
                self._wake = self._fp_ready = False
            try:
                self._persist_fingerprints()
            except Exception:  # noqa: BLE001 - a filesystem error must not kill delivery for good
                log.exception("recording fingerprints in the spool %s failed", self.spool)
            if not drain_now:
                continue
            report: DrainReport | None = None
            with self._drain_lock:
                try:
                    report = self._drain_locked(lock_timeout=_LOCK_WAIT, stop=self._stop)
                except Exception:  # noqa: BLE001 - a bug or a filesystem error must not kill delivery for good
                    log.exception("draining the Atlas spool %s failed; will retry", self.spool)
                    self._resolve(None)
            if report is None or report.stopped:
                failures += 1
                delay = min(self._interval * 2 ** min(failures - 1, 30), self._max_backoff)
                if report is not None and report.error:
                    log.warning("Atlas did not take the spooled op(s) (%s); %d wait in %s, next try in %.0f s",
                                report.error.splitlines()[0], report.remaining, self.spool, delay)
            else:
                failures = 0
                # Busy: another process drains this spool, look again soon. Otherwise look now and then
                # for ops other processes left (a forked child, a run that crashed).
                delay = _BUSY_DELAY if report.busy else self._interval
            with self._cond:
                self._retry_at = time.monotonic() + delay if (report is None or report.stopped) else 0.0
            next_drain = time.monotonic() + delay

    def _at_exit(self) -> None:
        """Let fingerprints under way finish and make one drain, all within ``exit_timeout``; never raises."""
        try:
            deadline = time.monotonic() + self._exit_timeout
            with self._cond:
                pending = list(self._fingerprints.values())
                self._closed = True
                self._stop.set()
                self._cond.notify_all()
            concurrent.futures.wait(pending, timeout=max(deadline - time.monotonic(), 0.0))
            if self._backlog():
                report = self.flush(timeout=max(deadline - time.monotonic(), 0.0))
                if report.remaining:
                    log.warning("%d Atlas op(s) stay spooled in %s; `atlas-ml spool flush` delivers them",
                                report.remaining, self.spool)
        except Exception:  # noqa: BLE001 - nothing may fail at interpreter exit
            log.exception("final flush of the Atlas spool %s failed", self.spool)


_live: weakref.WeakSet[Deliverer] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child (multiprocessing, DataLoader workers) has none of the parent's threads and may inherit
    # locks held by them: give each Deliverer fresh ones; its ops still go through the shared spool.
    for deliverer in list(_live):
        deliverer._reset_threads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
