"""Applying OpenLineage RunEvents to Atlas, and draining a directory of them (the listener's spool, the
receiver's event directory): a directory queue (delivery/dirqueue.py), drained in order under its lock.

Only terminal events (COMPLETE, FAIL, ABORT) that write something are applied: they carry the full inputs
and outputs, and a job's START adds nothing a governance view needs. A file that is not a valid RunEvent is
moved to `rejected/` with the reason beside it and never blocks the rest; when Atlas is down the drain stops
and keeps the files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from atlas_mlplugin.delivery.dirqueue import DirectoryQueue, Failure
from atlas_mlplugin.delivery.transient import describe_error, is_transient
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping.entities import dataset_stub_entity
from atlas_mlplugin.mapping.names import QUALIFIED_NAME
from atlas_mlplugin.mapping.openlineage import output_type, process_entity, unresolved_inputs
from atlas_mlplugin.mapping.tags import incomplete_lineage_tags
from atlas_mlplugin.model.openlineage import RunEvent, is_training, parse_run_event
from atlas_mlplugin.naming import display_name

log = logging.getLogger(__name__)
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
REJECTED_DIR = "rejected"


def event_queue(directory: Path) -> DirectoryQueue:
    """The directory of OpenLineage event files (one JSON RunEvent per file), oldest first."""
    return DirectoryQueue(directory, dead_dir=REJECTED_DIR)


class InvalidEventError(ValueError):
    """A file that is not an OpenLineage RunEvent."""


@dataclass
class IngestReport:
    applied: int = 0
    skipped: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    remaining: int = 0
    error: str | None = None


class LineageIngestor:
    def __init__(self, registry: GovernanceRegistry, *, include_reads: bool = False) -> None:
        self.registry = registry
        self.client = registry.client
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
        for qualified_name in inputs:
            self.registry.ensure_dataset(qualified_name, reader=f"job {event.job.name}")
        kind = output_type(event)
        existing = {qn: self.client.find_entity(kind, qn) for qn in outputs}
        batch = [dataset_stub_entity(kind, qn, display_name(qn)) for qn, found in existing.items() if found is None]
        process = process_entity(event, inputs, outputs)
        batch.append(process)
        qualified_name = process["attributes"][QUALIFIED_NAME]
        guid, created = self.registry.upsert_entity(batch, process["typeName"], qualified_name)
        # Inputs the producer could not name (our listener says which) leave the lineage incomplete.
        tags = incomplete_lineage_tags(qualified_name, inputs, unresolved_inputs(event),
                                       inputs_required=is_training(event))
        self.registry.sync_lineage_tags(guid, tags, created=created)
        for found in existing.values():
            if found is not None:  # read before anyone knew a job writes it (events arrive out of order)
                self.registry.mark_as_output(found["entity"]["guid"])
        return True

    def drain(self, directory: Path) -> IngestReport:
        """Apply every event file in directory, oldest first; stop (keeping files) when Atlas is down."""
        report = IngestReport()

        def handle(path: Path, data: bytes) -> None:
            try:
                event = parse_run_event(data)  # the receiver's parser: nesting checked first, one-line reasons
            except ValueError as exc:  # InvalidRunEventError, the only error parse_run_event raises
                raise InvalidEventError(f"not a valid OpenLineage RunEvent: {exc}") from exc
            applied = self.apply(event)
            report.applied += applied
            report.skipped += not applied

        def on_failure(path: Path, data: bytes, exc: Exception) -> Failure:
            if is_transient(exc):
                return Failure(transient=True, reason=str(exc).splitlines()[0])
            reason = str(exc) if isinstance(exc, InvalidEventError) else f"Atlas rejected it: {describe_error(exc)}"
            log.warning("rejected %s: %s", path.name, reason.splitlines()[0])
            return Failure(transient=False, reason=reason)

        drained = event_queue(directory).drain(handle, on_failure)
        report.rejected = [(d.name, d.reason.splitlines()[0]) for d in drained.dead]
        report.error = drained.error
        report.remaining = drained.remaining if drained.failed_transient else 0
        return report
