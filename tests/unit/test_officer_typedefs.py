"""What an officer reads in the Atlas UI comes from typedefs/: dates that are unset must not show as
1 January 1970, and every type, attribute and tag must explain itself in terms of a model's release."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from atlas_mlplugin.atlas.typedefs import BASE_DIR_NAME, default_typedefs_dir, load_documents
from atlas_mlplugin.mapping import entities
from atlas_mlplugin.mapping.timestamps import from_millis
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, TrainingRunSpec


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
