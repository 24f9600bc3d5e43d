"""Domain models -> Atlas entity JSON for POST /v2/entity/bulk (which upserts by qualifiedName)."""

from __future__ import annotations

from typing import Any

from atlas_mlplugin.mapping.timestamps import date_to_millis, from_millis, to_millis
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    ModelSpec,
    TrainingRunSpec,
)

Entity = dict[str, Any]


def object_id(type_name: str, qualified_name: str) -> dict[str, Any]:
    """A reference Atlas resolves by unique attribute, so callers need no guids."""
    return {"typeName": type_name, "uniqueAttributes": {"qualifiedName": qualified_name}}


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    # Leaving unset attributes out (rather than sending null) keeps values set elsewhere, e.g. in the UI.
    return {k: v for k, v in attrs.items() if v is not None and v != [] and v != {}}


def license_entity(lic: DataLicense) -> Entity:
    return {
        "typeName": "ml_data_license",
        "attributes": _clean({
            "qualifiedName": lic.qualified_name,
            "name": lic.name,
            "spdxId": lic.spdx_id,
            "url": lic.url,
            "useCategory": lic.use_category,
            "attributionRequired": lic.attribution_required,
            "shareAlike": lic.share_alike,
            "derivativesAllowed": lic.derivatives_allowed,
            "licenseTextMustAccompany": lic.license_text_must_accompany,
            "modelTreatment": lic.model_treatment,
            "useRestrictions": lic.use_restrictions,
            "notes": lic.notes,
        }),
    }


def dataset_entity(ds: DatasetSpec, lic: DataLicense | None) -> Entity:
    retraction = ds.retraction
    entity: Entity = {
        "typeName": "ml_dataset",
        "attributes": _clean({
            "qualifiedName": ds.qualified_name,
            "name": ds.name,
            "description": ds.description,
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
            "retractionStatus": retraction.status if retraction else None,
            "retractionReason": retraction.reason if retraction else None,
            "retractionDate": date_to_millis(retraction.date) if retraction else None,
            "retractionNoticeUrl": retraction.notice_url if retraction else None,
        }),
    }
    relations: dict[str, Any] = {}
    if lic is not None:
        relations["licenses"] = [object_id("ml_data_license", lic.qualified_name)]
    if ds.consent_records:
        relations["consentRecords"] = [object_id("ml_consent_record", qn) for qn in ds.consent_records]
    if relations:
        entity["relationshipAttributes"] = relations
    return entity


def consent_entity(rec: ConsentRecordSpec) -> Entity:
    return {
        "typeName": "ml_consent_record",
        "attributes": _clean({
            "qualifiedName": rec.qualified_name,
            "name": rec.name,
            "consentStatus": rec.status,
            "legalBasis": rec.legal_basis,
            "purposes": rec.purposes,
            "excludedPurposes": rec.excluded_purposes,
            "personalDataCategories": rec.personal_data_categories,
            "dataSubjectCategory": rec.data_subject_category,
            "givenTime": to_millis(rec.given_time),
            "withdrawnTime": to_millis(rec.withdrawn_time),
            "expiryTime": to_millis(rec.expiry_time),
            "noticeUrl": rec.notice_url,
        }),
    }


def derivation_entity(d: DerivationSpec) -> Entity:
    return {
        "typeName": "ml_derivation",
        "attributes": _clean({
            "qualifiedName": d.qualified_name,
            "name": d.name,
            "description": d.description,
            "derivationType": d.derivation_type,
            "attested": d.attested,
            "attestation": d.attestation,
            "inputs": [object_id("ml_dataset", qn) for qn in d.inputs],
            "outputs": [object_id("ml_dataset", out.qualified_name) for out in d.outputs],
        }),
    }


def model_entity(model: ModelSpec) -> Entity:
    return {
        "typeName": "ml_model",
        "attributes": _clean({
            "qualifiedName": model.qualified_name,
            "name": model.name,
            "description": model.description,
            "owner": model.owner,
            "typeOfModel": model.type_of_model,
            "version": model.version,
            "sha256": model.sha256,
            "downloadLocation": model.download_location,
        }),
    }


def training_run_entity(run: TrainingRunSpec, input_types: dict[str, str]) -> Entity:
    """input_types maps each input qualifiedName to its Atlas type (ml_dataset, or another DataSet)."""
    return {
        "typeName": "ml_training_run",
        "attributes": _clean({
            "qualifiedName": run.qualified_name,
            "name": run.name,
            "runId": run.run_id,
            "status": run.status,
            "startTime": to_millis(run.start_time),
            "endTime": to_millis(run.end_time),
            "codeRevision": run.code_revision,
            "processingPurpose": run.processing_purpose,
            "hyperparameters": run.hyperparameters,
            "framework": run.framework,
            "errorMessage": run.error_message,
            "inputs": [object_id(input_types.get(qn, "ml_dataset"), qn) for qn in run.inputs],
            "outputs": [object_id("ml_model", m.qualified_name) for m in run.outputs],
        }),
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
        qualified_name = (entity.get("attributes") or {}).get("qualifiedName")
        if qualified_name:
            placeholders[(entity["typeName"], qualified_name)] = entity["guid"]
        linked.append(entity)

    def relink(value: Any) -> Any:
        if isinstance(value, list):
            return [relink(v) for v in value]
        if isinstance(value, dict) and "uniqueAttributes" in value and "typeName" in value:
            key = (value["typeName"], value["uniqueAttributes"].get("qualifiedName"))
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
    return ConsentRecordSpec(
        qualified_name=a["qualifiedName"], name=a.get("name") or a["qualifiedName"],
        status=a.get("consentStatus") or "given", legal_basis=a.get("legalBasis"),
        purposes=a.get("purposes") or [], excluded_purposes=a.get("excludedPurposes") or [],
        personal_data_categories=a.get("personalDataCategories") or [],
        data_subject_category=a.get("dataSubjectCategory"),
        given_time=from_millis(a.get("givenTime")), withdrawn_time=from_millis(a.get("withdrawnTime")),
        expiry_time=from_millis(a.get("expiryTime")), notice_url=a.get("noticeUrl"),
    )
