"""A batch of OpenLineage events as Atlas hook notifications: what `atlas-ml ingest --transport kafka` sends.

One plan, two writers: the batch is planned by mapping/openlineage.plan_batch from the same bulk look-ups as over
REST (openlineage/ingest.py), so both transports derive the same entities, relationships and tags from the same
events by construction. Over REST the plan is one bulk upsert; here it is one ENTITY_CREATE_V2 with the whole
plan, linked by placeholder guids, which Atlas's hook consumer upserts by qualifiedName as REST's bulk upsert does
(encode() compresses and splits it into several Kafka messages when it is large; one key keeps them in order).

Tags of entities the message creates (a placeholder's UnknownLicense, a new process's IncompleteLineage) travel
inside them: Atlas adds them on create, and from the process they propagate as over REST. What a hook message
cannot say goes over REST, as the look-ups do: Atlas 2.1.0's consumer ignores the classifications of an entity it
updates and has no message to remove one, so the re-derived IncompleteLineage of a process that already exists
(the plan's process_tags) and the UnknownLicense of a placeholder that turned out to be an output (the plan's
`untag`) are changed over REST; both are rare (a job's first run and an out-of-order event need neither).

A look-up cannot see what this writer published and Atlas has not applied yet (a job's output that the next
batch reads), so the writer remembers what it published, with the tags it went with: such an entity counts as
existing when the next batch is planned (no placeholder over an output in flight), and only where the plan needs
a REST fix-up of one (a placeholder in flight that turned out to be an output, a process in flight whose tags
must change) does the writer wait, boundedly, until Atlas has applied it, and plan again with what Atlas holds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, link_within_batch
from atlas_mlplugin.mapping.openlineage import (
    BatchPlan,
    EntityKey,
    EventStep,
    event_step,
    own_tags_differ,
    plan_batch,
)
from atlas_mlplugin.mapping.tags import LINEAGE_TAG_TYPES, Classification
from atlas_mlplugin.model.openlineage import RunEvent
from atlas_mlplugin.scrubbing import logger, scrub_value
from atlas_mlplugin.transport.kafka import HookPublisher, KafkaUnavailableError
from atlas_mlplugin.transport.notification import create_request

log = logger(__name__)
ORDER_KEY = "atlas-mlplugin-lineage"
REMEMBERED = 100_000  # entities published and not yet seen applied (oldest forgotten first)
IN_FLIGHT = "in-flight:"  # the guid an entity published but not yet applied stands in the plan with


def build_batch(event: RunEvent, *, registered: Collection[str], existing_outputs: Collection[str],
                process_exists: bool) -> list[Entity]:
    """The entities of one event's message given what Atlas already holds (names of registered inputs, of
    existing outputs, whether the process exists): plan_batch of that one event. Pure.

    The JVM listener's kafka transport builds the same (spark_listener HookNotifications.java);
    tests/vectors/hook_notifications.json holds both to it."""
    step = event_step(event)
    known: dict[EntityKey, dict[str, Any]] = {(n.ML_DATASET, qn): {"guid": qn} for qn in registered}
    known |= {(step.kind, qn): {"guid": qn} for qn in existing_outputs}
    if process_exists:
        known[step.process_key] = {"guid": step.process_key[1]}
    return plan_batch([step], known).entities


def message_entities(batch: list[Entity]) -> list[Entity]:
    """What the ENTITY_CREATE_V2 carries: the batch linked by placeholder guids, every string scrubbed."""
    return scrub_value(link_within_batch(batch))


def with_in_flight(steps: list[EventStep], existing: dict[EntityKey, dict[str, Any]],
                   published: dict[EntityKey, list[Classification]]) -> dict[EntityKey, dict[str, Any]]:
    """What Atlas will hold once it has applied what was published: `existing` (read from Atlas) plus, for each
    entity the steps name that Atlas does not have yet but was published, a stand-in with the tags it went with
    (guid IN_FLIGHT + type:qualifiedName, so the plan can tell which fix-ups concern one in flight)."""
    known = dict(existing)
    for step in steps:
        for key in step.lookups():
            if key not in known and key in published:
                known[key] = {"guid": f"{IN_FLIGHT}{key[0]}:{key[1]}", "classifications": published[key]}
    return known


def awaited(plan: BatchPlan, known: dict[EntityKey, dict[str, Any]]) -> set[EntityKey]:
    """The entities in flight that a REST fix-up of the plan needs applied first: a placeholder that turned out to
    be an output (its UnknownLicense goes), a process whose lineage tags must change."""
    in_flight = {str(entity["guid"]): key for key, entity in known.items()
                 if str(entity.get("guid", "")).startswith(IN_FLIGHT)}
    wanted = {in_flight[guid] for guid in plan.untag if guid in in_flight}
    wanted |= {key for key, desired in plan.process_tags.items()
               if str(known.get(key, {}).get("guid", "")).startswith(IN_FLIGHT)
               and own_tags_differ(known[key], desired, LINEAGE_TAG_TYPES)}
    return wanted


class KafkaLineageWriter:
    """Writes the plan of a batch of OpenLineage events to Atlas through its hook topic."""

    def __init__(self, registry: GovernanceRegistry, publisher: HookPublisher, *, apply_timeout: float = 60.0,
                 poll_interval: float = 0.5) -> None:
        self.registry = registry
        self.client = registry.client
        self.publisher = publisher
        self.apply_timeout = apply_timeout
        self.poll_interval = poll_interval
        # Published and not yet seen in Atlas: (type, qualifiedName) -> the tags it was published with.
        self._published: OrderedDict[EntityKey, list[Classification]] = OrderedDict()

    def _remember(self, key: EntityKey, tags: list[Classification]) -> None:
        self._published[key] = tags
        self._published.move_to_end(key)
        while len(self._published) > REMEMBERED:
            self._published.popitem(last=False)

    def _applied(self, existing: dict[EntityKey, dict[str, Any]]) -> None:
        """Forget what Atlas holds now: from here on its look-ups tell (an entity deleted later is made again)."""
        for key in existing:
            self._published.pop(key, None)

    def _await(self, keys: set[EntityKey]) -> dict[EntityKey, dict[str, Any]]:
        """The entities, once Atlas has applied them: one bulk look-up per type and poll, up to apply_timeout."""
        found: dict[EntityKey, dict[str, Any]] = {}
        deadline = time.monotonic() + self.apply_timeout
        while True:
            by_type: dict[str, list[str]] = {}
            for type_name, qn in sorted(keys - found.keys()):
                by_type.setdefault(type_name, []).append(qn)
            for type_name, qns in by_type.items():
                found |= {(type_name, qn): e for qn, e in self.client.find_entities(type_name, qns).items()}
            missing = sorted(qn for _, qn in keys - found.keys())
            if not missing:
                return found
            if time.monotonic() >= deadline:  # the batch stays queued and is sent again: an upsert, so harmless
                raise KafkaUnavailableError(
                    f"Atlas has not applied the hook notification for {', '.join(missing[:3])} within "
                    f"{self.apply_timeout:g} s (is its hook consumer running? `atlas-ml server status`)")
            time.sleep(self.poll_interval)

    def write(self, steps: list[EventStep], existing: dict[EntityKey, dict[str, Any]]) -> BatchPlan:
        """Plan the steps given what Atlas holds (`existing`, from the caller's bulk look-ups, under the names'
        write locks) and what is in flight; publish the plan (acknowledged by Kafka on return), then fix over
        REST the tags a hook message cannot change. Raises KafkaUnavailableError when Kafka does not take the
        message in time, or Atlas does not apply an entity a fix-up needs in time."""
        self._applied(existing)
        known = with_in_flight(steps, existing, self._published)
        plan = plan_batch(steps, known)
        waiting = awaited(plan, known)
        if waiting:
            applied = self._await(waiting)
            self._applied(applied)
            existing = {**existing, **applied}
            known = {**known, **applied}
            plan = plan_batch(steps, known)
        if plan.entities:
            # One key for all: one partition, so Atlas applies batches in the order they were ingested, as over
            # REST (an event refers to an earlier one's output by qualifiedName; applied before it, it fails).
            self.publisher.publish([(ORDER_KEY, create_request(message_entities(plan.entities)))])
        for entity in plan.entities:
            key = (str(entity["typeName"]), str(entity["attributes"][n.QUALIFIED_NAME]))
            # What Atlas will hold of our tags once applied: a new entity's own, a process's as fixed below.
            self._remember(key, plan.process_tags.get(key, entity.get("classifications") or []))
        for key, desired in plan.process_tags.items():
            if key in existing:  # read from Atlas with its tags: changed only where they differ
                entity = existing[key]
                self.registry.sync_known_tags(str(entity["guid"]), entity.get("classifications") or [],
                                              desired, LINEAGE_TAG_TYPES)
        for guid in plan.untag:  # in flight ones were awaited above, so these are real guids
            self.registry.drop_placeholder_tag(guid)
        return plan
