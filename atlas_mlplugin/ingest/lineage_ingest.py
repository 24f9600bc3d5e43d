"""Applying OpenLineage RunEvents to Atlas, and draining a directory of them (the listener's spool).

Only terminal events (COMPLETE, FAIL, ABORT) that write something are applied: they carry the full inputs
and outputs, and a job's START adds nothing a governance view needs. A file that is not a valid RunEvent is moved to
`rejected/` with the reason beside it and never blocks the rest.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.ingest.openlineage import RunEvent, dataset_name, dataset_qualified_name, process_entity
from atlas_mlplugin.ingest.spool import is_transient
from atlas_mlplugin.mapping.entities import object_id

log = logging.getLogger(__name__)
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


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
        training = "atlasMl" in event.run.facets
        if not event.outputs and not training and not (self.include_reads and event.inputs):
            return False
        inputs = [dataset_qualified_name(d.namespace, d.name) for d in event.inputs]
        outputs = [dataset_qualified_name(d.namespace, d.name) for d in event.outputs]
        for qualified_name in inputs:
            self.registry.ensure_dataset(qualified_name, reader=f"job {event.job.name}")
        output_type = "ml_model" if training else "ml_dataset"
        existing = {qn: self.client.find_entity(output_type, qn) for qn in outputs}
        batch = [{"typeName": output_type, "attributes": {"qualifiedName": qn, "name": dataset_name(qn)}}
                 for qn, found in existing.items() if found is None]
        batch.append(process_entity(event, [object_id("ml_dataset", qn) for qn in inputs],
                                    [object_id(output_type, qn) for qn in outputs]))
        self.registry.upsert(batch, batch[-1]["typeName"], batch[-1]["attributes"]["qualifiedName"])
        for found in existing.values():
            if found is not None:  # read before anyone knew a job writes it (events arrive out of order)
                self.registry.mark_as_output(found["entity"]["guid"])
        return True

    def drain(self, directory: Path) -> IngestReport:
        """Apply every event file in directory, oldest first; stop (keeping files) when Atlas is down."""
        report = IngestReport()
        files = sorted(p for p in directory.glob("*.json") if p.is_file())
        for index, path in enumerate(files):
            try:
                event = RunEvent.model_validate(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, ValidationError) as exc:
                self._reject(path, f"not a valid OpenLineage RunEvent: {exc}")
                report.rejected.append((path.name, str(exc).splitlines()[0]))
                continue
            try:
                applied = self.apply(event)
            except Exception as exc:
                if is_transient(exc):
                    report.error = str(exc).splitlines()[0]
                    report.remaining = len(files) - index
                    return report
                self._reject(path, f"Atlas rejected it: {exc}")
                report.rejected.append((path.name, str(exc).splitlines()[0]))
                continue
            report.applied += applied
            report.skipped += not applied
            path.unlink()
        return report

    @staticmethod
    def _reject(path: Path, reason: str) -> None:
        rejected = path.parent / "rejected"
        rejected.mkdir(exist_ok=True)
        os.replace(path, rejected / path.name)
        (rejected / (path.name + ".reason.txt")).write_text(reason + "\n")
        log.warning("rejected %s: %s", path.name, reason.splitlines()[0])
