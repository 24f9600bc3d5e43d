"""What an officer reads in the Atlas UI comes from typedefs/: dates that are unset must not show as
1 January 1970, and every type, attribute and tag must explain itself in terms of a model's release."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from atlas_mlplugin.atlas.typedefs import BASE_DIR_NAME, default_typedefs_dir, load_documents
from atlas_mlplugin.mapping import entities
from atlas_mlplugin.mapping.releases import verdict_entities
from atlas_mlplugin.mapping.timestamps import from_millis
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, TrainingRunSpec
from atlas_mlplugin.policy.model import CheckReport, Obligations, ReleaseContext
from atlas_mlplugin.policy.writeback import decision_of


def our_defs() -> Iterator[tuple[str, dict[str, Any]]]:
    docs, issues = load_documents(default_typedefs_dir())
    assert not issues, issues
    for doc in docs:
        if doc.path.parent.name == BASE_DIR_NAME:
            continue  # Atlas's own types, described by Atlas
        for category, items in doc.defs.items():
            for item in items:
                yield category, item


def date_attributes() -> list[tuple[str, dict[str, Any]]]:
    return [(item["name"], attr) for _, item in our_defs() for attr in item.get("attributeDefs") or []
            if attr["typeName"] == "date"]


def test_there_are_date_attributes_to_check() -> None:
    assert len(date_attributes()) >= 10


@pytest.mark.parametrize(("owner", "attr"), date_attributes(), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_an_unset_date_is_stored_as_absent_not_as_1970(owner: str, attr: dict[str, Any]) -> None:
    # Atlas 2.1.0 writes an unset date as its type's default, Date(0), unless the attribute has a
    # defaultValue; "" parses as no date at all, so the attribute stays absent (and a null clears a 0).
    assert attr.get("defaultValue") == "", f"{owner}.{attr['name']} would show as 1 January 1970 when unset"


def test_specs_without_dates_clear_them_rather_than_leave_a_zero() -> None:
    run = entities.training_run_entity(TrainingRunSpec(run_id="r", name="r", inputs=[]), {})["attributes"]
    assert "startTime" in run and run["startTime"] is None
    assert "endTime" in run and run["endTime"] is None
    consent = entities.consent_entity(ConsentRecordSpec(qualified_name="c", name="c"))["attributes"]
    assert {k: consent[k] for k in ("givenTime", "withdrawnTime", "expiryTime")} == dict.fromkeys(
        ("givenTime", "withdrawnTime", "expiryTime"))
    dataset = entities.dataset_entity(DatasetSpec(qualified_name="d", name="d"), None)["attributes"]
    assert "retractionDate" in dataset and dataset["retractionDate"] is None


def test_a_zero_date_read_back_means_unset() -> None:
    assert from_millis(0) is None
    assert from_millis(None) is None
    assert from_millis(1_700_000_000_000) is not None


def _report(attributions: list[dict[str, Any]]) -> CheckReport:
    return CheckReport(verdict="PASS", model="models/m/1", model_guid="g", context=ReleaseContext(audience="public"),
                       findings=[], policy="default", checked_at=datetime(2026, 11, 30, tzinfo=timezone.utc),
                       obligations=Obligations(attributions=attributions))


def test_the_recorded_verdict_fills_the_models_attribution_notice() -> None:
    credit = {"source": "file:///d", "title": "Street Scenes", "creator": "City Lab", "license": "CC-BY-4.0",
              "license_url": None, "url": "https://example.org/s", "attributionText": None}
    model = verdict_entities(decision_of(_report([credit])))[0]
    assert model["typeName"] == "ml_model"
    notice = model["attributes"]["attributionNotice"]
    assert "Street Scenes" in notice and "City Lab" in notice and "CC-BY-4.0" in notice


def test_a_model_that_owes_no_credit_has_its_old_notice_cleared() -> None:
    model = verdict_entities(decision_of(_report([])))[0]
    assert "attributionNotice" in model["attributes"] and model["attributes"]["attributionNotice"] is None


# Words about how Atlas stores things, which tell an officer nothing about a model's release.
INTERNALS = re.compile(r"\b(propert(y|ies)|vert(ex|ices)|edges?|json|typedefs?|entityguid|guid|qualifiedName|"
                       r"propagat\w*\.default|superTypes?|serviceType|attributeDefs?)\b", re.IGNORECASE)


def described() -> list[tuple[str, str]]:
    """(what, description) for every def, attribute and enum value of ours, as the Atlas UI shows them."""
    out = []
    for _, item in our_defs():
        out.append((item["name"], item.get("description") or ""))
        out += [(f"{item['name']}.{a['name']}", a.get("description") or "") for a in item.get("attributeDefs") or []]
        out += [(f"{item['name']}={e['value']}", e.get("description") or "") for e in item.get("elementDefs") or []]
    return out


def test_every_type_attribute_and_value_is_described() -> None:
    missing = [what for what, text in described() if len(text.strip()) < 3]
    assert missing == []


def test_descriptions_speak_of_releases_not_of_atlas_internals() -> None:
    found = {what: INTERNALS.findall(text) for what, text in described() if INTERNALS.search(text)}
    assert found == {}


def test_each_tag_says_what_it_means_for_a_release() -> None:
    tags = [item for category, item in our_defs() if category == "classificationDefs"]
    assert tags
    vague = [t["name"] for t in tags if not re.search(r"\brelease", t["description"], re.IGNORECASE)]
    assert vague == []
