"""Domain models -> Atlas entity JSON for POST /v2/entity/bulk (which upserts by qualifiedName).

Every entity dict the plugin writes is built in mapping/ (here, openlineage.py and releases.py); type and
shared attribute names come from names.py, and a unit test checks each builder against typedefs/.
"""

from __future__ import annotations

from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.timestamps import date_to_millis, from_millis, to_millis
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    ModelSpec,
    Retraction,
    TrainingRunSpec,
)
from atlas_mlplugin.model.assets import NAMES_NORMALIZED

Entity = dict[str, Any]


def object_id(type_name: str, qualified_name: str) -> dict[str, Any]:
    """A reference Atlas resolves by unique attribute, so callers need no guids."""
    return {"typeName": type_name, "uniqueAttributes": {n.QUALIFIED_NAME: qualified_name}}


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    # Leaving unset attributes out (rather than sending null) keeps values set elsewhere, e.g. in the UI.
    return {k: v for k, v in attrs.items() if v is not None and v != [] and v != {}}


def _owned(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes the spec being written is the only source of, sent even when unset (as null).

    Atlas 2.1.0 stores an unset date as 0, which its UI shows as 1 January 1970. Our date attributes have
    defaultValue "" (which Atlas cannot read as a date), so a null now removes the value instead; sending it
    also repairs the 0s that entities created before carry. Only for facts the spec fully owns: a null
    erases whatever another writer put there.
    """
    return dict(attrs)


def license_entity(lic: DataLicense) -> Entity:
    return {
        "typeName": n.ML_DATA_LICENSE,
        "attributes": _clean({
            n.QUALIFIED_NAME: lic.qualified_name,
            n.NAME: lic.name,
            "spdxId": lic.spdx_id,
            "url": lic.url,
            "useCategory": lic.use_category,
            "attributionRequired": lic.attribution_required,
            "shareAlike": lic.share_alike,
            "derivativesAllowed": lic.derivatives_allowed,
            "licenseTextMustAccompany": lic.license_text_must_accompany,
            "modelTreatment": lic.model_treatment,
            "useRestrictions": lic.use_restrictions,
            "usePolicyUrl": lic.use_policy_url,
            "namingRequirement": lic.naming_requirement,
            "userThreshold": lic.user_threshold,
            "source": lic.source,
            "notes": lic.notes,
        }),
    }


def dataset_entity(ds: DatasetSpec, lic: DataLicense | None) -> Entity:
    retraction = ds.retraction
    entity: Entity = {
        "typeName": n.ML_DATASET,
        "attributes": _clean({
            n.QUALIFIED_NAME: ds.qualified_name,
            n.NAME: ds.name,
            n.DESCRIPTION: ds.description,
            "owner": ds.owner,
            "version": ds.version,
            "sha256": ds.sha256,
            "declaredLicense": lic.spdx_id if lic else "NOASSERTION",
            "creator": ds.creator,
            "url": ds.url,
            "citeAs": ds.cite_as,
            "datasetType": list(ds.dataset_types),
            "personalDataCategories": ds.personal_data_categories,
            "specialCategories": ds.special_categories,
            "hasSensitivePersonalInformation":
                "yes" if (ds.personal_data_categories or ds.special_categories) else None,
            "dataCollectionProcess": ds.data_collection_process,
            "intendedUse": ds.intended_use,
            "dataLimitations": ds.data_limitations,
        }) | _owned({
            # The same write drops a Retracted tag the spec no longer has (derived_tags), so the fields go too.
            "retractionStatus": retraction.status if retraction else None,
            "retractionReason": retraction.reason if retraction else None,
            "retractionDate": date_to_millis(retraction.date) if retraction else None,
            "retractionNoticeUrl": retraction.notice_url if retraction else None,
        }),
    }
    relations: dict[str, Any] = {}
    if lic is not None:
        relations[n.DATASET_LICENSES] = [object_id(n.ML_DATA_LICENSE, lic.qualified_name)]
    if ds.consent_records:
        relations[n.DATASET_CONSENT_RECORDS] = [object_id(n.ML_CONSENT_RECORD, qn) for qn in ds.consent_records]
    if relations:
        entity["relationshipAttributes"] = relations
    return entity


def consent_entity(rec: ConsentRecordSpec) -> Entity:
    return {
        "typeName": n.ML_CONSENT_RECORD,
        "attributes": _clean({
            n.QUALIFIED_NAME: rec.qualified_name,
            n.NAME: rec.name,
            "consentStatus": rec.status,
            "legalBasis": rec.legal_basis,
            "purposes": rec.purposes,
            "excludedPurposes": rec.excluded_purposes,
            "personalDataCategories": rec.personal_data_categories,
            "dataSubjectCategory": rec.data_subject_category,
            "noticeUrl": rec.notice_url,
        }) | _owned({
            "givenTime": to_millis(rec.given_time),
            "withdrawnTime": to_millis(rec.withdrawn_time),
            "expiryTime": to_millis(rec.expiry_time),
        }),
    }


MAX_LINEAGE_LABEL = 400  # the graph shows 17 characters on the node and the whole label on hover


def lineage_label(d: DerivationSpec) -> str | None:
    """What the lineage graph shows on an attested anonymisation (ml_derivation's displayTextAttribute): the
    node's 17 visible characters say that personal-data tags stop here, the hover text who attested it and
    how. None for any other step, which then shows its name."""
    if not (d.derivation_type == "anonymize" and d.attested):
        return None
    label = f"PII stops here: {d.name} (anonymisation attested: {' '.join((d.attestation or '').split())})"
    return label if len(label) <= MAX_LINEAGE_LABEL else label[:MAX_LINEAGE_LABEL - 4] + "...)"


def derivation_entity(d: DerivationSpec) -> Entity:
    return {
        "typeName": n.ML_DERIVATION,
        "attributes": _clean({
            n.QUALIFIED_NAME: d.qualified_name,
            n.NAME: d.name,
            n.DESCRIPTION: d.description,
            "derivationType": d.derivation_type,
            "attested": d.attested,
            n.ATTESTATION: d.attestation,
            n.INPUTS: [object_id(n.ML_DATASET, qn) for qn in d.inputs],
            n.OUTPUTS: [object_id(n.ML_DATASET, out.qualified_name) for out in d.outputs],
        }) | {n.LINEAGE_LABEL: lineage_label(d)},  # sent as null too: a step no longer attested loses its label
    }


def model_entity(model: ModelSpec, lic: DataLicense | None = None) -> Entity:
    """The model; with `lic` (its own license, ModelSpec.license resolved in the catalog) linked to it. A
    model whose spec names no license keeps whatever license Atlas holds for it."""
    entity: Entity = {
        "typeName": n.ML_MODEL,
        "attributes": _clean({
            n.QUALIFIED_NAME: model.qualified_name,
            n.NAME: model.name,
            n.DESCRIPTION: model.description,
            "owner": model.owner,
            "typeOfModel": model.type_of_model,
            "version": model.version,
            "sha256": model.sha256,
            "downloadLocation": model.download_location,
            "declaredLicense": lic.spdx_id if lic else None,
        }),
    }
    if lic is not None:
        entity["relationshipAttributes"] = {n.MODEL_LICENSES: [object_id(n.ML_DATA_LICENSE, lic.qualified_name)]}
    return entity


def training_run_entity(run: TrainingRunSpec, input_types: dict[str, str]) -> Entity:
    """input_types maps each input qualifiedName to its Atlas type (ml_dataset, or another DataSet)."""
    return {
        "typeName": n.ML_TRAINING_RUN,
        "attributes": _clean({
            n.QUALIFIED_NAME: run.qualified_name,
            n.NAME: run.name,
            "runId": run.run_id,
            "status": run.status,
            "codeRevision": run.code_revision,
            "processingPurpose": run.processing_purpose,
            "hyperparameters": run.hyperparameters,
            "framework": run.framework,
            "errorMessage": run.error_message,
            n.INPUTS: [object_id(input_types.get(qn, n.ML_DATASET), qn) for qn in run.inputs],
            n.OUTPUTS: [object_id(n.ML_MODEL, m.qualified_name) for m in run.outputs],
        }) | _owned({"startTime": to_millis(run.start_time), "endTime": to_millis(run.end_time)}),
    }


def dataset_stub_entity(type_name: str, qualified_name: str, name: str) -> Entity:
    """The least a DataSet needs to exist (e.g. a job's output nobody described): its names only."""
    return {"typeName": type_name, "attributes": {n.QUALIFIED_NAME: qualified_name, n.NAME: name}}


def placeholder_dataset_entity(qualified_name: str, name: str, reader: str) -> Entity:
    """A dataset nobody described that `reader` (a job, a training run) read: no known license."""
    return {"typeName": n.ML_DATASET, "attributes": {
        n.QUALIFIED_NAME: qualified_name, n.NAME: name, "declaredLicense": "NOASSERTION",
        n.DESCRIPTION: f"Not described yet: recorded because {reader} read it."}}


def placeholder_model_entity(qualified_name: str, name: str, reader: str) -> Entity:
    """A model nobody described that `reader` (a training run) started from, e.g. a base model: no known license."""
    return {"typeName": n.ML_MODEL, "attributes": {
        n.QUALIFIED_NAME: qualified_name, n.NAME: name,
        n.DESCRIPTION: f"Not described yet: recorded because {reader} read it."}}


def placeholder_input_entity(type_name: str, qualified_name: str, name: str, reader: str) -> Entity:
    """The placeholder for an input nobody registered: a model (a base model, a teacher) or a dataset."""
    if type_name == n.ML_MODEL:
        return placeholder_model_entity(qualified_name, name, reader)
    return placeholder_dataset_entity(qualified_name, name, reader)


def retraction_update_entity(qualified_name: str, name: str, retraction: Retraction) -> Entity:
    """A partial upsert of a dataset's retraction fields: bulk upsert leaves attributes it is not sent as
    they are (mandatory ones, like name, must still be present)."""
    attributes = dataset_entity(DatasetSpec(qualified_name=qualified_name, name=name, retraction=retraction),
                                None)["attributes"]
    return {"typeName": n.ML_DATASET, "attributes": {
        k: v for k, v in attributes.items() if k.startswith("retraction") or k in (n.QUALIFIED_NAME, n.NAME)}}


def blocked_propagation_relationship(relationship: dict[str, Any], blocked: list[dict[str, str]]) -> dict[str, Any]:
    """A lineage edge that stops the named (tag type, source entity) pairs: Atlas's per-edge
    blockedPropagatedClassifications (used for attested anonymizations)."""
    return {
        "guid": relationship["guid"],
        "typeName": relationship["typeName"],
        "propagateTags": relationship.get("propagateTags", "TWO_TO_ONE"),
        "blockedPropagatedClassifications": blocked,
    }


def link_within_batch(entities: list[Entity]) -> list[Entity]:
    """Give each entity a temporary guid and point references to entities of the same batch at it.

    Atlas resolves a `uniqueAttributes` reference only against entities that already exist, so a batch
    that creates a dataset together with its license (or a run with its model) must use the negative
    placeholder guids Atlas assigns real guids to (returned in `guidAssignments`).
    """
    placeholders: dict[tuple[str, str], str] = {}
    linked: list[Entity] = []
    for index, entity in enumerate(entities, start=1):
        entity = {**entity, "guid": entity.get("guid") or f"-{index}"}
        qualified_name = (entity.get("attributes") or {}).get(n.QUALIFIED_NAME)
        if qualified_name:
            placeholders[(entity["typeName"], qualified_name)] = entity["guid"]
        linked.append(entity)

    def relink(value: Any) -> Any:
        if isinstance(value, list):
            return [relink(v) for v in value]
        if isinstance(value, dict) and "uniqueAttributes" in value and "typeName" in value:
            key = (value["typeName"], value["uniqueAttributes"].get(n.QUALIFIED_NAME))
            if key in placeholders:
                return {"guid": placeholders[key], "typeName": value["typeName"]}
        return value

    for entity in linked:
        for section in ("attributes", "relationshipAttributes"):
            if section in entity:
                entity[section] = {k: relink(v) for k, v in entity[section].items()}
    return linked


def consent_from_entity(entity: Entity) -> ConsentRecordSpec:
    a = entity.get("attributes") or {}
    # Read back as stored: a purpose recorded before purposes were checked must not make the record unreadable.
    return ConsentRecordSpec.model_validate(dict(
        qualified_name=a[n.QUALIFIED_NAME], name=a.get(n.NAME) or a[n.QUALIFIED_NAME],
        status=a.get("consentStatus") or "given", legal_basis=a.get("legalBasis"),
        purposes=a.get("purposes") or [], excluded_purposes=a.get("excludedPurposes") or [],
        personal_data_categories=a.get("personalDataCategories") or [],
        data_subject_category=a.get("dataSubjectCategory"),
        given_time=from_millis(a.get("givenTime")), withdrawn_time=from_millis(a.get("withdrawnTime")),
        expiry_time=from_millis(a.get("expiryTime")), notice_url=a.get("noticeUrl"),
    ), context={NAMES_NORMALIZED: True})
