"""Every entity, relationship and tag the plugin writes is built in mapping/, and must use only the types and
attributes typedefs/ defines: Atlas would reject an unknown attribute (or, worse, an unknown relationship
attribute is silently dropped). Each builder is called with every optional fact set, and its output is
checked against the typedef files; a new builder without a sample here fails the coverage test."""

from __future__ import annotations

import inspect
import json
from datetime import date, datetime, timezone
from typing import Any

import pytest

from atlas_mlplugin.atlas.typedefs import default_typedefs_dir, load_documents
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities, names, openlineage, releases, tags
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    ModelSpec,
    Retraction,
    TrainingRunSpec,
)
from atlas_mlplugin.model.openlineage import RunEvent
from atlas_mlplugin.policy.model import CheckReport, Finding, ReleaseContext
from atlas_mlplugin.policy.writeback import decision_of


class Typedefs:
    """The entity, relationship and classification definitions of typedefs/, with inheritance resolved."""

    def __init__(self) -> None:
        docs, issues = load_documents(default_typedefs_dir())
        assert not issues, issues
        self.entities: dict[str, dict[str, Any]] = {}
        self.classifications: dict[str, set[str]] = {}
        self.relationship_ends: dict[str, set[str]] = {}  # entity type -> relationship attribute names
        for doc in docs:
            for e in doc.defs["entityDefs"]:
                self.entities[e["name"]] = e
            for c in doc.defs["classificationDefs"]:
                self.classifications[c["name"]] = {a["name"] for a in c.get("attributeDefs", [])}
            for r in doc.defs["relationshipDefs"]:
                for end in (r["endDef1"], r["endDef2"]):
                    self.relationship_ends.setdefault(end["type"], set()).add(end["name"])

    def lineage(self, type_name: str) -> list[str]:
        out, todo = [], [type_name]
        while todo:
            current = todo.pop()
            if current in out:
                continue
            out.append(current)
            todo += self.entities[current].get("superTypes", [])
        return out

    def attributes(self, type_name: str) -> set[str]:
        return {a["name"] for t in self.lineage(type_name) for a in self.entities[t].get("attributeDefs", [])}

    def relationship_attributes(self, type_name: str) -> set[str]:
        return {name for t in self.lineage(type_name) for name in self.relationship_ends.get(t, set())}

    def problems(self, payload: dict[str, Any], kind: str) -> list[str]:
        """What in one entity (kind 'entity'), tag ('tag') or relationship ('relationship') typedefs lack."""
        type_name = payload.get("typeName")
        if kind == "tag":
            if type_name not in self.classifications:
                return [f"unknown classification {type_name!r}"]
            return [f"{type_name} has no attribute {a!r}" for a in payload.get("attributes", {})
                    if a not in self.classifications[type_name]]
        if kind == "relationship":
            return [] if type_name in self.relationship_types() else [f"unknown relationship {type_name!r}"]
        if type_name not in self.entities:
            return [f"unknown entity type {type_name!r}"]
        problems = [f"{type_name} has no attribute {a!r}" for a in payload.get("attributes", {})
                    if a not in self.attributes(type_name)]
        relationships = self.relationship_attributes(type_name)
        problems += [f"{type_name} has no relationship attribute {a!r}"
                     for a in payload.get("relationshipAttributes", {}) if a not in relationships]
        for section in ("attributes", "relationshipAttributes"):
            for value in (payload.get(section) or {}).values():
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, dict) and "typeName" in ref and ref["typeName"] not in self.entities:
                        problems.append(f"{type_name} refers to unknown type {ref['typeName']!r}")
        return problems

    def relationship_types(self) -> set[str]:
        docs, _ = load_documents(default_typedefs_dir())
        return {r["name"] for doc in docs for r in doc.defs["relationshipDefs"]}


TYPEDEFS = Typedefs()
LLAMA = LicenseCatalog.from_csv().get("LicenseRef-llama-3.1-community")  # every model-license term set
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
LICENSE = DataLicense(spdx_id="CC-BY-NC-SA-4.0", name="CC BY-NC-SA 4.0", url="https://x", use_category="nonCommercial",
                      attribution_required=True, share_alike=True, derivatives_allowed="privateOnly",
                      license_text_must_accompany=True, model_treatment="derivative", use_restrictions=["no-x"],
                      notes="n")
DATASET = DatasetSpec(qualified_name="s3://lab/faces/v1", name="faces", description="d", owner="o", version="1",
                      sha256="0" * 64, license="CC-BY-NC-SA-4.0", creator="c", url="https://u", cite_as="cite",
                      dataset_types=["image"], personal_data_categories=["face"], special_categories=["health"],
                      data_collection_process="p", intended_use="research", research_only=True,
                      data_limitations="l", consent_records=["consent:a"],
                      retraction=Retraction(reason="r", date=date(2026, 1, 2), notice_url="https://n"))
CONSENT = ConsentRecordSpec(qualified_name="consent:a", name="a", status="withdrawn", legal_basis="consent",
                            purposes=["research"], excluded_purposes=["marketing"], personal_data_categories=["face"],
                            data_subject_category="customer", given_time=WHEN, withdrawn_time=WHEN, expiry_time=WHEN,
                            notice_url="https://n")
MODEL = ModelSpec(qualified_name="models/m/1", name="m", description="d", owner="o", type_of_model="cnn", version="1",
                  sha256="0" * 64, download_location="s3://models/m/1")
RUN = TrainingRunSpec(run_id="r1", name="train", inputs=["s3://lab/faces/v1"], outputs=[MODEL], status="FAILED",
                      start_time=WHEN, end_time=WHEN, code_revision="abc", processing_purpose="model-training",
                      hyperparameters={"lr": "0.1"}, framework="torch", error_message="boom",
                      unresolved_inputs=["LogicalRDD: x"])
DERIVATION = DerivationSpec(qualified_name="derive:x", name="x", derivation_type="anonymize",
                            inputs=["s3://lab/faces/v1"], outputs=[DATASET], attested=True, attestation="DPO",
                            description="d")


def ol_event(ml: bool) -> RunEvent:
    facets: dict[str, Any] = {"atlasSpark": {"applicationId": "a", "applicationName": "n", "executionId": 3,
                                             "user": "u", "saveMode": "Overwrite"},
                              "errorMessage": {"message": "failed: password=hunter2"}}
    if ml:
        facets["atlasMl"] = {"framework": "spark-ml", "params": {"maxIter": 3}}
    return RunEvent.model_validate({"eventType": "FAIL", "eventTime": WHEN.isoformat(), "run": {"runId": "r",
                                    "facets": facets}, "job": {"namespace": "spark", "name": "job"}})


DECISION = decision_of(CheckReport(
    verdict="BLOCK", model="models/m/1", model_guid="g", context=ReleaseContext(audience="public"),
    findings=[Finding(rule_id="r", severity="BLOCK", tag="NonCommercial", message="m", remedy="r",
                      source_qualified_name="d", source_guid="gd", path=("d", "models/m/1"))], policy="default",
    checked_at=WHEN), "m")

# builder name -> (kind, what it builds)
SAMPLES: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "entities.license_entity": ("entity", [entities.license_entity(LICENSE)]),
    "entities.dataset_entity": ("entity", [entities.dataset_entity(DATASET, LICENSE)]),
    "entities.consent_entity": ("entity", [entities.consent_entity(CONSENT)]),
    "entities.derivation_entity": ("entity", [entities.derivation_entity(DERIVATION)]),
    "entities.model_entity": ("entity", [entities.model_entity(MODEL), entities.model_entity(MODEL, LLAMA)]),
    "entities.training_run_entity": ("entity", [entities.training_run_entity(RUN, {})]),
    "entities.dataset_stub_entity": ("entity", [entities.dataset_stub_entity(names.ML_MODEL, "m", "m"),
                                                entities.dataset_stub_entity(names.ML_DATASET, "d", "d")]),
    "entities.placeholder_dataset_entity": ("entity", [entities.placeholder_dataset_entity("d", "d", "job j")]),
    "entities.placeholder_model_entity": ("entity", [entities.placeholder_model_entity("m", "m", "run r")]),
    "entities.placeholder_input_entity": ("entity", [entities.placeholder_input_entity("ml_model", "m", "m", "run r")]),
    "entities.retraction_update_entity": ("entity", [entities.retraction_update_entity("d", "d",
                                                                                       DATASET.retraction)]),
    "entities.blocked_propagation_relationship": ("relationship", [entities.blocked_propagation_relationship(
        {"guid": "g", "typeName": "dataset_process_inputs"}, [{"typeName": "PersonalData", "entityGuid": "e"}])]),
    "openlineage.process_entity": ("entity", [openlineage.process_entity(ol_event(ml), ["file:///in"], ["file:///out"])
                                              for ml in (False, True)]),
    "releases.verdict_entities": ("entity", releases.verdict_entities(DECISION)),
    "releases.verdict_tag": ("tag", [releases.verdict_tag(DECISION)]),
    "tags.license_tags": ("tag", tags.license_tags(DATASET, LICENSE) + tags.license_tags(DATASET, None)),
    "tags.model_license_tags": ("tag", tags.model_license_tags(MODEL.model_copy(update={"license": LLAMA.spdx_id}),
                                                               LLAMA)),
    "tags.personal_data_tags": ("tag", tags.personal_data_tags(DATASET)),
    "tags.consent_tags": ("tag", tags.consent_tags("d", [CONSENT, CONSENT.model_copy(update={"status": "given"})])),
    "tags.retraction_tags": ("tag", tags.retraction_tags("d", DATASET.retraction)),
    "tags.derived_tags": ("tag", tags.derived_tags(DATASET, LICENSE, [CONSENT])),
    "tags.placeholder_tags": ("tag", tags.placeholder_tags("d")),
    "tags.anonymisation_tags": ("tag", tags.anonymisation_tags("derive:x", "DPO, 2026-11-02", ["d"],
                                                               ["PersonalData"])),
    "tags.incomplete_lineage_tags": ("tag", tags.incomplete_lineage_tags("ml-run:r", [], ["LogicalRDD: x"])),
}


def builders() -> set[str]:
    """The public functions of mapping/ that return Atlas payloads (entities, tags, relationships)."""
    found = set()
    for module in (entities, openlineage, releases, tags):
        short = module.__name__.rsplit(".", 1)[-1]
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") and "_from_" not in name \
                    and name.endswith(("_entity", "_entities", "_tags", "_tag", "_relationship")):
                found.add(f"{short}.{name}")
    return found


def test_every_builder_has_a_sample() -> None:
    assert builders() == set(SAMPLES)


@pytest.mark.parametrize("builder", sorted(SAMPLES))
def test_builder_writes_only_what_typedefs_define(builder: str) -> None:
    kind, payloads = SAMPLES[builder]
    assert payloads, f"{builder}: the sample builds nothing; give it facts that make it build something"
    problems = [p for payload in payloads for p in TYPEDEFS.problems(payload, kind)]
    assert problems == []


def test_the_check_catches_an_attribute_typedefs_lack() -> None:
    # The check itself must be able to fail.
    assert TYPEDEFS.problems({"typeName": "ml_dataset", "attributes": {"licence": "x"}}, "entity") == [
        "ml_dataset has no attribute 'licence'"]
    assert TYPEDEFS.problems({"typeName": "ml_dataset", "relationshipAttributes": {"license": []}}, "entity") == [
        "ml_dataset has no relationship attribute 'license'"]
    assert TYPEDEFS.problems({"typeName": "Retracted", "attributes": {"why": "x"}}, "tag") == [
        "Retracted has no attribute 'why'"]


def test_names_exist_in_typedefs() -> None:
    constants = {k: v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    types = {k: v for k, v in constants.items() if k.startswith("ML_")}
    assert set(types.values()) <= set(TYPEDEFS.entities)
    tag_names = {"NON_COMMERCIAL", "SHARE_ALIKE", "ATTRIBUTION_REQUIRED", "NO_DERIVATIVES", "RESEARCH_ONLY",
                 "UNKNOWN_LICENSE", "LICENSE_TEXT_REQUIRED", "PERSONAL_DATA", "SPECIAL_CATEGORY_DATA",
                 "CONSENT_SCOPE", "CONSENT_WITHDRAWN", "RETRACTED", "INCOMPLETE_LINEAGE", "RELEASE_VERDICT",
                 "RISK_ACCEPTED", "ANONYMISATION_ATTESTED", "USE_RESTRICTIONS", "NAMING_REQUIREMENT",
                 "USER_THRESHOLD"}
    assert {constants[k] for k in tag_names} == set(TYPEDEFS.classifications)
    assert {names.QUALIFIED_NAME, names.NAME, names.DESCRIPTION} <= TYPEDEFS.attributes("ml_dataset")
    relationship_names = {names.INPUTS, names.OUTPUTS, names.OUTPUT_FROM_PROCESSES, names.DATASET_LICENSES,
                          names.DATASET_CONSENT_RECORDS, names.COVERED_DATASETS, names.MODEL_RELEASES,
                          names.RELEASE_MODEL, names.RELEASE_FINDINGS, names.FINDING_RELEASE, names.FINDING_SOURCE,
                          names.SOURCE_FINDINGS, names.MODEL_LICENSES}
    all_ends = set().union(*TYPEDEFS.relationship_ends.values())
    assert relationship_names <= all_ends
    for tag_attribute in (names.LICENSE_ID, names.SOURCE_DATASET):
        assert tag_attribute in TYPEDEFS.classifications[names.NON_COMMERCIAL]


def test_sample_entities_are_json() -> None:
    # What goes to Atlas must serialise as is (no dates, paths or sets left in a payload).
    for _, payloads in SAMPLES.values():
        json.dumps(payloads)
