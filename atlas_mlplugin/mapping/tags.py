"""The classifications a dataset's facts imply. People state facts (license, personal data); the tags
follow from them, so nobody maintains both and a changed fact replaces its stale tags."""

from __future__ import annotations

from typing import Any

from atlas_mlplugin.model import DataLicense, DatasetSpec

Classification = dict[str, Any]

# Every classification type that is derived from facts; sync replaces these and leaves other tags alone.
DERIVED_TAG_TYPES = frozenset({
    "NonCommercial", "ShareAlike", "AttributionRequired", "NoDerivatives", "ResearchOnly", "UnknownLicense",
    "LicenseTextRequired", "PersonalData", "SpecialCategoryData", "ConsentScope", "ConsentWithdrawn",
    "Retracted",
})


def _tag(type_name: str, **attributes: Any) -> Classification:
    # propagate=True explicitly: Atlas's default comes from server config and differs between paths.
    return {"typeName": type_name, "attributes": {k: v for k, v in attributes.items() if v is not None},
            "propagate": True, "removePropagationsOnEntityDelete": False}


def attribution_text(ds: DatasetSpec, lic: DataLicense) -> str:
    """A TASL-style credit line (title, author, source, license), as CC's attribution guidance asks."""
    parts = [f'"{ds.name}"']
    if ds.creator:
        parts.append(f"by {ds.creator}")
    if ds.url:
        parts.append(f"({ds.url})")
    parts.append(f"is licensed under {lic.spdx_id}")
    if lic.url:
        parts.append(f"({lic.url})")
    return " ".join(parts)


def license_tags(ds: DatasetSpec, lic: DataLicense | None) -> list[Classification]:
    source = ds.qualified_name
    if lic is None or lic.is_unknown:
        return [_tag("UnknownLicense", licenseId="NOASSERTION", sourceDataset=source)]
    tags: list[Classification] = []
    if lic.use_category == "nonCommercial":
        tags.append(_tag("NonCommercial", licenseId=lic.spdx_id, sourceDataset=source))
    if lic.use_category == "academicOnly" or lic.model_treatment == "resultRestricted":
        tags.append(_tag("ResearchOnly", licenseId=lic.spdx_id, sourceDataset=source))
    if lic.use_category == "unspecified":
        tags.append(_tag("UnknownLicense", licenseId=lic.spdx_id, sourceDataset=source))
    if lic.attribution_required:
        tags.append(_tag("AttributionRequired", licenseId=lic.spdx_id, sourceDataset=source,
                         attributionText=attribution_text(ds, lic), creator=ds.creator, title=ds.name,
                         url=ds.url))
    if lic.share_alike:
        tags.append(_tag("ShareAlike", licenseId=lic.spdx_id, sourceDataset=source))
    if lic.derivatives_allowed != "yes":
        tags.append(_tag("NoDerivatives", licenseId=lic.spdx_id, sourceDataset=source))
    if lic.license_text_must_accompany:
        tags.append(_tag("LicenseTextRequired", licenseId=lic.spdx_id, sourceDataset=source))
    return tags


def personal_data_tags(ds: DatasetSpec) -> list[Classification]:
    tags: list[Classification] = []
    if ds.personal_data_categories:
        tags.append(_tag("PersonalData", categories=sorted(ds.personal_data_categories),
                         sourceDataset=ds.qualified_name))
    if ds.special_categories:
        tags.append(_tag("SpecialCategoryData", categories=sorted(ds.special_categories),
                         sourceDataset=ds.qualified_name))
    return tags


def derived_tags(ds: DatasetSpec, lic: DataLicense | None) -> list[Classification]:
    return license_tags(ds, lic) + personal_data_tags(ds)
