"""The spool: governance operations waiting for Atlas, as a durable directory queue (dirqueue.py) of
`SpoolOp` JSON files, delivered in order and at least once (every op is an idempotent upsert).

An op that fails because Atlas is unavailable stays first in line with its attempt count and last error;
one Atlas rejects (or that cannot be read) goes to ``dead/`` with the reason, without blocking the rest.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import platformdirs
from pydantic import BaseModel, Field, field_validator

from atlas_mlplugin.delivery.dirqueue import DirectoryQueue, Failure
from atlas_mlplugin.delivery.transient import describe_error, is_transient

log = logging.getLogger(__name__)

SPOOL_DIR_ENV = "ATLAS_ML_SPOOL_DIR"
DEAD_DIR = "dead"
UNREADABLE_KIND = "unreadable"
_OP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def default_spool_dir() -> Path:
    """``$ATLAS_ML_SPOOL_DIR``, else the per-user data directory's ``spool``."""
    env = os.environ.get(SPOOL_DIR_ENV)
    if env:
        return Path(env).expanduser()
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
    attempts: int = Field(default=0, ge=0)
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
    failed_transient: bool = False
    dead: list[tuple[str, str]] = field(default_factory=list)  # (op_id, error)
    remaining: int = 0
    busy: bool = False  # another drainer held the spool for the whole timeout; nothing was tried
    error: str | None = None  # the transient error that stopped the drain


class _Unreadable(Exception):
    """A spool file that is not a SpoolOp (corrupt, truncated, hand-edited)."""

    def __init__(self, op: SpoolOp) -> None:
        super().__init__(op.last_error)
        self.op = op


class Spool:
    """A directory queue of ``SpoolOp`` files; ``dead/`` holds ops that failed for a reason of their own."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.queue = DirectoryQueue(directory if directory is not None else default_spool_dir(), dead_dir=DEAD_DIR)
        self.directory = self.queue.directory
        self.dead_directory = self.queue.dead_directory

    def __repr__(self) -> str:
        return f"Spool({str(self.directory)!r})"

    def __len__(self) -> int:
        return len(self.queue)

    def enqueue(self, op: SpoolOp) -> Path:
        return self.queue.put(op.model_dump_json().encode("utf-8"), op.op_id)

    def pending(self) -> list[SpoolOp]:
        """Queued ops in delivery order; unreadable files are skipped here (drain dead-letters them)."""
        return _read_all(self.queue.files())

    def dead_letters(self) -> list[SpoolOp]:
        return _read_all(self.queue.dead_files())

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
    ) -> DrainReport:
        """Deliver queued ops in order until the spool is empty, ``max_ops`` ops were tried, a transient
        failure occurs (the op stays first in line) or ``timeout`` passes.

        ``timeout`` bounds waiting for another drainer and starting new ops; a handler call already under
        way is not interrupted. Ops failing for a reason of their own go to ``dead/`` and draining goes
        on, so one bad op can never block the rest.
        """

        def handle(path: Path, data: bytes) -> None:
            try:
                op = SpoolOp.model_validate_json(data)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise _Unreadable(_unreadable_op(path, data, exc)) from exc
            handler(op)

        q = self.queue.drain(handle, _on_failure, max_items=max_ops, timeout=timeout, progress=progress)
        return DrainReport(delivered=q.delivered, failed_transient=q.failed_transient,
                           dead=[(d.item_id, d.reason) for d in q.dead], remaining=q.remaining, busy=q.busy,
                           error=q.error)


def _on_failure(path: Path, data: bytes, exc: Exception) -> Failure:
    if isinstance(exc, _Unreadable):
        log.error("spooled op %s is unreadable and was moved to %s: %s", path.name, DEAD_DIR, exc)
        return Failure(transient=False, reason=exc.op.last_error or "", content=exc.op.model_dump_json().encode())
    op = SpoolOp.model_validate_json(data)
    error = describe_error(exc)
    failed = op.model_copy(update={"attempts": op.attempts + 1, "last_error": error}).model_dump_json().encode()
    if is_transient(exc):
        return Failure(transient=True, reason=error, content=failed)
    log.error("Atlas rejected spooled %s %s; moved to %s: %s", op.kind, op.op_id, DEAD_DIR, error)
    return Failure(transient=False, reason=error, content=failed)


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
