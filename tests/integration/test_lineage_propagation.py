"""The product's core promise on a real Atlas: tags derived on datasets reach the models trained on
them, each with its source, through Atlas's own propagation along lineage."""

from __future__ import annotations

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads import tags_of

pytestmark = pytest.mark.integration


def _story(registry: GovernanceRegistry, uid: str) -> dict[str, str]:
    """A CC-BY-NC-4.0 dataset and a CC0 dataset with personal data, one run, one model."""
    nc = DatasetSpec(qualified_name=f"file:///data/{uid}/faces-nc", name=f"faces-nc-{uid}",
                     license="CC-BY-NC-4.0", creator="Example Lab", url="https://example.org/faces")
    pd = DatasetSpec(qualified_name=f"file:///data/{uid}/forum-posts", name=f"forum-posts-{uid}",
                     license="CC0-1.0", personal_data_categories=["email", "username"])
    guids = {"nc": registry.register_dataset(nc), "pd": registry.register_dataset(pd)}
    model = ModelSpec(qualified_name=f"models/{uid}/classifier", name=f"classifier-{uid}")
    run = TrainingRunSpec(run_id=uid, name=f"train-{uid}", inputs=[nc.qualified_name, pd.qualified_name],
                          outputs=[model], hyperparameters={"epochs": "3"})
    guids["run"] = registry.record_training_run(run)
    found = registry.client.find_entity("ml_model", model.qualified_name)
    assert found is not None
    guids["model"] = found["entity"]["guid"]
    guids["model_qn"] = model.qualified_name
    guids["nc_qn"], guids["pd_qn"] = nc.qualified_name, pd.qualified_name
    return guids


def test_dataset_registered_with_a_license_gets_its_license_classifications(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    ds = DatasetSpec(qualified_name=f"file:///data/{uid}/nc", name="nc", license="CC-BY-NC-4.0", creator="Lab")
    guid = registry.register_dataset(ds)
    tags = {c["typeName"]: c for c in client.get_classifications(guid)}
    assert set(tags) == {"NonCommercial", "AttributionRequired"}
    assert tags["NonCommercial"]["attributes"]["licenseId"] == "CC-BY-NC-4.0"
    assert "Lab" in tags["AttributionRequired"]["attributes"]["attributionText"]
    entity = client.get_entity(guid)["entity"]
    license_refs = entity["relationshipAttributes"]["licenses"]
    assert [r["displayText"] for r in license_refs] == ["Creative Commons Attribution Non Commercial 4.0"]


def test_changing_a_license_replaces_the_stale_tags(registry: GovernanceRegistry, client: AtlasClient,
                                                   uid: str) -> None:
    ds = DatasetSpec(qualified_name=f"file:///data/{uid}/relicensed", name="relicensed", license="CC-BY-NC-SA-4.0")
    guid = registry.register_dataset(ds)
    assert {c["typeName"] for c in client.get_classifications(guid)} == {
        "NonCommercial", "AttributionRequired", "ShareAlike"}
    registry.register_dataset(ds.model_copy(update={"license": "CC0-1.0"}))
    assert client.get_classifications(guid) == []


def test_training_run_links_datasets_to_model_in_atlas_lineage(registry: GovernanceRegistry, client: AtlasClient,
                                                               uid: str) -> None:
    g = _story(registry, uid)
    lineage = client.lineage(g["model"], direction="INPUT", depth=3)
    edges = {(r["fromEntityId"], r["toEntityId"]) for r in lineage["relations"]}
    assert (g["nc"], g["run"]) in edges
    assert (g["pd"], g["run"]) in edges
    assert (g["run"], g["model"]) in edges
    types = {guid: e["typeName"] for guid, e in lineage["guidEntityMap"].items()}
    assert types[g["run"]] == "ml_training_run" and types[g["nc"]] == "ml_dataset"


def test_model_inherits_each_upstream_tag_with_its_source(registry: GovernanceRegistry, uid: str) -> None:
    g = _story(registry, uid)
    tags = tags_of(registry.client, g["model_qn"])
    by_type = {}
    for tag in tags:
        by_type.setdefault(tag.type_name, []).append(tag)
    assert not any(t.direct for t in tags), "nothing was put on the model by hand"
    assert [t.source_qualified_name for t in by_type["NonCommercial"]] == [g["nc_qn"]]
    assert [t.source_qualified_name for t in by_type["PersonalData"]] == [g["pd_qn"]]
    assert by_type["PersonalData"][0].attributes["categories"] == ["email", "username"]
    assert "UnknownLicense" not in by_type  # CC0 is a known license: no tag of its own


def test_same_tag_type_from_two_datasets_arrives_twice_each_with_its_source(
        registry: GovernanceRegistry, uid: str) -> None:
    a = DatasetSpec(qualified_name=f"file:///data/{uid}/a", name="a", license="CC-BY-4.0", creator="A")
    b = DatasetSpec(qualified_name=f"file:///data/{uid}/b", name="b", license="ODC-By-1.0", creator="B")
    registry.register_dataset(a)
    registry.register_dataset(b)
    model = ModelSpec(qualified_name=f"models/{uid}/two", name="two")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-two", name="two",
                                                 inputs=[a.qualified_name, b.qualified_name], outputs=[model]))
    attributions = [t for t in tags_of(registry.client, model.qualified_name) if t.type_name == "AttributionRequired"]
    assert sorted(t.source_qualified_name for t in attributions) == [a.qualified_name, b.qualified_name]
    assert sorted(t.attributes["licenseId"] for t in attributions) == ["CC-BY-4.0", "ODC-By-1.0"]


def test_deleting_the_source_dataset_leaves_the_propagated_tag_on_the_model(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    g = _story(registry, uid)
    client.delete_entity(g["nc"])
    assert client.get_entity(g["nc"])["entity"]["status"] == "DELETED"
    tags = tags_of(registry.client, g["model_qn"])
    non_commercial = [t for t in tags if t.type_name == "NonCommercial"]
    assert [t.source_guid for t in non_commercial] == [g["nc"]]
    assert non_commercial[0].source_qualified_name == g["nc_qn"]


def test_re_recording_the_same_run_is_idempotent(registry: GovernanceRegistry, client: AtlasClient,
                                                 uid: str) -> None:
    g = _story(registry, uid)
    before = tags_of(registry.client, g["model_qn"])
    again = _story(registry, uid)
    assert again["run"] == g["run"] and again["model"] == g["model"]
    assert tags_of(registry.client, g["model_qn"]) == before
