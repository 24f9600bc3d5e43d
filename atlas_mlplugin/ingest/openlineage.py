"""OpenLineage RunEvents -> Atlas entities: one mapping for our Spark listener, openlineage-spark, Airflow...

Datasets are named the OpenLineage way (namespace + name) and turned into the qualifiedNames users give
`ml_dataset`s, so a path registered as an ml_dataset *is* the dataset a Spark job reads:
  file + /data/x.csv            -> file:///data/x.csv
  s3://bucket + /raw/x.parquet  -> s3://bucket/raw/x.parquet
  jdbc:postgresql://db:5432/app + public.users -> jdbc:postgresql://db:5432/app/public.users
Credentials are scrubbed again here (a third-party producer may not), before anything reaches Atlas.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/@\s]+@")
_SECRET_PARAM = re.compile(r"(?i)([?;&]\s*(?:user|username|password|pwd|secret|token|access_?key|secret_?key|"
                           r"sig|signature|credential)[\w.-]*\s*=)[^;&]*")


def scrub(text: str) -> str:
    """Drop userinfo and credential-looking parameters from a URI or JDBC URL."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\g<scheme>", text))


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class OLDataset(_Lenient):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] = Field(default_factory=dict)
    outputFacets: dict[str, Any] = Field(default_factory=dict)  # noqa: N815 - OpenLineage field name


class OLJob(_Lenient):
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    facets: dict[str, Any] = Field(default_factory=dict)


class OLRun(_Lenient):
    runId: str = Field(min_length=1)  # noqa: N815
    facets: dict[str, Any] = Field(default_factory=dict)


class RunEvent(_Lenient):
    """The part of an OpenLineage RunEvent the mapping reads; other fields are kept but ignored."""

    eventType: EventType = "OTHER"  # noqa: N815
    eventTime: datetime  # noqa: N815
    producer: str = ""
    run: OLRun
    job: OLJob
    inputs: list[OLDataset] = Field(default_factory=list)
    outputs: list[OLDataset] = Field(default_factory=list)


def dataset_qualified_name(namespace: str, name: str) -> str:
    namespace, name = scrub(namespace.rstrip("/")), name
    if namespace == "file":
        return "file://" + (name if name.startswith("/") else "/" + name)
    if "://" in namespace or namespace.startswith("jdbc:"):
        return f"{namespace}{name}" if name.startswith("/") else f"{namespace}/{name}"
    return f"{namespace}:{name}"  # a logical namespace, e.g. a catalog or a service name


def _millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


ML_FACET = "atlasMl"


def is_training(event: RunEvent) -> bool:
    return ML_FACET in event.run.facets


def process_entity(event: RunEvent, input_refs: list[dict[str, Any]], output_refs: list[dict[str, Any]]
                   ) -> dict[str, Any]:
    """The job as an Atlas Process: one entity per step (not per run), as Atlas's own hooks do, so the
    lineage graph shows the ETL step once however often it runs; the last run's facts are kept on it.

    A write step is identified by what it writes, not by the producer's job name: producers name jobs
    differently (ours, openlineage-spark), and the same write reported by both must be one process."""
    facets = event.run.facets
    spark = facets.get("spark_properties", {}).get("properties", {}) | facets.get("atlasSpark", {})
    status = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}.get(event.eventType, "RUNNING")
    qualified_name = f"{scrub(event.job.namespace)}:{event.job.name}"
    if is_training(event):
        ml = facets[ML_FACET]
        return {"typeName": "ml_training_run", "attributes": {k: v for k, v in {
            "qualifiedName": qualified_name, "name": event.job.name, "runId": event.run.runId, "status": status,
            "framework": ml.get("framework", "spark-ml"),
            "hyperparameters": {str(k): str(v) for k, v in (ml.get("params") or {}).items()},
            "inputs": input_refs, "outputs": output_refs,
            "endTime" if status != "RUNNING" else "startTime": _millis(event.eventTime),
        }.items() if v not in (None, {}, [])}}
    error = facets.get("errorMessage", {}).get("message")
    outputs = sorted(ref["uniqueAttributes"]["qualifiedName"] for ref in output_refs)
    if outputs:
        qualified_name = "spark-write:" + ",".join(outputs)
    return {"typeName": "ml_spark_process", "attributes": {k: v for k, v in {
        "qualifiedName": qualified_name, "name": event.job.name, "status": status,
        "applicationId": spark.get("spark.app.id") or spark.get("applicationId"),
        "applicationName": spark.get("spark.app.name") or spark.get("applicationName"),
        "executionId": str(spark["executionId"]) if "executionId" in spark else None,
        "user": spark.get("user"), "saveMode": spark.get("saveMode"),
        "description": scrub(error)[:2000] if error else None,
        "inputs": input_refs, "outputs": output_refs,
        "endTime" if status != "RUNNING" else "startTime": _millis(event.eventTime),
    }.items() if v not in (None, {}, [])}}


def dataset_name(qualified_name: str) -> str:
    return qualified_name.rstrip("/").rsplit("/", 1)[-1] or qualified_name
