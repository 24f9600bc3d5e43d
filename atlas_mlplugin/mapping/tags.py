"""The classifications a dataset's facts imply. People state facts (license, personal data); the tags
follow from them, so nobody maintains both and a changed fact replaces its stale tags."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.timestamps import date_to_millis, to_millis
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, ModelSpec, Retraction
from atlas_mlplugin.purposes import common_purposes

Classification = dict[str, Any]

# The classification types derived from each kind of fact. Changing one kind of fact (a retraction, a
# withdrawn consent) re-derives only its own tags; other tags, including manual ones, are left alone.
LICENSE_TAG_TYPES = frozenset({n.NON_COMMERCIAL, n.SHARE_ALIKE, n.ATTRIBUTION_REQUIRED, n.NO_DERIVATIVES,
                               n.RESEARCH_ONLY, n.UNKNOWN_LICENSE, n.LICENSE_TEXT_REQUIRED, n.USE_RESTRICTIONS,
                               n.NAMING_REQUIREMENT, n.USER_THRESHOLD})
PERSONAL_DATA_TAG_TYPES = frozenset({n.PERSONAL_DATA, n.SPECIAL_CATEGORY_DATA})
CONSENT_TAG_TYPES = frozenset({n.CONSENT_SCOPE, n.CONSENT_WITHDRAWN})
RETRACTION_TAG_TYPES = frozenset({n.RETRACTED})
DERIVED_TAG_TYPES = LICENSE_TAG_TYPES | PERSONAL_DATA_TAG_TYPES | CONSENT_TAG_TYPES | RETRACTION_TAG_TYPES
# Derived on processes (training runs, Spark jobs) from what the capture could name.
LINEAGE_TAG_TYPES = frozenset({n.INCOMPLETE_LINEAGE})
# The licenseId of the UnknownLicense tag on data nobody described but a job read (a placeholder): unlike a
# declared NOASSERTION, it is dropped once the data turns out to be a job's output, whose tags then flow in.
UNREGISTERED = "UNREGISTERED"

# Consent is no longer a valid basis for processing in these states.
INVALID_CONSENT = frozenset({"withdrawn", "expired", "refused"})


def _tag(type_name: str, **attributes: Any) -> Classification:
    # propagate=True explicitly: Atlas's default comes from server config and differs between paths.
    return {"typeName": type_name, "attributes": {k: v for k, v in attributes.items() if v is not None},
            "propagate": True, "removePropagationsOnEntityDelete": False}


def attribution_text(ds: DatasetSpec | ModelSpec, lic: DataLicense) -> str:
    """A TASL-style credit line (title, author, source, license), as CC's attribution guidance asks."""
    creator = getattr(ds, "creator", None)
    url = getattr(ds, "url", None) or getattr(ds, "download_location", None)
    parts = [f'"{ds.name}"']
    if creator:
        parts.append(f"by {creator}")
    if url:
        parts.append(f"({url})")
    parts.append(f"is licensed under {lic.spdx_id}")
    if lic.url:
        parts.append(f"({lic.url})")
    return " ".join(parts)


def license_tags(ds: DatasetSpec | ModelSpec, lic: DataLicense | None) -> list[Classification]:
    """The tags a dataset's or a model's own license implies. A model's license (its weights' terms, e.g. a
    base model's Llama community license) derives the same tags a dataset's does, so they reach every model
    built from it along lineage like a dataset's."""
    source = ds.qualified_name
    research_only = getattr(ds, "research_only", False)
    if lic is None or lic.is_unknown:
        tags = [_tag(n.UNKNOWN_LICENSE, licenseId="NOASSERTION", sourceDataset=source)]
        if research_only:
            tags.append(_tag(n.RESEARCH_ONLY, licenseId="NOASSERTION", sourceDataset=source))
        return tags
    tags: list[Classification] = []
    if lic.use_category == "nonCommercial":
        tags.append(_tag(n.NON_COMMERCIAL, licenseId=lic.spdx_id, sourceDataset=source))
    if lic.use_category == "academicOnly" or lic.model_treatment == "resultRestricted" or research_only:
        tags.append(_tag(n.RESEARCH_ONLY, licenseId=lic.spdx_id, sourceDataset=source))
    if lic.use_category == "unspecified":
        tags.append(_tag(n.UNKNOWN_LICENSE, licenseId=lic.spdx_id, sourceDataset=source))
    if lic.attribution_required:
        tags.append(_tag(n.ATTRIBUTION_REQUIRED, licenseId=lic.spdx_id, sourceDataset=source,
                         # The notice a license words itself (Llama's, Gemma's) is the credit it asks for.
                         attributionText=lic.notice_text or attribution_text(ds, lic),
                         creator=getattr(ds, "creator", None),
                         title=ds.name, url=getattr(ds, "url", None) or getattr(ds, "download_location", None)))
    if lic.share_alike:
        tags.append(_tag(n.SHARE_ALIKE, licenseId=lic.spdx_id, sourceDataset=source))
    if lic.derivatives_allowed != "yes":
        tags.append(_tag(n.NO_DERIVATIVES, licenseId=lic.spdx_id, sourceDataset=source))
    if lic.license_text_must_accompany:
        tags.append(_tag(n.LICENSE_TEXT_REQUIRED, licenseId=lic.spdx_id, sourceDataset=source))
    # Only a use policy recipients must be bound to is passed on: C-UDA's "computational use only" binds
    # the data's user, not what is built from it (its Results are unrestricted, Sec 2.2).
    if lic.use_policy_url:
        tags.append(_tag(n.USE_RESTRICTIONS, licenseId=lic.spdx_id, sourceDataset=source,
                         restrictions="; ".join(lic.use_restrictions) or None, usePolicyUrl=lic.use_policy_url))
    if lic.naming_requirement:
        tags.append(_tag(n.NAMING_REQUIREMENT, licenseId=lic.spdx_id, sourceDataset=source,
                         requirement=lic.naming_requirement))
    if lic.user_threshold:
        tags.append(_tag(n.USER_THRESHOLD, licenseId=lic.spdx_id, sourceDataset=source,
                         monthlyActiveUsers=lic.user_threshold))
    return tags


def model_license_tags(model: ModelSpec, lic: DataLicense | None) -> list[Classification]:
    """The model's own license tags: none when its spec names no license (a model trained in-house has no
    license of its own; its tags come from its inputs), else those `lic` (the resolved license) implies."""
    if model.license is None:
        return []
    return license_tags(model, lic)


def personal_data_tags(ds: DatasetSpec) -> list[Classification]:
    tags: list[Classification] = []
    if ds.personal_data_categories:
        tags.append(_tag(n.PERSONAL_DATA, categories=sorted(ds.personal_data_categories),
                         sourceDataset=ds.qualified_name))
    if ds.special_categories:
        tags.append(_tag(n.SPECIAL_CATEGORY_DATA, categories=sorted(ds.special_categories),
                         sourceDataset=ds.qualified_name))
    return tags


def consent_valid(record: ConsentRecordSpec, now: datetime | None = None) -> bool:
    """Whether a record is still a basis for processing: not withdrawn, refused or marked expired, and not past
    its expiry time. A record whose expiry passed while its status still says "given" is expired all the
    same: counting it as valid would soften a personal-data BLOCK into a privacy-review WARN."""
    if record.status in INVALID_CONSENT:
        return False
    if record.expiry_time is None:
        return True
    expiry = record.expiry_time if record.expiry_time.tzinfo else record.expiry_time.replace(tzinfo=timezone.utc)
    return expiry > (now or datetime.now(timezone.utc))


def consent_tags(dataset_qualified_name: str, records: list[ConsentRecordSpec], *,
                 now: datetime | None = None) -> list[Classification]:
    """One ConsentScope for all records (Atlas allows one direct tag per type): the purposes every
    valid record allows, and every excluded purpose; ConsentWithdrawn when any record is no longer valid
    (withdrawn, refused, or expired, by status or by its expiry time as of `now`)."""
    if not records:
        return []
    valid = [r for r in records if consent_valid(r, now)]
    tags: list[Classification] = []
    if valid:
        allowed = common_purposes([r.purposes for r in valid])  # through the DPV hierarchy
        excluded = sorted({p for r in valid for p in r.excluded_purposes})
        tags.append(_tag(n.CONSENT_SCOPE, purposes=allowed, excludedPurposes=excluded,
                         consentRecord=", ".join(r.qualified_name for r in valid),
                         sourceDataset=dataset_qualified_name))
    invalid = [r for r in records if not consent_valid(r, now)]
    if invalid:
        times = [r.withdrawn_time or (r.expiry_time if r.status not in INVALID_CONSENT else None) for r in invalid]
        millis = [to_millis(t) for t in times if t]  # as millis: naive and aware times do not compare
        tags.append(_tag(n.CONSENT_WITHDRAWN, consentRecord=", ".join(r.qualified_name for r in invalid),
                         withdrawnTime=max(millis) if millis else None,
                         sourceDataset=dataset_qualified_name))
    return tags


def retraction_tags(dataset_qualified_name: str, retraction: Retraction | None) -> list[Classification]:
    if retraction is None or retraction.status != "retracted":
        return []
    return [_tag(n.RETRACTED, reason=retraction.reason, retractionDate=date_to_millis(retraction.date),
                 noticeUrl=retraction.notice_url, sourceDataset=dataset_qualified_name)]


def derived_tags(ds: DatasetSpec, lic: DataLicense | None,
                 consents: list[ConsentRecordSpec] | None = None) -> list[Classification]:
    return (license_tags(ds, lic) + personal_data_tags(ds) + consent_tags(ds.qualified_name, consents or [])
            + retraction_tags(ds.qualified_name, ds.retraction))


def placeholder_tags(qualified_name: str) -> list[Classification]:
    return [_tag(n.UNKNOWN_LICENSE, licenseId=UNREGISTERED, sourceDataset=qualified_name)]


def incomplete_lineage_tags(process_qualified_name: str, inputs: list[str], unresolved: list[str], *,
                            inputs_required: bool = True) -> list[Classification]:
    """IncompleteLineage on a process that read data nobody could name, or (with `inputs_required`, as for a
    training run) that recorded no input at all: what its outputs were made from is unknown, so they must not
    look clean. A data job may legitimately read nothing (it generates its rows)."""
    if not unresolved and (inputs or not inputs_required):
        return []
    reason = ("read data that could not be named: " + "; ".join(sorted(unresolved)) if unresolved
              else "recorded no input dataset")
    return [_tag(n.INCOMPLETE_LINEAGE, reason=reason, unresolvedInputs=sorted(unresolved) or None,
                 sourceProcess=process_qualified_name)]


def anonymisation_tags(derivation: str, attestation: str | None, sources: list[str],
                       stopped: list[str]) -> list[Classification]:
    """AnonymisationAttested on an output of an attested anonymisation: the attestation (who, when, how) on
    the dataset itself, not only on the step. Not propagated: it is about this dataset; what it means for
    the models downstream is that the personal-data tags (`stopped`) do not reach them."""
    tag = _tag(n.ANONYMISATION_ATTESTED, attestation=attestation, derivation=derivation,
               sourceDatasets=sorted(sources), stoppedTags=sorted(stopped))
    tag["propagate"] = False
    return [tag]
