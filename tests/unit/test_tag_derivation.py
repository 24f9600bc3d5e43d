"""Facts -> classifications (mapping/tags.py) and domain models -> Atlas entity JSON (mapping/entities.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping.entities import dataset_entity, license_entity, object_id, training_run_entity
from atlas_mlplugin.mapping.tags import DERIVED_TAG_TYPES, derived_tags, license_tags, personal_data_tags
from atlas_mlplugin.model import DataLicense, DatasetSpec, ModelSpec, TrainingRunSpec

TYPEDEFS = Path(__file__).resolve().parents[2] / "typedefs"
LICENSE_TAGS = {"NonCommercial", "ShareAlike", "AttributionRequired", "NoDerivatives", "ResearchOnly",
                "UnknownLicense", "LicenseTextRequired", "UseRestrictions", "NamingRequirement", "UserThreshold"}
QN = "s3://lake/faces/v3"


@pytest.fixture(scope="module")
def catalog() -> LicenseCatalog:
    return LicenseCatalog.from_csv()


def dataset(**kw: Any) -> DatasetSpec:
    defaults: dict[str, Any] = {"qualified_name": QN, "name": "Faces in the Wild", "creator": "Jane Doe",
                                "url": "https://example.org/faces"}
    return DatasetSpec(**{**defaults, **kw})


def types_of(tags: list[dict[str, Any]]) -> list[str]:
    return [t["typeName"] for t in tags]


def by_type(tags: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {t["typeName"]: t for t in tags}
    assert len(out) == len(tags), "one direct classification per type per entity"
    return out


def typedef_attributes(category: str) -> dict[str, set[str]]:
    """Declared attribute names of every def of a category, including inherited ones."""
    defs: dict[str, dict[str, Any]] = {}
    for path in TYPEDEFS.rglob("*.json"):
        for d in json.loads(path.read_text())[category]:
            defs[d["name"]] = d

    def attrs(name: str) -> set[str]:
        d = defs[name]
        own = {a["name"] for a in d.get("attributeDefs") or []}
        return own.union(*(attrs(s) for s in d.get("superTypes") or []))

    return {name: attrs(name) for name in defs}


# --------------------------------------------------------------------------------------------------
# license tags


def test_cc_by_nc_gives_non_commercial_and_attribution(catalog: LicenseCatalog) -> None:
    ds = dataset()
    tags = by_type(derived_tags(ds, catalog.get("CC-BY-NC-4.0")))
    assert set(tags) == {"NonCommercial", "AttributionRequired"}
    assert "ShareAlike" not in tags
    assert tags["NonCommercial"]["attributes"] == {"licenseId": "CC-BY-NC-4.0", "sourceDataset": QN}
    attribution = tags["AttributionRequired"]["attributes"]
    text = attribution["attributionText"]
    assert "Faces in the Wild" in text and "Jane Doe" in text and "CC-BY-NC-4.0" in text
    assert "https://example.org/faces" in text
    assert (attribution["title"], attribution["creator"], attribution["url"]) == (
        "Faces in the Wild", "Jane Doe", "https://example.org/faces")
    assert attribution["licenseId"] == "CC-BY-NC-4.0"


def test_attribution_without_creator_or_url_omits_them(catalog: LicenseCatalog) -> None:
    ds = dataset(creator=None, url=None)
    attribution = by_type(license_tags(ds, catalog.get("CC-BY-4.0")))["AttributionRequired"]["attributes"]
    assert "creator" not in attribution and "url" not in attribution  # no nulls sent to Atlas
    assert "None" not in attribution["attributionText"]
    assert attribution["attributionText"].startswith('"Faces in the Wild" is licensed under CC-BY-4.0')


def test_share_alike_is_added_for_nc_sa(catalog: LicenseCatalog) -> None:
    tags = by_type(derived_tags(dataset(), catalog.get("CC-BY-NC-SA-4.0")))
    assert set(tags) == {"NonCommercial", "AttributionRequired", "ShareAlike"}
    assert tags["ShareAlike"]["attributes"]["licenseId"] == "CC-BY-NC-SA-4.0"


def test_no_derivatives(catalog: LicenseCatalog) -> None:
    tags = by_type(derived_tags(dataset(), catalog.get("CC-BY-ND-4.0")))
    assert set(tags) == {"NoDerivatives", "AttributionRequired"}
    assert "NonCommercial" not in tags


def test_cc0_has_no_license_tags(catalog: LicenseCatalog) -> None:
    assert license_tags(dataset(), catalog.get("CC0-1.0")) == []
    assert derived_tags(dataset(), catalog.get("CC0-1.0")) == []


@pytest.mark.parametrize("spdx", [None, "NOASSERTION"])
def test_missing_or_unasserted_license_is_unknown_only(catalog: LicenseCatalog, spdx: str | None) -> None:
    lic = catalog.get(spdx) if spdx else None
    tags = license_tags(dataset(), lic)
    assert types_of(tags) == ["UnknownLicense"]
    assert tags[0]["attributes"] == {"licenseId": "NOASSERTION", "sourceDataset": QN}


def test_research_only_license(catalog: LicenseCatalog) -> None:
    tags = by_type(derived_tags(dataset(), catalog.get("LicenseRef-research-only")))
    assert "ResearchOnly" in tags
    assert tags["ResearchOnly"]["attributes"]["licenseId"] == "LicenseRef-research-only"
    assert "NonCommercial" not in tags and "UnknownLicense" not in tags


def test_license_text_required(catalog: LicenseCatalog) -> None:
    tags = by_type(derived_tags(dataset(), catalog.get("CDLA-Permissive-2.0")))
    assert set(tags) == {"LicenseTextRequired"}


def test_custom_license_with_unspecified_use_is_flagged_unknown() -> None:
    lic = DataLicense(spdx_id="LicenseRef-vague", name="Vague terms")
    tags = license_tags(dataset(), lic)
    assert types_of(tags) == ["UnknownLicense"]
    assert tags[0]["attributes"]["licenseId"] == "LicenseRef-vague"


# --------------------------------------------------------------------------------------------------
# personal data


def test_personal_data_categories_are_sorted() -> None:
    ds = dataset(personal_data_categories=["pd:Name", "pd:EmailAddress", "pd:FacialImage"])
    tags = personal_data_tags(ds)
    assert types_of(tags) == ["PersonalData"]
    assert tags[0]["attributes"] == {"categories": ["pd:EmailAddress", "pd:FacialImage", "pd:Name"],
                                     "sourceDataset": QN}
    assert ds.personal_data_categories == ["pd:Name", "pd:EmailAddress", "pd:FacialImage"]  # input untouched


def test_special_categories() -> None:
    ds = dataset(personal_data_categories=["pd:FacialImage"], special_categories=["health", "biometric"])
    tags = by_type(personal_data_tags(ds))
    assert set(tags) == {"PersonalData", "SpecialCategoryData"}
    assert tags["SpecialCategoryData"]["attributes"]["categories"] == ["biometric", "health"]


def test_no_personal_data_no_tags() -> None:
    assert personal_data_tags(dataset()) == []


def test_derived_tags_combine_license_and_personal_data(catalog: LicenseCatalog) -> None:
    ds = dataset(personal_data_categories=["pd:Name"])
    assert set(types_of(derived_tags(ds, catalog.get("CC-BY-NC-4.0")))) == {
        "NonCommercial", "AttributionRequired", "PersonalData"}


# --------------------------------------------------------------------------------------------------
# invariants over every license in the catalog


def all_derived(catalog: LicenseCatalog) -> list[dict[str, Any]]:
    ds = dataset(personal_data_categories=["pd:Name"], special_categories=["health"])
    tags = derived_tags(ds, None)
    for lic in catalog.all():
        tags += derived_tags(ds, lic)
    return tags


def test_every_derived_tag_propagates_and_names_its_source(catalog: LicenseCatalog) -> None:
    tags = all_derived(catalog)
    assert set(types_of(tags)) == LICENSE_TAGS | {"PersonalData", "SpecialCategoryData"}
    for tag in tags:
        assert tag["propagate"] is True, tag
        assert tag["attributes"]["sourceDataset"] == QN, tag
        assert tag["typeName"] in DERIVED_TAG_TYPES, tag
        assert None not in tag["attributes"].values(), tag


def test_derived_tags_only_use_attributes_their_typedef_declares(catalog: LicenseCatalog) -> None:
    declared = typedef_attributes("classificationDefs")
    for tag in all_derived(catalog):
        assert set(tag["attributes"]) <= declared[tag["typeName"]], tag


def test_release_verdict_is_not_a_derived_tag() -> None:
    # sync replaces derived tags; the release verdict is set by the release check and must survive it
    assert "ReleaseVerdict" not in DERIVED_TAG_TYPES


# --------------------------------------------------------------------------------------------------
# entities


def test_dataset_entity_links_license_by_qualified_name_and_omits_none(catalog: LicenseCatalog) -> None:
    ds = dataset(description=None, owner=None, version="3")
    e = dataset_entity(ds, catalog.get("CC-BY-NC-4.0"))
    assert e["typeName"] == "ml_dataset"
    assert e["relationshipAttributes"] == {"licenses": [
        {"typeName": "ml_data_license", "uniqueAttributes": {"qualifiedName": "spdx:CC-BY-NC-4.0"}}]}
    attrs = e["attributes"]
    assert attrs["qualifiedName"] == QN and attrs["name"] == "Faces in the Wild" and attrs["version"] == "3"
    assert attrs["declaredLicense"] == "CC-BY-NC-4.0"
    # Only the retraction fields, which the spec owns, are sent as null (that clears a stale retraction).
    assert {k for k, v in attrs.items() if v is None} == {
        "retractionStatus", "retractionReason", "retractionDate", "retractionNoticeUrl"}
    for absent in ("description", "owner", "sha256", "citeAs", "hasSensitivePersonalInformation",
                   "personalDataCategories", "specialCategories"):
        assert absent not in attrs


def test_dataset_entity_without_license_declares_noassertion_and_links_nothing() -> None:
    e = dataset_entity(dataset(), None)
    assert e["attributes"]["declaredLicense"] == "NOASSERTION"
    assert "relationshipAttributes" not in e


def test_dataset_entity_marks_personal_information() -> None:
    e = dataset_entity(dataset(special_categories=["health"]), None)
    assert e["attributes"]["hasSensitivePersonalInformation"] == "yes"
    assert e["attributes"]["specialCategories"] == ["health"]


def test_entity_attributes_exist_on_their_types(catalog: LicenseCatalog) -> None:
    declared = typedef_attributes("entityDefs")
    ds = dataset(description="d", owner="o", version="1", sha256="ab", cite_as="c",
                 personal_data_categories=["pd:Name"], special_categories=["health"])
    for e in (dataset_entity(ds, catalog.get("CC-BY-4.0")), license_entity(catalog.get("C-UDA-1.0"))):
        assert set(e["attributes"]) <= declared[e["typeName"]], e["typeName"]


def test_license_entity_keeps_false_flags(catalog: LicenseCatalog) -> None:
    attrs = license_entity(catalog.get("CC0-1.0"))["attributes"]
    assert attrs["qualifiedName"] == "spdx:CC0-1.0"
    assert attrs["attributionRequired"] is False and attrs["shareAlike"] is False  # False is a fact, not unset


def test_training_run_entity_references_and_epoch_millis() -> None:
    start = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)
    end = datetime(2024, 5, 6, 9, 0, 0, tzinfo=timezone(timedelta(hours=2)))  # 07:00 UTC
    run = TrainingRunSpec(
        run_id="r-42", name="resnet run", inputs=[QN, "hive://db.tbl@prod"],
        outputs=[ModelSpec(qualified_name="model:resnet@1", name="resnet")],
        start_time=start, end_time=end, hyperparameters={"lr": "0.1"},
    )
    e = training_run_entity(run, {"hive://db.tbl@prod": "hive_table"})
    assert e["typeName"] == "ml_training_run"
    attrs = e["attributes"]
    assert attrs["qualifiedName"] == "ml-run:r-42"
    assert attrs["inputs"] == [
        {"typeName": "ml_dataset", "uniqueAttributes": {"qualifiedName": QN}},
        {"typeName": "hive_table", "uniqueAttributes": {"qualifiedName": "hive://db.tbl@prod"}},
    ]
    assert attrs["outputs"] == [object_id("ml_model", "model:resnet@1")]
    assert attrs["outputs"][0] == {"typeName": "ml_model", "uniqueAttributes": {"qualifiedName": "model:resnet@1"}}
    assert attrs["startTime"] == 1714979289123
    assert attrs["endTime"] == 1714978800000
    assert attrs["status"] == "COMPLETED"
    assert attrs["hyperparameters"] == {"lr": "0.1"}
    assert "codeRevision" not in attrs and "framework" not in attrs


def test_training_run_without_times_or_outputs_omits_them() -> None:
    attrs = training_run_entity(TrainingRunSpec(run_id="r", name="r", inputs=[QN]), {})["attributes"]
    for absent in ("outputs", "hyperparameters"):
        assert absent not in attrs
    # Unset times are sent as null: Atlas then stores nothing, where it would otherwise keep a 0 (1970).
    assert attrs["startTime"] is None and attrs["endTime"] is None
