"""What an officer finds in the Atlas UI after `atlas-ml check` records a verdict, on a real Atlas: one finding
entity per finding on the release, linked to the dataset it comes from (and listed on that dataset's page);
findings that are gone at a later check deleted; the model's verdict per release context in words; and an
attested anonymisation shown on the anonymised dataset and on the lineage graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.typedefs import apply, default_typedefs_dir
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.transport.hooks import KafkaOpHandler
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.settings import KafkaSettings

pytestmark = pytest.mark.integration


def dataset(registry: GovernanceRegistry, uid: str, name: str, **facts: Any) -> tuple[str, str]:
    qn = f"file:///{uid}/{name}"
    return qn, registry.register_dataset(DatasetSpec(qualified_name=qn, name=name, **facts))


def train(registry: GovernanceRegistry, uid: str, inputs: list[str]) -> str:
    model = ModelSpec(qualified_name=f"models/{uid}/m", name=f"m-{uid}")
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-run", name="train", inputs=inputs, outputs=[model]))
    return model.qualified_name


def check(run: Callable[..., Result], model: str, *context: str) -> dict[str, Any]:
    """`atlas-ml check MODEL ... --record` as a user runs it; the JSON report."""
    result = run("check", model, *context, "--record", "--format", "json")
    assert result.exit_code in (0, 2), result.output
    return dict(json.loads(result.output))


def release_of(client: AtlasClient, model: str, audience: str, terms: str) -> dict[str, Any]:
    found = client.find_entity("ml_release", f"{model}#release/{audience}/{terms}")
    assert found is not None, "the check did not record the release decision"
    return dict(found["entity"])


def findings_of(client: AtlasClient, release: dict[str, Any], status: str = "ACTIVE") -> list[dict[str, Any]]:
    refs = [r for r in release["relationshipAttributes"].get("findings") or [] if r.get("entityStatus") == status]
    if not refs:
        return []
    return list(client.get_entities([r["guid"] for r in refs])["entities"])


def test_each_finding_is_an_entity_on_the_release_linked_to_its_dataset(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    nc, nc_guid = dataset(registry, uid, "street-scenes", license="CC-BY-NC-4.0")
    sa, sa_guid = dataset(registry, uid, "map-tiles", license="CC-BY-SA-4.0")
    model = train(registry, uid, [nc, sa])

    report = check(run, model, "--audience", "public", "--commercial")
    assert report["verdict"] == "BLOCK"

    release = release_of(client, model, "public", "commercial")
    findings = findings_of(client, release)
    assert len(findings) == len(report["findings"]), "one finding entity per finding of the check"
    by_tag = {f["attributes"]["tag"]: f for f in findings}
    blocked = by_tag["NonCommercial"]
    attrs = blocked["attributes"]
    assert attrs["outcome"] == "BLOCK" and attrs["sourceDataset"] == nc
    expected = next(f for f in report["findings"] if f["tag"] == "NonCommercial")
    assert attrs["message"] == expected["message"] and attrs["remedy"] == expected["remedy"]
    assert attrs["name"] == f"BLOCK: NonCommercial from {nc} for m-{uid} (public commercial)"
    assert expected["message"] in attrs["description"]  # the header of the finding's page
    # Clickable both ways: the finding names its dataset, the dataset lists the findings naming it.
    assert blocked["relationshipAttributes"]["source"]["guid"] == nc_guid
    assert blocked["relationshipAttributes"]["release"]["guid"] == release["guid"]
    on_dataset = client.get_entity(nc_guid)["entity"]["relationshipAttributes"]["releaseFindings"]
    assert blocked["guid"] in {r["guid"] for r in on_dataset}
    assert by_tag["ShareAlike"]["relationshipAttributes"]["source"]["guid"] == sa_guid
    # findingsJson stays for tools.
    assert len(json.loads(release["attributes"]["findingsJson"])) == len(report["findings"])

    check(run, model, "--audience", "public", "--commercial")  # the same check again changes nothing
    again = findings_of(client, release_of(client, model, "public", "commercial"))
    assert sorted(f["guid"] for f in again) == sorted(f["guid"] for f in findings)


def test_a_recheck_after_the_cause_is_fixed_deletes_the_old_finding(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    qn, guid = dataset(registry, uid, "relicensed", license="CC-BY-NC-4.0")
    model = train(registry, uid, [qn])
    assert check(run, model, "--audience", "public", "--commercial")["verdict"] == "BLOCK"
    [old] = [f for f in findings_of(client, release_of(client, model, "public", "commercial"))
             if f["attributes"]["tag"] == "NonCommercial"]

    registry.register_dataset(DatasetSpec(qualified_name=qn, name="relicensed", license="CC0-1.0"))  # fixed
    assert check(run, model, "--audience", "public", "--commercial")["verdict"] == "PASS"

    release = release_of(client, model, "public", "commercial")
    assert [f for f in findings_of(client, release) if f["attributes"]["tag"] == "NonCommercial"] == []
    assert client.get_entity(old["guid"])["entity"]["status"] == "DELETED"  # kept, shown struck through
    assert old["guid"] in {f["guid"] for f in findings_of(client, release, "DELETED")}
    summary = client.find_entity("ml_model", model)["entity"]["attributes"]["governanceSummary"]
    assert summary.startswith("Public commercial release: PASS") and "Blocked because" not in summary


def test_the_model_explains_each_release_context_in_words(
        registry: GovernanceRegistry, client: AtlasClient, run: Callable[..., Result], uid: str) -> None:
    qn, _ = dataset(registry, uid, "nc", license="CC-BY-NC-4.0")
    model = train(registry, uid, [qn])
    internal = check(run, model, "--audience", "internal", "--non-commercial")
    public = check(run, model, "--audience", "public", "--commercial")
    assert (internal["verdict"], public["verdict"]) == ("PASS", "BLOCK")

    summary = client.find_entity("ml_model", model)["entity"]["attributes"]["governanceSummary"]
    assert summary.startswith("Internal non-commercial release: PASS, may go ahead")
    assert "Public commercial release: BLOCK, must not go ahead" in summary
    blocker = next(f for f in public["findings"] if f["outcome"] == "BLOCK")
    assert blocker["message"] in summary and blocker["remedy"].rstrip(".") in summary
    assert blocker["rule_id"] not in summary and "{" not in summary

    check(run, model, "--audience", "internal", "--non-commercial")  # the narrower one checked last
    summary = client.find_entity("ml_model", model)["entity"]["attributes"]["governanceSummary"]
    assert "Public commercial release: BLOCK" in summary, "checking one context must not hide the others"


def test_an_attested_anonymisation_shows_on_the_dataset_and_on_the_lineage_graph(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    raw, _ = dataset(registry, uid, "support-chats", license="CC0-1.0", personal_data_categories=["email"])
    anon = DatasetSpec(qualified_name=f"file:///{uid}/support-chats-anon", name="support-chats-anon",
                       license="CC0-1.0")
    attestation = "Privacy office (J. Doe), 2026-04-02: names and emails removed; review ticket PRIV-231"
    step = registry.record_derivation(DerivationSpec(
        qualified_name=f"derive:{uid}/anonymize", name="anonymize support chats", derivation_type="anonymize",
        inputs=[raw], outputs=[anon], attested=True, attestation=attestation))

    anon_entity = client.find_entity("ml_dataset", anon.qualified_name)["entity"]
    tags = {c["typeName"]: c for c in anon_entity.get("classifications") or []}
    assert "PersonalData" not in tags
    attested = tags["AnonymisationAttested"]
    assert attested["entityGuid"] == anon_entity["guid"] and attested["propagate"] is False
    assert attested["attributes"]["attestation"] == attestation
    assert attested["attributes"]["stoppedTags"] == ["PersonalData"]
    assert attested["attributes"]["sourceDatasets"] == [raw]
    assert attested["attributes"]["derivation"] == f"derive:{uid}/anonymize"

    model = train(registry, uid, [anon.qualified_name])
    model_guid = client.find_entity("ml_model", model)["entity"]["guid"]
    model_tags = {c["typeName"] for c in client.get_classifications(model_guid)}
    assert "PersonalData" not in model_tags and "AnonymisationAttested" not in model_tags  # not passed on

    # What the Atlas UI draws: each node is labelled with the displayText of the lineage answer (17 visible
    # characters, the rest on hover).
    lineage = client.lineage(model_guid, "INPUT", depth=5)
    node = lineage["guidEntityMap"][step]
    assert node["displayText"].startswith("PII stops here: anonymize support chats")
    assert "J. Doe" in node["displayText"] and "2026-04-02" in node["displayText"]
    assert client.get_entity(step)["entity"]["attributes"]["name"] == "anonymize support chats"


def test_a_step_that_is_not_attested_is_shown_by_its_name(registry: GovernanceRegistry, client: AtlasClient,
                                                         uid: str) -> None:
    raw, _ = dataset(registry, uid, "raw", license="CC0-1.0")
    out = DatasetSpec(qualified_name=f"file:///{uid}/filtered", name="filtered", license="CC0-1.0")
    step = registry.record_derivation(DerivationSpec(qualified_name=f"derive:{uid}/filter", name="filter rows",
                                                     derivation_type="filter", inputs=[raw], outputs=[out]))
    out_guid = client.find_entity("ml_dataset", out.qualified_name)["entity"]["guid"]
    assert client.lineage(out_guid, "INPUT")["guidEntityMap"][step]["displayText"] == "filter rows"


def test_typedefs_apply_upgraded_this_atlas(client: AtlasClient) -> None:
    # The session applied the files (to a server that had the earlier versions, or none): the new types exist
    # and the bumped ones carry what the check and the lineage graph rely on.
    assert not apply(client).changed
    derivation = client.request("GET", "/v2/types/entitydef/name/ml_derivation")
    assert (derivation.get("options") or {}).get("displayTextAttribute") == "lineageLabel"
    assert "lineageLabel" in {a["name"] for a in derivation["attributeDefs"]}
    finding = client.request("GET", "/v2/types/entitydef/name/ml_release_finding")
    assert {"outcome", "message", "remedy", "tag", "sourceDataset"} <= {a["name"] for a in finding["attributeDefs"]}
    for relationship in ("ml_release_findings", "ml_finding_source"):
        assert client.request("GET", f"/v2/types/relationshipdef/name/{relationship}")["name"] == relationship
    assert client.request("GET", "/v2/types/classificationdef/name/AnonymisationAttested")["name"]


def test_apply_upgrades_a_step_type_of_the_previous_version_in_place(client: AtlasClient, uid: str,
                                                                     tmp_path: Path) -> None:
    # ml_derivation as the previous release defined it (1.1: no label, no display option), under a name of
    # this test's own, applied; then the current definition with a bumped typeVersion: apply must update it
    # where it stands (Atlas accepts a new optional attribute and the display option on an existing type).
    current = next(d for d in json.loads((default_typedefs_dir() / "10-ml" / "45-etl.json").read_text())["entityDefs"]
                   if d["name"] == "ml_derivation")
    name = f"ml_derivation_upgrade_{uid}"
    previous = {**current, "name": name, "typeVersion": "1.1",
                "attributeDefs": [a for a in current["attributeDefs"] if a["name"] != "lineageLabel"]}
    previous.pop("options")
    root = tmp_path / "typedefs" / "10-ml"
    root.mkdir(parents=True)

    def write(definition: dict[str, Any]) -> None:
        (root / "45-etl.json").write_text(json.dumps({"entityDefs": [definition]}))

    write(previous)
    try:
        assert [n for _, n, _ in apply(client, root.parent).created] == [name]
        write({**current, "name": name})
        report = apply(client, root.parent)
        assert [(n, old, new) for _, n, old, new in report.updated] == [(name, "1.1", current["typeVersion"])]
        upgraded = client.request("GET", f"/v2/types/entitydef/name/{name}")
        assert upgraded["typeVersion"] == current["typeVersion"]
        assert (upgraded.get("options") or {}).get("displayTextAttribute") == "lineageLabel"
        assert "lineageLabel" in {a["name"] for a in upgraded["attributeDefs"]}
    finally:
        client.request("DELETE", "/v2/types/typedefs", json={"entityDefs": [{"name": name}]})


def test_a_catalog_apply_records_the_attestation_too(client: AtlasClient, run: Callable[..., Result], uid: str,
                                                     tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"""version: 1
datasets:
  - qualified_name: file:///{uid}/chats
    name: chats
    license: CC0-1.0
    personal_data_categories: [email]
derivations:
  - qualified_name: derive:{uid}/anonymize-chats
    name: anonymize chats
    derivation_type: anonymize
    inputs: [file:///{uid}/chats]
    attested: true
    attestation: Privacy office (J. Doe), 2026-04-02, redaction pipeline v1.4
    outputs:
      - qualified_name: file:///{uid}/chats-anon
        name: chats-anon
        license: CC0-1.0
""")
    result = run("apply", str(catalog))
    assert result.exit_code == 0, result.output
    anon = client.find_entity("ml_dataset", f"file:///{uid}/chats-anon")["entity"]
    tags = {c["typeName"]: c for c in anon.get("classifications") or []}
    assert "PersonalData" not in tags
    assert tags["AnonymisationAttested"]["attributes"]["attestation"].startswith("Privacy office (J. Doe)")
    step = client.find_entity("ml_derivation", f"derive:{uid}/anonymize-chats")["entity"]
    label = client.lineage(anon["guid"], "INPUT")["guidEntityMap"][step["guid"]]["displayText"]
    assert label.startswith("PII stops here: anonymize chats")

    again = run("apply", str(catalog))  # applying again changes nothing and keeps the attestation
    assert again.exit_code == 0, again.output
    assert "AnonymisationAttested" in {c["typeName"] for c in client.get_classifications(anon["guid"])}

    # The attestation is withdrawn in the file: the personal data flows again, the claim goes.
    catalog.write_text(catalog.read_text().replace("attested: true", "attested: false").replace(
        "    attestation: Privacy office (J. Doe), 2026-04-02, redaction pipeline v1.4\n", ""))
    withdrawn = run("apply", str(catalog))
    assert withdrawn.exit_code == 0, withdrawn.output
    tags = {c["typeName"] for c in client.get_classifications(anon["guid"])}
    assert "PersonalData" in tags and "AnonymisationAttested" not in tags


def test_an_attestation_withdrawn_lets_personal_data_through_again(registry: GovernanceRegistry,
                                                                  client: AtlasClient, uid: str) -> None:
    raw, _ = dataset(registry, uid, "chats", license="CC0-1.0", personal_data_categories=["email"])
    anon = DatasetSpec(qualified_name=f"file:///{uid}/chats-anon", name="chats-anon", license="CC0-1.0")
    spec = DerivationSpec(qualified_name=f"derive:{uid}/anonymize", name="anonymize chats",
                          derivation_type="anonymize", inputs=[raw], outputs=[anon], attested=True,
                          attestation="Privacy office (J. Doe), 2026-04-02")
    step = registry.record_derivation(spec)
    anon_guid = client.find_entity("ml_dataset", anon.qualified_name)["entity"]["guid"]
    assert "PersonalData" not in {c["typeName"] for c in client.get_classifications(anon_guid)}

    # The re-identification review failed: the step is recorded again, no longer attested.
    registry.record_derivation(spec.model_copy(update={"attested": False, "attestation": None}))
    tags = {c["typeName"] for c in client.get_classifications(anon_guid)}
    assert "PersonalData" in tags, "with the attestation gone the personal data must reach the models again"
    assert "AnonymisationAttested" not in tags
    out_guid = client.find_entity("ml_dataset", anon.qualified_name)["entity"]["guid"]
    assert client.lineage(out_guid, "INPUT")["guidEntityMap"][step]["displayText"] == "anonymize chats"


def test_through_kafka_too_a_withdrawn_attestation_lets_personal_data_through(
        registry: GovernanceRegistry, client: AtlasClient, kafka_settings: KafkaSettings, uid: str) -> None:
    raw, _ = dataset(registry, uid, "people", license="CC0-1.0", personal_data_categories=["contact"])
    anon = DatasetSpec(qualified_name=f"file:///{uid}/people-anon", name="people-anon", license="CC0-1.0")
    spec = DerivationSpec(qualified_name=f"derive:{uid}/anonymize-k", name="anonymize people",
                          derivation_type="anonymize", inputs=[raw], outputs=[anon], attested=True,
                          attestation="k-anonymity (k=10) checked by the DPO on 2026-04-02")
    hooks = KafkaOpHandler(registry, HookPublisher(kafka_settings))
    hooks.record_derivation(spec)
    hooks.settle()
    anon_guid = client.find_entity("ml_dataset", anon.qualified_name)["entity"]["guid"]
    tags = {c["typeName"] for c in client.get_classifications(anon_guid)}
    assert "AnonymisationAttested" in tags and "PersonalData" not in tags

    hooks.record_derivation(spec.model_copy(update={"attested": False, "attestation": None}))
    hooks.settle()
    tags = {c["typeName"] for c in client.get_classifications(anon_guid)}
    assert "PersonalData" in tags and "AnonymisationAttested" not in tags
