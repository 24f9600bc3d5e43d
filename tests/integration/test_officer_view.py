"""What a governance officer reads on an entity page in the Atlas UI, checked on a real Atlas."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.policy.check import check_model
from atlas_mlplugin.policy.model import ReleaseContext
from atlas_mlplugin.server.launcher import LocalAtlas

pytestmark = pytest.mark.integration

DATE_ATTRIBUTES = {
    "ml_dataset": ["retractionDate"],
    "ml_training_run": ["startTime", "endTime"],
    "ml_consent_record": ["givenTime", "withdrawnTime", "expiryTime"],
    "ml_model": ["lastCheckedTime"],
}


def attributes(client: AtlasClient, type_name: str, qualified_name: str) -> dict[str, Any]:
    entity = client.find_entity(type_name, qualified_name)
    assert entity is not None, f"{type_name} {qualified_name} was not written"
    return dict(entity["entity"]["attributes"])


def zero_dates(client: AtlasClient, type_name: str, qualified_name: str) -> dict[str, Any]:
    """Date attributes the UI would show as 1 January 1970."""
    attrs = attributes(client, type_name, qualified_name)
    return {name: attrs.get(name) for name in DATE_ATTRIBUTES[type_name] if attrs.get(name) is not None}


def test_unset_dates_are_absent_not_1970(registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    consent = ConsentRecordSpec(qualified_name=f"consent:{uid}/undated", name="undated consent",
                                purposes=["research"])
    registry.register_consent(consent)
    ds = DatasetSpec(qualified_name=f"file:///{uid}/never-retracted", name="never retracted", license="CC0-1.0")
    registry.register_dataset(ds)
    model = ModelSpec(qualified_name=f"models/{uid}/undated", name="undated")
    run = TrainingRunSpec(run_id=f"{uid}-undated", name="undated run", inputs=[ds.qualified_name], outputs=[model])
    registry.record_training_run(run)
    run_qn = run.qualified_name

    assert zero_dates(client, "ml_consent_record", consent.qualified_name) == {}
    assert zero_dates(client, "ml_dataset", ds.qualified_name) == {}
    assert zero_dates(client, "ml_training_run", run_qn) == {}
    assert zero_dates(client, "ml_model", model.qualified_name) == {}


def test_a_zero_date_from_an_older_version_is_repaired_when_written_again(registry: GovernanceRegistry,
                                                                          client: AtlasClient, uid: str) -> None:
    qn = f"file:///{uid}/old-zero"
    # What versions before the typedefs' date defaults left on every dataset: 0, shown as 1 January 1970.
    client.upsert_entities([{"typeName": "ml_dataset", "attributes": {
        "qualifiedName": qn, "name": "old", "retractionDate": 0}}])
    assert attributes(client, "ml_dataset", qn)["retractionDate"] == 0

    registry.register_dataset(DatasetSpec(qualified_name=qn, name="old", license="CC0-1.0"))
    assert attributes(client, "ml_dataset", qn).get("retractionDate") is None


def test_a_retraction_keeps_its_date(registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    qn = f"file:///{uid}/retracted"
    registry.register_dataset(DatasetSpec(qualified_name=qn, name="retracted", license="CC0-1.0"))
    registry.retract_dataset(qn, "consent problems")
    attrs = attributes(client, "ml_dataset", qn)
    assert attrs["retractionStatus"] == "retracted"
    assert attrs["retractionDate"] > 1_600_000_000_000


def test_the_ui_shows_icons_for_our_types(local_atlas: LocalAtlas | None) -> None:
    if local_atlas is None:
        pytest.skip("icons are installed by the launcher; this server was not started by it")
    status = local_atlas.status()
    for path in ("img/entity-icon/ml_dataset.png", "img/entity-icon/disabled/ml_model.png",
                 "n/img/entity-icon/ml_release.png", "img/entity-icon/ml_governance.png"):
        response = requests.get(f"{status.url.rstrip('/')}/{path}", timeout=30)
        assert response.status_code == 200, path
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n"), path


def test_the_model_shows_the_attribution_its_training_data_requires(registry: GovernanceRegistry,
                                                                    client: AtlasClient, uid: str) -> None:
    credited = DatasetSpec(qualified_name=f"file:///{uid}/street-scenes", name="Street Scenes", license="CC-BY-4.0",
                           creator="City Lab", url="https://example.org/street-scenes")
    free = DatasetSpec(qualified_name=f"file:///{uid}/public-domain", name="Public Domain Set", license="CC0-1.0")
    registry.register_dataset(credited)
    registry.register_dataset(free)
    model = ModelSpec(qualified_name=f"models/{uid}/credited", name="credited")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-credited", name="credited run",
                                                 inputs=[credited.qualified_name, free.qualified_name],
                                                 outputs=[model]))

    check_model(client, model.qualified_name, ReleaseContext(audience="internal", commercial=False), record=True)

    notice = attributes(client, "ml_model", model.qualified_name).get("attributionNotice")
    assert notice, "the model carries AttributionRequired, so its page must show the credit to ship"
    for expected in ("Street Scenes", "City Lab", "CC-BY-4.0", "https://example.org/street-scenes"):
        assert expected in notice
    assert "Public Domain Set" not in notice, "CC0 data asks for no credit"


def test_the_attribution_goes_when_no_upstream_license_requires_it(registry: GovernanceRegistry,
                                                                   client: AtlasClient, uid: str) -> None:
    ds = DatasetSpec(qualified_name=f"file:///{uid}/relicensed", name="Relicensed", license="CC-BY-4.0")
    registry.register_dataset(ds)
    model = ModelSpec(qualified_name=f"models/{uid}/relicensed", name="relicensed")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-relicensed", name="run", inputs=[ds.qualified_name],
                                                 outputs=[model]))
    context = ReleaseContext(audience="internal", commercial=False)
    check_model(client, model.qualified_name, context, record=True)
    assert attributes(client, "ml_model", model.qualified_name).get("attributionNotice")

    registry.register_dataset(ds.model_copy(update={"license": "CC0-1.0"}))  # the publisher waived it
    check_model(client, model.qualified_name, context, record=True)
    assert attributes(client, "ml_model", model.qualified_name).get("attributionNotice") is None


def test_a_tag_without_a_date_shows_none(registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    # Consent recorded as withdrawn without saying when: the tag must not claim 1 January 1970.
    consent = ConsentRecordSpec(qualified_name=f"consent:{uid}/withdrawn-undated", name="withdrawn, date unknown",
                                status="withdrawn", purposes=["research"])
    registry.register_consent(consent)
    guid = registry.register_dataset(DatasetSpec(
        qualified_name=f"file:///{uid}/withdrawn", name="withdrawn", license="CC0-1.0",
        personal_data_categories=["voice"], consent_records=[consent.qualified_name]))
    tags = {c["typeName"]: c for c in client.get_classifications(guid)}
    assert "ConsentWithdrawn" in tags
    assert tags["ConsentWithdrawn"]["attributes"].get("withdrawnTime") is None
