"""The OpenLineage 2-0-2 RunEvent schema and the standard facets our listener emits, as JSON Schemas.

No registry package ships the spec's JSON files (openlineage-python carries classes generated from them,
openlineage-java neither), so the constraints of https://openlineage.io/spec/2-0-2/OpenLineage.json
(RunEvent, BaseEvent, Run, Job, InputDataset/OutputDataset, BaseFacet) and of the facet specs we use are
written out here; `validate_event` also builds the event with openlineage-python's generated model, whose
validators check runId, eventTime and the URIs the same way the official client does. Our own facets
(atlasSpark, atlasMl) are checked against the schemas the jar ships.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path

import jsonschema

FACETS_DIR = Path(__file__).resolve().parents[2] / "spark_listener/src/main/resources/io/atlasml/spark/facets"

_BASE_FACET = {
    "type": "object",
    "properties": {"_producer": {"type": "string", "format": "uri"},
                   "_schemaURL": {"type": "string", "format": "uri"}},
    "required": ["_producer", "_schemaURL"],
    "additionalProperties": True,
}

RUN_EVENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "BaseFacet": _BASE_FACET,
        "Dataset": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
            },
            "required": ["namespace", "name"],
        },
        "InputDataset": {"allOf": [{"$ref": "#/$defs/Dataset"}, {"type": "object", "properties": {
            "inputFacets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}}}}]},
        "OutputDataset": {"allOf": [{"$ref": "#/$defs/Dataset"}, {"type": "object", "properties": {
            "outputFacets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}}}}]},
    },
    "type": "object",
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "eventType": {"type": "string", "enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "run": {
            "type": "object",
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
            },
            "required": ["runId"],
        },
        "job": {
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}},
            },
            "required": ["namespace", "name"],
        },
        "inputs": {"type": "array", "items": {"$ref": "#/$defs/InputDataset"}},
        "outputs": {"type": "array", "items": {"$ref": "#/$defs/OutputDataset"}},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}


def _facet(props: dict, required: list[str]) -> dict:
    return {"allOf": [_BASE_FACET, {"type": "object", "properties": props, "required": required}]}


_FIELD = {"type": "object", "properties": {"name": {"type": "string"}, "type": {"type": "string"},
                                           "description": {"type": "string"}}, "required": ["name"]}
STANDARD_FACETS = {
    # spec/facets/SchemaDatasetFacet.json 1-1-1
    "schema": _facet({"fields": {"type": "array", "items": _FIELD}}, []),
    # spec/facets/DatasourceDatasetFacet.json 1-0-1
    "dataSource": _facet({"name": {"type": "string"}, "uri": {"type": "string", "format": "uri"}}, []),
    # spec/facets/SymlinksDatasetFacet.json 1-0-1
    "symlinks": _facet({"identifiers": {"type": "array", "items": {
        "type": "object", "required": ["namespace", "name", "type"],
        "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "type": {"type": "string"}}}}},
        []),
    # spec/facets/StorageDatasetFacet.json 1-0-1
    "storage": _facet({"storageLayer": {"type": "string"}, "fileFormat": {"type": "string"}}, ["storageLayer"]),
    # spec/facets/ErrorMessageRunFacet.json 1-0-1
    "errorMessage": _facet({"message": {"type": "string"}, "programmingLanguage": {"type": "string"},
                            "stackTrace": {"type": "string"}}, ["message", "programmingLanguage"]),
    # spec/facets/ProcessingEngineRunFacet.json 1-1-1
    "processing_engine": _facet({"version": {"type": "string"}, "name": {"type": "string"},
                                 "openlineageAdapterVersion": {"type": "string"}}, ["version"]),
    # spec/facets/ParentRunFacet.json 1-1-0
    "parent": _facet({
        "run": {"type": "object", "properties": {"runId": {"type": "string", "format": "uuid"}}, "required": ["runId"]},
        "job": {"type": "object", "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}},
                "required": ["namespace", "name"]}}, ["run", "job"]),
    # spec/facets/JobTypeJobFacet.json 2-0-3
    "jobType": _facet({"processingType": {"type": "string"}, "integration": {"type": "string"},
                       "jobType": {"type": "string"}}, ["processingType", "integration"]),
}


def _custom_facets() -> dict:
    return {"atlasSpark": json.loads((FACETS_DIR / "AtlasSparkRunFacet.json").read_text()),
            "atlasMl": json.loads((FACETS_DIR / "AtlasMlRunFacet.json").read_text())}


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


@_FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        if "T" not in value:
            raise ValueError(f"no time in {value}")
    return True


def validate_event(event: dict) -> None:
    """Raises when the event is not a valid OpenLineage 2-0-2 RunEvent with valid facets."""
    jsonschema.Draft202012Validator(RUN_EVENT_SCHEMA, format_checker=_FORMATS).validate(event)
    facet_schemas = {**STANDARD_FACETS, **_custom_facets()}
    holders = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    holders += [d.get("facets", {}) for d in event.get("inputs", []) + event.get("outputs", [])]
    for facets in holders:
        for name, facet in facets.items():
            assert name in facet_schemas, f"facet {name} has no schema to check it against"
            jsonschema.Draft202012Validator(facet_schemas[name], format_checker=_FORMATS).validate(facet)
    _build_with_openlineage_client(event)


def _build_with_openlineage_client(event: dict) -> None:
    """openlineage-python's generated model (from the same spec) with its validators."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    RunEvent(
        eventType=RunState(event["eventType"]),
        eventTime=event["eventTime"],
        run=Run(runId=event["run"]["runId"]),
        job=Job(namespace=event["job"]["namespace"], name=event["job"]["name"]),
        producer=event["producer"],
        inputs=[InputDataset(namespace=d["namespace"], name=d["name"]) for d in event.get("inputs", [])],
        outputs=[OutputDataset(namespace=d["namespace"], name=d["name"]) for d in event.get("outputs", [])],
    )
