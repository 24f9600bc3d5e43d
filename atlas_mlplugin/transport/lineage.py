"""An OpenLineage event's writes as one Atlas hook notification: what `atlas-ml ingest --transport kafka` sends.

The same mapping as the REST path (openlineage/ingest.py + governance/registry.py), so Atlas ends up holding
the same entities, relationships and tags:

- inputs nobody registered become placeholder datasets with UnknownLicense (licenseId UNREGISTERED), outputs
  that do not exist become stubs, and the process links them: one ENTITY_CREATE_V2 with the whole batch,
  linked by placeholder guids, which Atlas upserts by qualifiedName as REST's bulk upsert does;
- tags of entities this message creates (the placeholder's UnknownLicense, a new process's IncompleteLineage)
  travel inside the entities: Atlas adds them on create, and from the process they propagate as over REST;
- what a hook message cannot say goes over REST, as reads do: Atlas's consumer ignores the classifications of
  an entity it updates and has no message to remove one, so the re-derived IncompleteLineage of a process that
  already exists, and the placeholder UnknownLicense of a dataset that turned out to be an output, are
  changed over REST (both rare: a job's first run and an out-of-order event need none of it).

Which entities exist is read over REST before the message is built (a placeholder must not overwrite a dataset
someone registered); those reads happen under the names' write locks, like the REST path's. A read cannot see
what this writer published and Atlas has not applied yet (a job's output that the next event reads), so the
writer remembers what it published: an output it sent is not an unregistered input, and where REST would change
a tag of an entity still in flight (a process run again, a placeholder that turned out to be an output) it
waits, boundedly, until Atlas has applied it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection
from typing import Any, Literal

from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, dataset_stub_entity, link_within_batch, placeholder_dataset_entity
from atlas_mlplugin.mapping.openlineage import output_type, process_entity, unresolved_inputs
from atlas_mlplugin.mapping.tags import incomplete_lineage_tags, placeholder_tags
from atlas_mlplugin.model.openlineage import RunEvent, is_training
from atlas_mlplugin.naming import display_name
from atlas_mlplugin.scrubbing import logger, scrub_value
from atlas_mlplugin.transport.kafka import HookPublisher, KafkaUnavailableError
from atlas_mlplugin.transport.notification import create_request

log = logger(__name__)
ORDER_KEY = "atlas-mlplugin-lineage"
REMEMBERED = 100_000  # names of entities published, kept to know what is in flight (oldest forgotten first)
Published = Literal["output", "placeholder", "process"]


def process_type(event: RunEvent) -> str:
    return n.ML_TRAINING_RUN if is_training(event) else n.ML_SPARK_PROCESS


def build_batch(event: RunEvent, inputs: list[str], outputs: list[str], *, registered: Collection[str],
                existing_outputs: Collection[str], process_exists: bool) -> list[Entity]:
    """The entities of the event's message, given what Atlas already holds (pure: the reads are the caller's).

    Placeholders (with UnknownLicense) for inputs not `registered`, stubs for outputs not existing, then the
    process, with IncompleteLineage when it is new. The JVM listener's kafka transport builds the same
    (spark_listener HookNotifications.java); tests/vectors/hook_notifications.json holds both to it."""
    kind = output_type(event)
    batch: list[Entity] = []
    for input_name in inputs:
        if input_name not in registered:
            entity = placeholder_dataset_entity(input_name, display_name(input_name), f"job {event.job.name}")
            batch.append({**entity, "classifications": placeholder_tags(input_name)})
    for output_name in outputs:
        if output_name not in existing_outputs:
            batch.append(dataset_stub_entity(kind, output_name, display_name(output_name)))
    process = process_entity(event, inputs, outputs)
    tags = incomplete_lineage_tags(process["attributes"][n.QUALIFIED_NAME], inputs, unresolved_inputs(event),
                                   inputs_required=is_training(event))
    if not process_exists and tags:
        process = {**process, "classifications": tags}
    batch.append(process)
    return batch


def message_entities(batch: list[Entity]) -> list[Entity]:
    """What the ENTITY_CREATE_V2 carries: the batch linked by placeholder guids, every string scrubbed."""
    return scrub_value(link_within_batch(batch))


class KafkaLineageWriter:
    """Writes a terminal OpenLineage event to Atlas through its hook topic."""

    def __init__(self, registry: GovernanceRegistry, publisher: HookPublisher, *, apply_timeout: float = 60.0,
                 poll_interval: float = 0.5) -> None:
        self.registry = registry
        self.client = registry.client
        self.publisher = publisher
        self.apply_timeout = apply_timeout
        self.poll_interval = poll_interval
        self._published: OrderedDict[str, Published] = OrderedDict()

    def _remember(self, qualified_name: str, what: Published) -> None:
        self._published[qualified_name] = what
        self._published.move_to_end(qualified_name)
        while len(self._published) > REMEMBERED:
            self._published.popitem(last=False)

    def _find(self, type_name: str, qualified_name: str, *, wait: bool) -> dict[str, Any] | None:
        """The entity, or None; with `wait`, one this writer published is waited for until Atlas applied it."""
        found = self.client.find_entity(type_name, qualified_name)
        if found is not None or not wait or qualified_name not in self._published:
            return found
        deadline = time.monotonic() + self.apply_timeout
        while found is None and time.monotonic() < deadline:
            time.sleep(self.poll_interval)
            found = self.client.find_entity(type_name, qualified_name)
        if found is None:  # the event stays queued and is sent again: an upsert, so harmless
            raise KafkaUnavailableError(f"Atlas has not applied the hook notification for {qualified_name} within "
                                        f"{self.apply_timeout:g} s (is its hook consumer running?)")
        return found

    def batch_for(self, event: RunEvent, inputs: list[str], outputs: list[str]) -> tuple[list[Entity], dict[str, str]]:
        """The entities to send for the event, and the guids of existing outputs (by qualifiedName)."""
        kind = output_type(event)
        qualified_name = process_entity(event, inputs, outputs)["attributes"][n.QUALIFIED_NAME]
        # One bulk look-up for the inputs (client.find_entities, as the REST ingest does), not one per name.
        unseen = [name for name in inputs if name not in self._published]
        found = self.client.find_entities(n.ML_DATASET, unseen) if unseen else {}
        registered = [name for name in inputs if name in self._published or name in found]
        unregistered = [name for name in inputs if name not in registered]
        if unregistered:
            log.warning("job %s reads %d dataset(s) nobody registered, recorded with no known license "
                        "(UnknownLicense): %s", event.job.name, len(unregistered), ", ".join(unregistered[:3])
                        + (", ..." if len(unregistered) > 3 else ""))
        existing_outputs: dict[str, str] = {}
        for output_name in outputs:
            # A placeholder in flight must be applied first: its UnknownLicense goes, as over REST.
            found = self._find(kind, output_name, wait=self._published.get(output_name) == "placeholder")
            if found is not None:
                existing_outputs[output_name] = str(found["entity"]["guid"])
        existing_process = self._find(process_type(event), qualified_name, wait=True)
        batch = build_batch(event, inputs, outputs, registered=registered, existing_outputs=existing_outputs,
                            process_exists=existing_process is not None)
        if existing_process is not None:
            existing_outputs[qualified_name] = str(existing_process["entity"]["guid"])
        return batch, existing_outputs

    def write(self, event: RunEvent, inputs: list[str], outputs: list[str]) -> None:
        """Publish the event's entities (acknowledged by Kafka on return), then fix over REST the tags a hook
        message cannot change. Raises KafkaUnavailableError when Kafka does not take the message in time."""
        process = process_entity(event, inputs, outputs)
        qualified_name = process["attributes"][n.QUALIFIED_NAME]
        with self.client.writing([*inputs, *outputs, qualified_name]):
            batch, existing = self.batch_for(event, inputs, outputs)
            request = create_request(message_entities(batch))
            # One key for all: one partition, so Atlas applies events in the order they were ingested, as over
            # REST (an event refers to the previous one's output by qualifiedName; applied before it, it fails).
            self.publisher.publish([(ORDER_KEY, request)])
            for entity in batch:
                name = entity["attributes"][n.QUALIFIED_NAME]
                what: Published = ("process" if name == qualified_name else
                                   "placeholder" if entity.get("classifications") else "output")
                self._remember(name, what)
            process_guid = existing.pop(qualified_name, None)
            if process_guid is not None:
                tags = incomplete_lineage_tags(qualified_name, inputs, unresolved_inputs(event),
                                               inputs_required=is_training(event))
                self.registry.sync_lineage_tags(process_guid, tags, created=False)
            for guid in existing.values():  # read before anyone knew a job writes it
                self.registry.mark_as_output(guid)
