"""OpenLineage RunEvents -> Atlas entities: one mapping for our Spark listener, openlineage-spark, Airflow ...

A terminal event becomes one Process between its datasets: an `ml_training_run` when it carries our
`atlasMl` run facet (a Spark ML fit), else an `ml_spark_process`; its outputs are `ml_model`s or
`ml_dataset`s. Dataset names come from naming.py (OLDataset.qualified_name).

An input whose name is the qualifiedName of an ml_model (in Atlas, or written by an earlier event of the batch)
is that model: a fine-tune that reads the saved base model from s3://bucket/models/base is a model -> run edge, so
the base model's tags reach what the job makes. The name decides, as for datasets: producers name a model read
from storage exactly as the save that recorded it did (naming.py), and no standard facet marks a model input.

A batch of events becomes one plan (`plan_batch`): the entities to upsert and the tag changes an upsert cannot
make. Both transports write that one plan (openlineage/ingest.py over REST, transport/lineage.py as hook
notifications), so they derive the same entities from the same events by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, dataset_stub_entity, object_id, placeholder_dataset_entity
from atlas_mlplugin.mapping.tags import UNREGISTERED, Classification, incomplete_lineage_tags, placeholder_tags
from atlas_mlplugin.model.openlineage import ML_FACET, RunEvent, is_training
from atlas_mlplugin.naming import display_name
from atlas_mlplugin.scrubbing import scrub_text, scrub_uri

SPARK_FACET = "atlasSpark"
MAX_ERROR = 2000
_STATUS = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}


def output_type(event: RunEvent) -> str:
    """What the event's outputs are: models for a training run, datasets otherwise."""
    return n.ML_MODEL if is_training(event) else n.ML_DATASET


def unresolved_inputs(event: RunEvent) -> list[str]:
    """What the producer read and could not name ("Kind: why"), from our listener's atlasSpark facet."""
    found = (event.run.facets.get(SPARK_FACET) or {}).get("unresolvedInputs") or []
    return sorted({scrub_text(str(u)) for u in found}) if isinstance(found, list) else []


def _millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _present(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v not in (None, {}, [])}


def process_entity(event: RunEvent, inputs: list[str], outputs: list[str]) -> Entity:
    """The job as an Atlas Process: one entity per step (not per run), as Atlas's own hooks do, so the
    lineage graph shows the ETL step once however often it runs; the last run's facts are kept on it.

    A write step is identified by what it writes, not by the producer's job name: producers name jobs
    differently (ours, openlineage-spark), and the same write reported by both must be one process."""
    facets = event.run.facets
    spark = facets.get("spark_properties", {}).get("properties", {}) | facets.get(SPARK_FACET, {})
    status = _STATUS.get(event.eventType, "RUNNING")
    when = "endTime" if status != "RUNNING" else "startTime"
    input_refs = [object_id(n.ML_DATASET, qn) for qn in inputs]
    output_refs = [object_id(output_type(event), qn) for qn in outputs]
    qualified_name = f"{scrub_uri(event.job.namespace)}:{event.job.name}"
    if is_training(event):
        ml = facets[ML_FACET]
        return {"typeName": n.ML_TRAINING_RUN, "attributes": _present({
            n.QUALIFIED_NAME: qualified_name, n.NAME: event.job.name, "runId": event.run.runId, "status": status,
            "framework": ml.get("framework", "spark-ml"),
            "hyperparameters": {str(k): str(v) for k, v in (ml.get("params") or {}).items()},
            n.INPUTS: input_refs, n.OUTPUTS: output_refs, when: _millis(event.eventTime),
        })}
    error = facets.get("errorMessage", {}).get("message")
    if outputs:
        qualified_name = "spark-write:" + ",".join(sorted(outputs))
    return {"typeName": n.ML_SPARK_PROCESS, "attributes": _present({
        n.QUALIFIED_NAME: qualified_name, n.NAME: event.job.name, "status": status,
        "applicationId": spark.get("spark.app.id") or spark.get("applicationId"),
        "applicationName": spark.get("spark.app.name") or spark.get("applicationName"),
        "executionId": str(spark["executionId"]) if "executionId" in spark else None,
        "user": spark.get("user"), "saveMode": spark.get("saveMode"),
        n.DESCRIPTION: scrub_text(str(error))[:MAX_ERROR] if error else None,
        n.INPUTS: input_refs, n.OUTPUTS: output_refs, when: _millis(event.eventTime),
    })}


# (type, qualifiedName) of an entity; what a batch's look-ups and its plan are keyed by.
EntityKey = tuple[str, str]


@dataclass(frozen=True)
class EventStep:
    """What one event writes: its inputs (ml_dataset), its outputs (of `kind`), its process and the
    process's lineage tags."""

    reader: str
    inputs: list[str]
    kind: str
    outputs: list[str]
    process: dict[str, Any]
    tags: list[Classification]

    @property
    def process_key(self) -> EntityKey:
        return (str(self.process["typeName"]), str(self.process["attributes"][n.QUALIFIED_NAME]))

    def lookups(self) -> list[EntityKey]:
        """(type, qualifiedName) of everything the event looks up; an input may be a dataset or a model."""
        return ([(n.ML_DATASET, qn) for qn in self.inputs] + [(n.ML_MODEL, qn) for qn in self.inputs]
                + [(self.kind, qn) for qn in self.outputs] + [self.process_key])


def event_step(event: RunEvent) -> EventStep:
    inputs = list(dict.fromkeys(d.qualified_name for d in event.inputs))
    outputs = list(dict.fromkeys(d.qualified_name for d in event.outputs))
    process = process_entity(event, inputs, outputs)
    # Inputs the producer could not name (our listener says which) leave the lineage incomplete.
    tags = incomplete_lineage_tags(process["attributes"][n.QUALIFIED_NAME], inputs, unresolved_inputs(event),
                                   inputs_required=is_training(event))
    return EventStep(f"job {event.job.name}", inputs, output_type(event), outputs, process, tags)


@dataclass
class BatchPlan:
    entities: list[dict[str, Any]]  # to upsert in one request: datasets first, then processes
    process_tags: dict[EntityKey, list[Classification]]  # each process's lineage tags, last event's
    untag: list[str]  # guids of existing placeholders that turned out to be outputs: their UnknownLicense goes
    unregistered: list[str]  # inputs nobody registered, recorded as placeholders


def is_placeholder(entity: dict[str, Any]) -> bool:
    """Whether the entity carries its own UnknownLicense(UNREGISTERED): a placeholder made for a read."""
    guid = entity.get("guid")
    return any(c.get("typeName") == n.UNKNOWN_LICENSE and c.get("entityGuid", guid) == guid
               and (c.get("attributes") or {}).get(n.LICENSE_ID) == UNREGISTERED
               for c in entity.get("classifications") or [])


def own_tags_differ(entity: dict[str, Any], desired: list[Classification], managed: frozenset[str]) -> bool:
    """Whether the entity's own tags of the `managed` types differ from `desired` (type and attributes): when
    they do not, GovernanceRegistry.sync_known_tags makes no call."""
    guid = entity.get("guid")
    current = {c["typeName"]: c.get("attributes") or {} for c in entity.get("classifications") or []
               if c["typeName"] in managed and c.get("entityGuid", guid) == guid}
    return current != {c["typeName"]: c.get("attributes") or {} for c in desired if c["typeName"] in managed}


def plan_batch(steps: list[EventStep], existing: dict[EntityKey, dict[str, Any]]) -> BatchPlan:
    """The writes that leave Atlas as applying `steps` one by one would, given what Atlas held before
    (`existing`, by (type, qualifiedName), with classifications). Pure: no Atlas here.

    One by one, an input nobody registered became a placeholder with UnknownLicense(UNREGISTERED); an output
    nobody described a stub; an output that existed by then (in Atlas, or made by an earlier event) lost
    that placeholder tag; and a process seen twice kept the attributes of both, the later winning."""
    datasets: dict[EntityKey, dict[str, Any]] = {}  # made in this batch, in order
    tagged: set[EntityKey] = set()  # placeholders made here that keep their UnknownLicense
    untag: dict[str, None] = {}
    processes: dict[EntityKey, dict[str, Any]] = {}
    process_tags: dict[EntityKey, list[Classification]] = {}
    unregistered: list[str] = []
    for step in steps:
        models: set[str] = set()  # inputs that are models: the process reads them as such
        for qn in step.inputs:
            key = (n.ML_DATASET, qn)
            if key not in existing and ((n.ML_MODEL, qn) in existing or (n.ML_MODEL, qn) in datasets):
                models.add(qn)
                continue
            if key not in existing and key not in datasets:
                datasets[key] = placeholder_dataset_entity(qn, display_name(qn), step.reader)
                tagged.add(key)
                unregistered.append(qn)
        for qn in step.outputs:
            key = (step.kind, qn)
            if key in datasets:
                tagged.discard(key)  # read first, then written: what it was made from now tells
            elif key in existing:
                if is_placeholder(existing[key]):
                    untag[str(existing[key]["guid"])] = None
            else:
                datasets[key] = dataset_stub_entity(step.kind, qn, display_name(qn))
        key = step.process_key
        before = processes.get(key, {"typeName": key[0], "attributes": {}})
        attributes = dict(step.process["attributes"])
        if models:
            attributes[n.INPUTS] = [object_id(n.ML_MODEL if qn in models else n.ML_DATASET, qn) for qn in step.inputs]
        processes[key] = {"typeName": key[0], "attributes": {**before["attributes"], **attributes}}
        process_tags[key] = step.tags
    entities = []
    for key, entity in datasets.items():
        if key in tagged:
            entity = {**entity, "classifications": placeholder_tags(key[1])}
        entities.append(entity)
    for key, entity in processes.items():
        if key not in existing and process_tags[key]:
            # A new entity takes its classifications with it (Atlas 2.1.0 applies them on create only).
            entity = {**entity, "classifications": process_tags[key]}
        entities.append(entity)
    # Tags of new processes went with them; only existing ones are compared after the write.
    return BatchPlan(entities, process_tags, list(untag), unregistered)


def unregistered_summary(events: int, unregistered: list[str]) -> str:
    """The one line a batch logs about the inputs it recorded as placeholders (whichever transport wrote it)."""
    shown = ", ".join(unregistered[:3]) + (", ..." if len(unregistered) > 3 else "")
    return (f"{events} event(s) read {len(unregistered)} dataset(s) nobody registered, recorded with no known "
            f"license (UnknownLicense): {shown}")
