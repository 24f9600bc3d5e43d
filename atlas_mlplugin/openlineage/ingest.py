"""Applying OpenLineage RunEvents to Atlas, and draining a directory of them (the listener's spool, the
receiver's event directory): a directory queue (delivery/dirqueue.py), drained in order under its lock.

Only terminal events (COMPLETE, FAIL, ABORT) that write something are applied: they carry the full inputs
and outputs, and a job's START adds nothing a governance view needs.

What a failing file means follows the spool's rules (delivery/transient.py): a file that is not a valid
RunEvent, or one Atlas refuses (4xx), is moved to `rejected/` at once, rewritten without credentials, with
the reason beside it, and never blocks the rest; one Atlas fails with a 5xx (or a type it says does not
exist, after our typedefs were applied again) is retried up to a cap counted on disk, then rejected; while
Atlas is unavailable the drain stops and keeps every file, in order. Our typedefs are made sure of before
the first event of a drain. Several processes may drain one directory at once: the queue's lock hands each
file to one of them, a file another one took is skipped, and each says what it did.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from atlas_mlplugin.delivery.dirqueue import DEFAULT_MAX_ATTEMPTS, DirectoryQueue, Failure
from atlas_mlplugin.delivery.handler import TypedefGuard
from atlas_mlplugin.delivery.transient import FailureKind, classify, describe_error
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping.entities import dataset_stub_entity
from atlas_mlplugin.mapping.names import QUALIFIED_NAME
from atlas_mlplugin.mapping.openlineage import output_type, process_entity, unresolved_inputs
from atlas_mlplugin.mapping.tags import incomplete_lineage_tags
from atlas_mlplugin.model.openlineage import RunEvent, is_training, parse_run_event
from atlas_mlplugin.naming import display_name
from atlas_mlplugin.scrubbing import logger

if TYPE_CHECKING:
    from atlas_mlplugin.transport.lineage import KafkaLineageWriter

log = logger(__name__)
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
REJECTED_DIR = "rejected"


def event_queue(directory: Path) -> DirectoryQueue:
    """The directory of OpenLineage event files (one JSON RunEvent per file), oldest first. The directory
    itself keeps its mode (the Spark listener may share it); `rejected/` is private."""
    return DirectoryQueue(directory, dead_dir=REJECTED_DIR, private_root=False)


class InvalidEventError(ValueError):
    """A file that is not an OpenLineage RunEvent."""


@dataclass
class IngestReport:
    applied: int = 0
    skipped: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    remaining: int = 0
    error: str | None = None  # what stopped the drain (Atlas unavailable, or an event failing below the cap)
    retrying: tuple[str, int] | None = None  # (file id, failures so far) of the event tried again later
    vanished: int = 0  # files another drainer took meanwhile
    busy: bool = False  # another drainer held the directory for the whole timeout
    waited_for: str | None = None  # the other drainer this one waited for

    def summary(self) -> str:
        """One line saying what this drain did."""
        line = f"applied {self.applied} event(s), skipped {self.skipped} non-terminal, rejected {len(self.rejected)}"
        if self.vanished:
            line += f", {self.vanished} taken by another drainer"
        if self.busy:
            line += f"; another drainer ({self.waited_for or 'unknown'}) holds the directory"
        if self.error:
            line += f"; stopped: {self.error.splitlines()[0]}; {self.remaining} left"
        return line


class LineageIngestor:
    def __init__(self, registry: GovernanceRegistry, *, include_reads: bool = False,
                 typedefs: TypedefGuard | None = None, writer: KafkaLineageWriter | None = None) -> None:
        self.registry = registry
        # The kafka transport: the event's writes go to Atlas's hook topic instead of the REST API.
        self.writer = writer
        self.client = registry.client
        # Our types must exist before the first write of a drain (a restarted Atlas may not have them yet).
        self.typedefs = typedefs if typedefs is not None else TypedefGuard(self.client)
        # Jobs that only read (schema inference, collect(), count()) would fill the lineage graph with
        # processes that lead nowhere; producers such as openlineage-spark report them all.
        self.include_reads = include_reads

    def apply(self, event: RunEvent) -> bool:
        """Upsert the event's datasets and its process; False when the event is skipped (not terminal,
        or a read without a write unless include_reads)."""
        if event.eventType not in TERMINAL:
            return False
        if not event.outputs and not is_training(event) and not (self.include_reads and event.inputs):
            return False
        inputs = list(dict.fromkeys(d.qualified_name for d in event.inputs))
        outputs = list(dict.fromkeys(d.qualified_name for d in event.outputs))
        if self.writer is not None:
            self.writer.write(event, inputs, outputs)
            return True
        for qualified_name in inputs:
            self.registry.ensure_dataset(qualified_name, reader=f"job {event.job.name}")
        kind = output_type(event)
        process = process_entity(event, inputs, outputs)
        qualified_name = process["attributes"][QUALIFIED_NAME]
        # Look up and write under the names' locks: another ingest of the same event must not also decide
        # that an output is missing and send its stub over the entity we are creating.
        with self.client.writing([*outputs, qualified_name]):
            existing = {qn: self.client.find_entity(kind, qn) for qn in outputs}
            batch = [dataset_stub_entity(kind, qn, display_name(qn))
                     for qn, found in existing.items() if found is None]
            batch.append(process)
            guid, created = self.registry.upsert_entity(batch, process["typeName"], qualified_name)
        # Inputs the producer could not name (our listener says which) leave the lineage incomplete.
        tags = incomplete_lineage_tags(qualified_name, inputs, unresolved_inputs(event),
                                       inputs_required=is_training(event))
        self.registry.sync_lineage_tags(guid, tags, created=created)
        for found in existing.values():
            if found is not None:  # read before anyone knew a job writes it (events arrive out of order)
                self.registry.mark_as_output(found["entity"]["guid"])
        return True

    def drain(self, directory: Path, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
              retry_delays: tuple[float, ...] = (), timeout: float | None = None,
              on_wait: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> IngestReport:
        """Apply every event file in directory, oldest first; stop (keeping files) when Atlas is down.

        `max_attempts`, `retry_delays`, `timeout`, `on_wait` and `stop` are the directory queue's (dirqueue.py)."""
        report = IngestReport()

        def handle(path: Path, data: bytes) -> None:
            try:
                event = parse_run_event(data)  # the receiver's parser: nesting checked first, one-line reasons
            except ValueError as exc:  # InvalidRunEventError, the only error parse_run_event raises
                raise InvalidEventError(f"not a valid OpenLineage RunEvent: {exc}") from exc
            applied = self.typedefs.run(lambda: self.apply(event))
            report.applied += applied
            report.skipped += not applied

        def on_failure(path: Path, data: bytes, exc: Exception) -> Failure:
            if isinstance(exc, InvalidEventError):
                # The parser's own words, without the input it quotes (credentials would go with it).
                cause = exc.__cause__
                why = describe_error(cause) if isinstance(cause, ValueError) else str(exc)
                return Failure(FailureKind.REJECT, f"not a valid OpenLineage RunEvent: {why}")
            kind = classify(exc)
            if kind is FailureKind.UNAVAILABLE:
                return Failure(kind, describe_error(exc))
            return Failure(kind, f"Atlas did not take it: {describe_error(exc)}")

        drained = event_queue(directory).drain(handle, on_failure, max_attempts=max_attempts,
                                               retry_delays=retry_delays, timeout=timeout, on_wait=on_wait,
                                               stop=stop)
        report.rejected = [(d.name, d.reason.splitlines()[0]) for d in drained.dead]
        report.error = drained.error
        report.retrying = drained.retrying
        report.vanished = drained.vanished
        report.busy = drained.busy
        report.waited_for = drained.waited_for
        report.remaining = drained.remaining if drained.stopped or drained.busy else 0
        return report
