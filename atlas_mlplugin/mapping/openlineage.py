"""OpenLineage RunEvents -> Atlas entities: one mapping for our Spark listener, openlineage-spark, Airflow ...

A terminal event becomes one Process between its datasets: an `ml_training_run` when it carries our
`atlasMl` run facet (a Spark ML fit), else an `ml_spark_process`; its outputs are `ml_model`s or
`ml_dataset`s. Dataset names come from naming.py (OLDataset.qualified_name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, object_id
from atlas_mlplugin.model.openlineage import ML_FACET, RunEvent, is_training
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
