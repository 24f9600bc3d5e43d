"""Applying OpenLineage RunEvents to Atlas, and draining a directory of them (the listener's spool, the
receiver's event directory): a directory queue (delivery/dirqueue.py), drained in order under its lock.

Only terminal events (COMPLETE, FAIL, ABORT) that write something are applied: they carry the full inputs
and outputs, and a job's START adds nothing a governance view needs.

Events are applied in batches: one bulk look-up per entity type, one plan (mapping/openlineage.plan_batch),
then one writer: over REST one bulk upsert and the tag fix-ups an upsert cannot make; with the kafka transport
(transport/lineage.py) the same plan as one hook notification. Each batch logs one line for the inputs it
recorded as unregistered, whichever writer.

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
from typing import TYPE_CHECKING, Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.delivery.dirqueue import DEFAULT_MAX_ATTEMPTS, DirectoryQueue, Failure
from atlas_mlplugin.delivery.handler import TypedefGuard
from atlas_mlplugin.delivery.transient import FailureKind, classify, describe_error
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping.entities import link_within_batch
from atlas_mlplugin.mapping.names import QUALIFIED_NAME
from atlas_mlplugin.mapping.openlineage import (
    BatchPlan,
    EntityKey,
    EventStep,
    event_step,
    plan_batch,
    unregistered_summary,
)
from atlas_mlplugin.mapping.tags import LINEAGE_TAG_TYPES
from atlas_mlplugin.model.openlineage import RunEvent, is_training, parse_run_event
from atlas_mlplugin.scrubbing import logger

if TYPE_CHECKING:
    from atlas_mlplugin.transport.lineage import KafkaLineageWriter

log = logger(__name__)
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
REJECTED_DIR = "rejected"
# Events applied per batch: one bulk look-up per entity type and one bulk upsert for all of them. Measured on
# Atlas 2.1.0 (bench/README.md), batches of 100 reach the bulk ceiling; larger ones gain nothing and make a
# batch that Atlas refuses costlier to take apart.
DEFAULT_BATCH = 100


@dataclass
class BatchResult:
    applied: list[bool]  # per event given: applied (True) or skipped
    unregistered: list[str] = field(default_factory=list)  # inputs recorded as placeholders, in order


def look_up(client: AtlasClient, steps: list[EventStep]) -> dict[EntityKey, dict[str, Any]]:
    """What Atlas holds of everything the steps name, with classifications: one bulk look-up per entity type
    (client.find_entities splits it only where the URL would grow too long), whatever the batch's size."""
    wanted: dict[str, set[str]] = {}
    for step in steps:
        for type_name, qn in step.lookups():
            wanted.setdefault(type_name, set()).add(qn)
    return {(type_name, qn): entity for type_name, qns in sorted(wanted.items())
            for qn, entity in client.find_entities(type_name, sorted(qns)).items()}


def mutated_guids(response: dict[str, Any], operation: str) -> dict[tuple[str, str], str]:
    """(type, qualifiedName) -> guid of the entities a bulk upsert reports under `operation` (CREATE, UPDATE)."""
    return {(str(h.get("typeName")), str((h.get("attributes") or {}).get(QUALIFIED_NAME))): str(h["guid"])
            for h in (response.get("mutatedEntities") or {}).get(operation) or []}


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
    batches: int = 0  # batches applied in one bulk write
    unregistered: int = 0  # inputs nobody registered, recorded as placeholders with no known license

    def summary(self) -> str:
        """One line saying what this drain did."""
        line = f"applied {self.applied} event(s), skipped {self.skipped} non-terminal, rejected {len(self.rejected)}"
        if self.unregistered:
            line += f", {self.unregistered} unregistered input(s) recorded with no known license"
        if self.vanished:
            line += f", {self.vanished} taken by another drainer"
        if self.busy:
            line += f"; another drainer ({self.waited_for or 'unknown'}) holds the directory"
        if self.error:
            line += f"; stopped: {self.error.splitlines()[0]}; {self.remaining} left"
        return line


class LineageIngestor:
    def __init__(self, registry: GovernanceRegistry, *, include_reads: bool = False,
                 typedefs: TypedefGuard | None = None, batch_size: int = DEFAULT_BATCH,
                 writer: KafkaLineageWriter | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (got {batch_size})")
        self.registry = registry
        # The kafka transport: each batch's plan goes to Atlas's hook topic instead of the bulk REST upsert.
        self.writer = writer
        self.client = registry.client
        # Our types must exist before the first write of a drain (a restarted Atlas may not have them yet).
        self.typedefs = typedefs if typedefs is not None else TypedefGuard(self.client)
        # Jobs that only read (schema inference, collect(), count()) would fill the lineage graph with
        # processes that lead nowhere; producers such as openlineage-spark report them all.
        self.include_reads = include_reads
        self.batch_size = batch_size

    def wanted(self, event: RunEvent) -> bool:
        """Whether the event is applied: terminal, and writing something (or reading, with include_reads)."""
        if event.eventType not in TERMINAL:
            return False
        return bool(event.outputs) or is_training(event) or (self.include_reads and bool(event.inputs))

    def apply(self, event: RunEvent) -> bool:
        """Upsert the event's datasets and its process; False when the event is skipped (not terminal,
        or a read without a write unless include_reads)."""
        return self.apply_batch([event]).applied[0]

    def apply_batch(self, events: list[RunEvent]) -> BatchResult:
        """Apply `events` as if one by one, in order, with one bulk look-up per entity type and one bulk
        upsert: the end state (entities, lineage, derived tags) is the same as applying them one at a time."""
        chosen = [e for e in events if self.wanted(e)]
        result = BatchResult(applied=[self.wanted(e) for e in events])
        if not chosen:
            return result
        steps = [event_step(e) for e in chosen]
        names = sorted({qn for step in steps for _, qn in step.lookups()})
        # Look up and write under the names' locks: another ingest of the same events must not also decide
        # that a dataset is missing and send its stub or placeholder over the entity we are creating.
        with self.client.writing(names):
            existing = look_up(self.client, steps)
            if self.writer is not None:  # the kafka transport: the same plan, published as hook notifications
                plan = self.writer.write(steps, existing)
            else:
                plan = plan_batch(steps, existing)
                self._write(plan, existing)
        result.unregistered = plan.unregistered
        if plan.unregistered:
            log.warning("%s", unregistered_summary(len(chosen), plan.unregistered))
        return result

    def _write(self, plan: BatchPlan, existing: dict[EntityKey, dict[str, Any]]) -> None:
        """The plan over REST: one bulk upsert, then the tags an upsert cannot change, only where they differ."""
        response = self.client.upsert_entities(link_within_batch(plan.entities)) if plan.entities else {}
        created = mutated_guids(response, "CREATE")
        for key, desired in plan.process_tags.items():
            if key in existing:  # its tags were read with it: compared, changed only if they differ
                entity = existing[key]
                self.registry.sync_known_tags(str(entity["guid"]), entity.get("classifications") or [],
                                              desired, LINEAGE_TAG_TYPES)
            elif key not in created:  # another writer created it meanwhile: ours were not taken with it
                guid = mutated_guids(response, "UPDATE").get(key) or str(self.registry.require(*key)["guid"])
                self.registry.sync_derived_tags(guid, desired, LINEAGE_TAG_TYPES)
        for guid in plan.untag:
            self.registry.drop_placeholder_tag(guid)

    def _batch_after(self, queue: DirectoryQueue, path: Path, event: RunEvent) -> tuple[list[str], list[RunEvent]]:
        """The batch that starts at `path`: it and the valid event files after it, in order, up to batch_size.
        Files that are not valid events are left out (they are rejected on their own turn)."""
        names, events = [path.name], [event]
        following = [p for p in queue.files() if p.name > path.name]
        for later in following[: self.batch_size - 1]:
            try:
                events.append(parse_run_event(later.read_bytes()))
            except (OSError, ValueError):
                continue  # gone meanwhile, or invalid: its own turn says so
            names.append(later.name)
        return names, events

    def drain(self, directory: Path, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
              retry_delays: tuple[float, ...] = (), timeout: float | None = None,
              on_wait: Callable[[str], None] | None = None, stop: threading.Event | None = None) -> IngestReport:
        """Apply every event file in directory, oldest first; stop (keeping files) when Atlas is down.

        `max_attempts`, `retry_delays`, `timeout`, `on_wait` and `stop` are the directory queue's (dirqueue.py)."""
        report = IngestReport()
        queue = event_queue(directory)
        # Files of the current batch, applied with its first file: the queue deletes each when its turn comes
        # (and the handler returns), so a file goes only after its batch is in Atlas.
        done: dict[str, bool] = {}
        # Files of a batch Atlas refused as a whole: applied one by one, to find the one at fault.
        alone: set[str] = set()

        def parse(data: bytes) -> RunEvent:
            try:
                return parse_run_event(data)  # the receiver's parser: nesting checked first, one-line reasons
            except ValueError as exc:  # InvalidRunEventError, the only error parse_run_event raises
                raise InvalidEventError(f"not a valid OpenLineage RunEvent: {exc}") from exc

        def count(applied: bool) -> None:
            report.applied += applied
            report.skipped += not applied

        def handle(path: Path, data: bytes) -> None:
            if path.name in done:
                count(done.pop(path.name))
                return
            event = parse(data)  # an invalid file is rejected on its own turn, never part of a batch
            if path.name in alone or self.batch_size == 1:
                result = self.typedefs.run(lambda: self.apply_batch([event]))
                report.unregistered += len(result.unregistered)
                count(result.applied[0])
                alone.discard(path.name)
                return
            names, events = self._batch_after(queue, path, event)
            try:
                result = self.typedefs.run(lambda: self.apply_batch(events))
            except Exception as exc:
                if classify(exc) is FailureKind.UNAVAILABLE:
                    raise  # the drain stops and every file stays
                log.warning("Atlas did not take a batch of %d event(s) (%s); applying them one by one to find "
                            "the one at fault", len(events), describe_error(exc).splitlines()[0])
                alone.update(names)
                handle(path, data)
                return
            report.unregistered += len(result.unregistered)
            report.batches += 1
            done.update(zip(names[1:], result.applied[1:], strict=True))
            count(result.applied[0])

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

        drained = queue.drain(handle, on_failure, max_attempts=max_attempts,
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
