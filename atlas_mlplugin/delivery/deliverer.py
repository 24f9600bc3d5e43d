"""Deliver governance operations to Atlas without ever breaking or stalling the caller's training code.

``Deliverer.submit`` makes at most one handler attempt in the caller's thread and never sleeps. When Atlas
is down or slow the op goes to the durable ``Spool`` and a daemon thread retries with exponential backoff
until the spool is empty; at interpreter exit one bounded drain delivers what it can, the rest stays on
disk for the next run or ``atlas-ml spool flush``.

The handler must fail fast for this to hold: build its ``AtlasClient`` from ``fail_fast(settings)``
(small timeouts, one attempt per request). With the default settings the session itself retries up to 5
times with backoff and a 60 s read timeout, which is exactly the stall the spool exists to avoid; here
the spool and the flusher thread do the retrying. The handler is called from the caller's thread and
from the flusher thread, so it must be thread-safe (an ``AtlasClient`` is).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.spool import DrainReport, Spool, SpoolOp
from atlas_mlplugin.delivery.transient import describe_error, is_transient

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "spooled"]


def fail_fast(settings: AtlasSettings, *, connect_timeout: float = 2.0, read_timeout: float = 15.0) -> AtlasSettings:
    """``settings`` tightened for the submit path: short timeouts and a single attempt per request."""
    return settings.model_copy(
        update={
            "connect_timeout": min(settings.connect_timeout, connect_timeout),
            "read_timeout": min(settings.read_timeout, read_timeout),
            "max_retries": 1,
        }
    )


class Deliverer:
    """Submit ops directly while Atlas answers; spool them, in order, while it does not."""

    def __init__(
        self,
        spool: Spool,
        handler: Callable[[SpoolOp], None],
        *,
        flush_interval: float = 30.0,
        max_backoff: float = 300.0,
        exit_timeout: float = 5.0,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        self.spool = spool
        self._handler = handler
        self._interval = flush_interval
        self._max_backoff = max(max_backoff, flush_interval)
        self._exit_timeout = exit_timeout
        self._drain_lock = threading.Lock()  # one drain per Deliverer; the spool's flock covers the rest
        self._state_lock = threading.Lock()  # guards _thread/_closed so no enqueued op is left unwatched
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self._at_exit)
        if self._backlog():  # left over from an earlier run: start delivering it now
            self._ensure_flusher(immediate=True)

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def is_flushing(self) -> bool:
        """Whether the background flusher is running (it stops by itself once the spool is empty)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def submit(self, op: SpoolOp) -> Outcome:
        """Deliver ``op`` now if Atlas answers, else spool it; raise only if Atlas rejects the op itself.

        With a backlog the op is queued behind it even when Atlas is back, so ops arrive in order.
        Filesystem errors from the spool (disk full, unwritable directory) propagate as OSError.
        """
        if self._backlog():
            self.spool.enqueue(op)
            self._ensure_flusher(immediate=True)
            return "spooled"
        try:
            self._handler(op)
        except Exception as exc:
            if not is_transient(exc):
                raise
            error = describe_error(exc)
            self.spool.enqueue(op.model_copy(update={"attempts": op.attempts + 1, "last_error": error}))
            log.warning(
                "Atlas did not take %s (%s); kept in %s and retried in the background",
                op.kind, error.splitlines()[0], self.spool.directory,
            )
            self._ensure_flusher(immediate=False)  # Atlas just failed: wait an interval first
            return "spooled"
        return "delivered"

    def flush(self, timeout: float | None = None) -> DrainReport:
        """Drain now in this thread; ``timeout`` bounds waiting and starting ops (not a running call)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._drain_lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return DrainReport(busy=True, remaining=len(self.spool))
        try:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            return self.spool.drain(self._handler, timeout=left)
        finally:
            self._drain_lock.release()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the flusher to finish (spool empty or closed); True if it is not running."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return not self.is_flushing

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the flusher (after its current handler call) and drop the exit hook; ops stay spooled."""
        with self._state_lock:
            self._closed = True
            self._stop.set()
        self.join(timeout)
        atexit.unregister(self._at_exit)

    # -- background ------------------------------------------------------------------------------

    def _backlog(self) -> int:
        try:
            return len(self.spool)
        except OSError:
            return 1  # cannot tell: assume a backlog, which keeps order and never loses the op

    def _ensure_flusher(self, *, immediate: bool) -> None:
        with self._state_lock:
            if self._closed or self.is_flushing:
                return
            self._thread = threading.Thread(
                target=self._run, args=(immediate,), name="atlas-ml-spool-flusher", daemon=True
            )
            self._thread.start()

    def _run(self, immediate: bool) -> None:
        failures = 0
        delay = 0.0 if immediate else self._interval
        while not self._stop.wait(delay):
            report: DrainReport | None = None
            try:
                with self._drain_lock:
                    report = self.spool.drain(self._handler)
            except Exception:  # a bug or a filesystem error must not kill delivery for good
                log.exception("flushing the Atlas spool %s failed; will retry", self.spool.directory)
            if report is not None and report.delivered:
                log.info("delivered %d spooled op(s) to Atlas; %d left", report.delivered, report.remaining)
            if report is None or report.failed_transient:
                delay = min(self._interval * 2 ** min(failures, 30), self._max_backoff)
                failures += 1
                continue
            failures = 0
            delay = self._interval
            with self._state_lock:
                # Checked under the lock submit() takes after enqueueing, so an op enqueued now is
                # either seen here or finds no flusher and starts a new one.
                if not report.busy and self._backlog() == 0:
                    self._thread = None
                    return
        with self._state_lock:
            if self._thread is threading.current_thread():
                self._thread = None

    def _at_exit(self) -> None:
        """One bounded drain so short scripts deliver what they can; never raises at interpreter exit."""
        self._stop.set()
        try:
            if self._backlog():
                report = self.flush(timeout=self._exit_timeout)
                if report.remaining:
                    log.warning(
                        "%d Atlas op(s) stay spooled in %s; `atlas-ml spool flush` delivers them",
                        report.remaining, self.spool.directory,
                    )
        except Exception:
            log.exception("final flush of the Atlas spool %s failed", self.spool.directory)
