"""The spool: governance operations waiting for Atlas, as a durable directory queue (dirqueue.py) of
`SpoolOp` JSON files, delivered in order and at least once (every op is an idempotent upsert).

What a failed op means (transient.py says which class an error is; dirqueue.py acts on it):

- Atlas unavailable (refused, timeouts, 502/503/504/429, auth, a proxy page, our typedefs not there and not
  appliable): the op stays first in line with its attempt count and last error; the drain stops; it is
  never dead-lettered for this, so nothing is lost while Atlas is down, however long.
- Atlas answered this op with an error another try may not repeat (HTTP 500 and other 5xx, a type it says
  does not exist): the op stays first in line and is tried again, up to ``max_attempts`` failures counted
  on disk (across processes and restarts); then it goes to ``dead/`` with the reason and the ops behind it
  go. So one poison op delays the queue by a few attempts, never for good.
- Atlas refused the op itself (other 4xx), or it cannot be read or applied (invalid spec, unknown kind,
  a local file to fingerprint that is gone): ``dead/`` at once, with the reason.

Files are scrubbed (credentials out of every string except ``local_path`` values, which fingerprinting
needs) and private (0600 in 0700 folders). ``atlas-ml spool status`` shows what waits and why;
``atlas-ml spool flush --requeue-dead`` retries dead letters after their cause is fixed.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, Field, field_validator

from atlas_mlplugin.delivery.dirqueue import (
    DEFAULT_MAX_ATTEMPTS,
    DirectoryQueue,
    Failure,
    scrub_json_bytes,
)
from atlas_mlplugin.delivery.transient import FailureKind, classify, describe_error
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

SPOOL_DIR_ENV = "ATLAS_ML_SPOOL_DIR"
DEAD_DIR = "dead"
UNREADABLE_KIND = "unreadable"
LOCAL_PATH = "local_path"  # kept unscrubbed: the file must be found again to fingerprint it
_OP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

scrub_op_bytes = functools.partial(scrub_json_bytes, keep=frozenset({LOCAL_PATH}))


def default_spool_dir() -> Path:
    """``$ATLAS_ML_SPOOL_DIR``, else the per-user data directory's ``spool``."""
    env = os.environ.get(SPOOL_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return _user_spool_dir()


def _user_spool_dir() -> Path:
    return Path(platformdirs.user_data_dir("atlas-mlplugin")) / "spool"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SpoolOp(BaseModel):
    """One governance write waiting for Atlas: which operation, and the JSON of its spec.

    `kind` is kept as text (an `OpKind` value when we wrote it): a spool written by a newer version may hold
    kinds this one does not know, which must be dead-lettered with a reason, not crash the reader."""

    # The op_id goes into a file name, so it must not be able to name another path.
    op_id: str = Field(default_factory=lambda: uuid.uuid4().hex, pattern=_OP_ID.pattern)
    kind: str = Field(min_length=1, description="register_dataset, record_training_run, ... (OpKind)")
    payload: dict[str, Any] = Field(default_factory=dict, description="spec.model_dump(mode='json')")
    created_at: datetime = Field(default_factory=_utcnow)
    attempts: int = Field(default=0, ge=0, description="Delivery attempts that failed, for any reason")
    last_error: str | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _plain_kind(cls, value: Any) -> Any:
        return getattr(value, "value", value)  # an OpKind member is stored as its text

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
    failed_transient: bool = False  # stopped because Atlas was unavailable
    dead: list[tuple[str, str]] = field(default_factory=list)  # (op_id, error)
    remaining: int = 0
    busy: bool = False  # another drainer held the spool for the whole timeout; nothing was tried
    error: str | None = None  # the error that stopped the drain
    retrying: tuple[str, int] | None = None  # (op_id, failures so far): Atlas failed it, it is tried again later
    vanished: int = 0  # ops another drainer delivered while this one was at work
    delivered_ids: list[str] = field(default_factory=list)
    total: int = 0  # ops in the spool when this drain began
    waited_for: str | None = None  # the other drainer this one waited for, if any

    @property
    def stopped(self) -> bool:
        return self.failed_transient or self.retrying is not None


class _Unreadable(Exception):
    """A spool file that is not a SpoolOp (corrupt, truncated, hand-edited)."""

    def __init__(self, op: SpoolOp) -> None:
        super().__init__(op.last_error)
        self.op = op


class Spool:
    """A directory queue of ``SpoolOp`` files; ``dead/`` holds ops that failed for a reason of their own.

    Raises OSError when the directory cannot be created; ``open_spool`` falls back to another one instead."""

    def __init__(self, directory: Path | str | None = None, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.queue = DirectoryQueue(directory if directory is not None else default_spool_dir(), dead_dir=DEAD_DIR,
                                    scrub=scrub_op_bytes)
        self.directory = self.queue.directory
        self.dead_directory = self.queue.dead_directory
        self.max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    def __len__(self) -> int:
        return len(self.queue)

    def enqueue(self, op: SpoolOp) -> Path:
        """Write the op (scrubbed) at the end of the line; once this returns it survives a crash."""
        return self.queue.put(op.model_dump_json().encode("utf-8"), op.op_id)

    def reject(self, op: SpoolOp, reason: str) -> Path:
        """Keep an op refused before it was queued (e.g. its local file is missing) as a dead letter."""
        refused = op.model_copy(update={"attempts": op.attempts + 1, "last_error": reason})
        return self.queue.dead_letter(refused.model_dump_json().encode("utf-8"), reason, op.op_id)

    def pending(self) -> list[SpoolOp]:
        """Queued ops in delivery order; unreadable files are skipped here (drain dead-letters them)."""
        return _read_all(self.queue.files())

    def dead_letters(self) -> list[SpoolOp]:
        return _read_all(self.queue.dead_files())

    def failures(self) -> dict[str, int]:
        """op_id -> how often Atlas failed it with an error counted towards ``max_attempts``."""
        counts = {self.queue.item_id(p): self.queue.failures(p) for p in self.queue.files()}
        return {op_id: n for op_id, n in counts.items() if n}

    def requeue_dead(self) -> int:
        """Put dead letters back under their original names, i.e. at their original place in the order."""
        return self.queue.requeue_dead()

    def drain(
        self,
        handler: Callable[[SpoolOp], None],
        *,
        max_ops: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float | None = None,
        lock_timeout: float | None = None,
        retry_delays: tuple[float, ...] = (),
        on_wait: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> DrainReport:
        """Deliver queued ops in order until the spool is empty, ``max_ops`` ops were tried, the first op
        cannot go now (Atlas unavailable, or failing below the attempt cap) or ``timeout`` passes.

        ``timeout`` bounds waiting for another drainer and starting new ops; a handler call already under
        way is not interrupted. ``retry_delays`` lets one drain retry a failing op after those pauses
        (the CLI's flush does; the background flusher has its own backoff). See the module docstring for
        what happens to failing ops.
        """

        def handle(path: Path, data: bytes) -> None:
            try:
                op = SpoolOp.model_validate_json(data)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise _Unreadable(_unreadable_op(path, data, exc)) from exc
            handler(op)

        q = self.queue.drain(handle, _on_failure, max_items=max_ops, timeout=timeout, lock_timeout=lock_timeout,
                             progress=progress, max_attempts=self.max_attempts, retry_delays=retry_delays,
                             on_wait=on_wait, stop=stop)
        return DrainReport(delivered=q.delivered, failed_transient=q.failed_transient,
                           dead=[(d.item_id, d.reason) for d in q.dead], remaining=q.remaining, busy=q.busy,
                           error=q.error, retrying=q.retrying, vanished=q.vanished, delivered_ids=q.delivered_ids,
                           total=q.total, waited_for=q.waited_for)


def open_spool(directory: Path | str | None = None) -> Spool:
    """The spool in `directory` (default: ``default_spool_dir()``), or, when that cannot be used (not
    creatable, not writable), the per-user data directory's, then a private one under the temporary
    directory, with a warning naming both. Raises OSError only when none can be used."""
    wanted = Path(directory).expanduser() if directory is not None else default_spool_dir()
    fallbacks = [_user_spool_dir(), Path(tempfile.gettempdir()) / f"atlas-mlplugin-{os.geteuid()}" / "spool"]
    problems: list[str] = []
    for candidate in [wanted, *(f for f in fallbacks if f != wanted)]:
        try:
            spool = Spool(candidate)
            _check_usable(spool.directory)
        except OSError as exc:
            problems.append(f"{candidate}: {exc.strerror or exc}")
            continue
        if problems:
            log.warning("the spool directory %s cannot be used (%s); keeping writes for Atlas in %s instead. "
                        "Fix %s or set it to a writable folder", wanted, "; ".join(problems), spool.directory,
                        SPOOL_DIR_ENV)
        return spool
    raise OSError(f"no usable spool directory: {'; '.join(problems)}; set {SPOOL_DIR_ENV} to a writable folder")


def _check_usable(directory: Path) -> None:
    info = directory.stat()
    if info.st_uid != os.geteuid():  # a folder someone else made (e.g. in /tmp) must not receive our writes
        raise PermissionError(f"{directory} belongs to another user")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable")


def _on_failure(path: Path, data: bytes, exc: Exception) -> Failure:
    if isinstance(exc, _Unreadable):
        return Failure(FailureKind.REJECT, exc.op.last_error or "", content=exc.op.model_dump_json().encode())
    op = SpoolOp.model_validate_json(data)
    error = describe_error(exc)
    failed = op.model_copy(update={"attempts": op.attempts + 1, "last_error": error}).model_dump_json().encode()
    return Failure(classify(exc), error, content=failed)


def _read_all(paths: list[Path]) -> list[SpoolOp]:
    ops: list[SpoolOp] = []
    for path in paths:
        try:
            ops.append(SpoolOp.model_validate_json(path.read_bytes()))
        except FileNotFoundError:  # delivered by a concurrent drain since we listed
            continue
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable spool file %s: %s", path, exc)
    return ops


def _unreadable_op(path: Path, data: bytes, exc: BaseException) -> SpoolOp:
    """Wrap a corrupt file as an op so it can sit in dead/ with its content and the reason kept."""
    item_id = path.name.removesuffix(".json").partition("-")[2]
    return SpoolOp(
        op_id=item_id if _OP_ID.match(item_id) else uuid.uuid4().hex,
        kind=UNREADABLE_KIND,
        payload={"file": path.name, "content": data.decode("utf-8", errors="replace")},
        attempts=1,
        last_error=describe_error(exc),
    )
