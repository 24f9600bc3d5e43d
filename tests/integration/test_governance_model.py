"""Licenses, consent, retraction and derivations on a real Atlas: what each model inherits, and why."""

from __future__ import annotations

from datetime import date

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.licenses import UnknownLicenseError
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads import tags_of

pytestmark = pytest.mark.integration


def train(registry: GovernanceRegistry, uid: str, inputs: list[str], name: str = "m") -> str:
    model = ModelSpec(qualified_name=f"models/{uid}/{name}", name=name)
    registry.record_training_run(TrainingRunSpec(run_id=f"{uid}-{name}", name=f"train {name}", inputs=inputs,
                                                 outputs=[model]))
    return model.qualified_name


def tag_sources(registry: GovernanceRegistry, model_qn: str, type_name: str) -> list[str | None]:
    return sorted(t.source_qualified_name for t in tags_of(registry.client, model_qn) if t.type_name == type_name)


def test_non_commercial_tag_comes_from_exactly_the_non_commercial_dataset(registry: GovernanceRegistry,
                                                                         uid: str) -> None:
    nc = registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/nc", name="nc", license="CC-BY-NC-4.0"))
    cc0 = registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/cc0", name="cc0", license="CC0-1.0"))
    assert nc and cc0
    model = train(registry, uid, [f"file:///{uid}/nc", f"file:///{uid}/cc0"])
    assert tag_sources(registry, model, "NonCommercial") == [f"file:///{uid}/nc"]
    assert not [t for t in tags_of(registry.client, model) if t.source_qualified_name == f"file:///{uid}/cc0"]


def test_consent_withdrawn_after_training_reaches_the_model(registry: GovernanceRegistry, client: AtlasClient,
                                                            uid: str) -> None:
    consent = ConsentRecordSpec(qualified_name=f"consent:{uid}", name="panel consent",
                                purposes=["model-training", "research"], legal_basis="consent")
    registry.register_consent(consent)
    ds = DatasetSpec(qualified_name=f"file:///{uid}/voices", name="voices", license="CC-BY-4.0",
                     personal_data_categories=["voice"], consent_records=[consent.qualified_name])
    ds_guid = registry.register_dataset(ds)
    scope = {c["typeName"]: c for c in client.get_classifications(ds_guid)}["ConsentScope"]
    assert scope["attributes"]["purposes"] == ["model-training", "research-and-development"]  # stored canonical

    model = train(registry, uid, [ds.qualified_name])
    assert "ConsentWithdrawn" not in {t.type_name for t in tags_of(registry.client, model)}

    registry.withdraw_consent(consent.qualified_name)
    withdrawn = [t for t in tags_of(registry.client, model) if t.type_name == "ConsentWithdrawn"]
    assert [t.source_qualified_name for t in withdrawn] == [ds.qualified_name]
    assert withdrawn[0].attributes["consentRecord"] == consent.qualified_name
    assert "ConsentScope" not in {t.type_name for t in tags_of(registry.client, model)}, "no valid consent is left"


def test_retracted_dataset_deleted_from_atlas_still_marks_the_model(registry: GovernanceRegistry,
                                                                    client: AtlasClient, uid: str) -> None:
    qn = f"file:///{uid}/celeb-faces"
    guid = registry.register_dataset(DatasetSpec(qualified_name=qn, name="celeb-faces",
                                                 license="LicenseRef-research-only", personal_data_categories=["face"]))
    model = train(registry, uid, [qn])
    registry.retract_dataset(qn, "withdrawn by its creators", when=date(2019, 6, 6),
                             notice_url="https://example.org/notice")
    assert client.get_entity(guid)["entity"]["attributes"]["retractionStatus"] == "retracted"
    client.delete_entity(guid)

    retracted = [t for t in tags_of(registry.client, model) if t.type_name == "Retracted"]
    assert [t.source_guid for t in retracted] == [guid]
    assert retracted[0].attributes["reason"] == "withdrawn by its creators"
    assert {"ResearchOnly", "PersonalData"} <= {t.type_name for t in tags_of(registry.client, model)}


def test_two_hop_derivation_carries_retraction_to_the_model(registry: GovernanceRegistry, uid: str) -> None:
    source = f"file:///{uid}/duke"
    registry.register_dataset(DatasetSpec(qualified_name=source, name="duke", license="CC-BY-NC-SA-4.0"))
    relabeled = DatasetSpec(qualified_name=f"file:///{uid}/duke-relabeled", name="duke-relabeled",
                            license="CC-BY-NC-SA-4.0")
    registry.record_derivation(DerivationSpec(qualified_name=f"derive:{uid}:relabel", name="relabel",
                                              derivation_type="relabel", inputs=[source], outputs=[relabeled]))
    model = train(registry, uid, [relabeled.qualified_name])
    registry.retract_dataset(source, "consent concerns")
    assert tag_sources(registry, model, "Retracted") == [source]
    # The copy's own license tags and the source's both arrive: two hops, two sources.
    assert tag_sources(registry, model, "NonCommercial") == [source, relabeled.qualified_name]


def test_attested_anonymization_stops_personal_data_but_not_license_tags(registry: GovernanceRegistry,
                                                                         uid: str) -> None:
    raw = DatasetSpec(qualified_name=f"file:///{uid}/chats", name="chats", license="CC-BY-NC-4.0",
                      personal_data_categories=["email", "name"], special_categories=["health"])
    registry.register_dataset(raw)
    anon = DatasetSpec(qualified_name=f"file:///{uid}/chats-anon", name="chats-anon", license="CC-BY-NC-4.0")
    registry.record_derivation(DerivationSpec(
        qualified_name=f"derive:{uid}:anon", name="anonymize chats", derivation_type="anonymize",
        inputs=[raw.qualified_name], outputs=[anon], attested=True,
        attestation="k-anonymity k=10 checked by the privacy office, ticket PRIV-42"))
    model = train(registry, uid, [anon.qualified_name])
    types = {t.type_name for t in tags_of(registry.client, model)}
    assert "PersonalData" not in types and "SpecialCategoryData" not in types
    assert tag_sources(registry, model, "NonCommercial") == sorted([raw.qualified_name, anon.qualified_name])

    # Without the attestation the same step is just a transformation: personal data flows on.
    unattested = DatasetSpec(qualified_name=f"file:///{uid}/chats-anon2", name="chats-anon2", license="CC-BY-NC-4.0")
    registry.record_derivation(DerivationSpec(
        qualified_name=f"derive:{uid}:anon2", name="anonymize chats (unchecked)", derivation_type="anonymize",
        inputs=[raw.qualified_name], outputs=[unattested]))
    model2 = train(registry, uid, [unattested.qualified_name], name="m2")
    assert tag_sources(registry, model2, "PersonalData") == [raw.qualified_name]


def test_unknown_license_is_refused_with_close_matches_and_nothing_is_written(
        registry: GovernanceRegistry, client: AtlasClient, uid: str) -> None:
    with pytest.raises(UnknownLicenseError) as err:
        registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/x", name="x", license="CC-BY-NC-4"))
    assert "CC-BY-NC-4.0" in str(err.value)
    assert client.find_entity("ml_dataset", f"file:///{uid}/x") is None


def test_dataset_fingerprint_is_computed_from_a_local_file(registry: GovernanceRegistry, client: AtlasClient,
                                                           uid: str, tmp_path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("a,b\n1,2\n")
    guid = registry.register_dataset(DatasetSpec(qualified_name=f"file://{data}", name="train.csv",
                                                 license="CC0-1.0", local_path=data))
    import hashlib

    assert client.get_entity(guid)["entity"]["attributes"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
