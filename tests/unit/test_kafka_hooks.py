"""The Python hooks' kafka transport, its pure parts: which entities and tags each op's notification carries (the
same the REST registry writes), and how the transport is chosen (ATLAS_ML_TRANSPORT, atlas.ml.transport)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping.tags import derived_tags
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.transport.hooks import dataset_batch, message, training_run_batch
from atlas_mlplugin.transport.notification import decode, encode
from atlas_mlplugin.transport.registry import transport_handler
from atlas_mlplugin.transport.settings import transport_name

CATALOG = LicenseCatalog.from_csv()
CONSENT = ConsentRecordSpec(qualified_name="consent:survey", name="survey", purposes=["research"])
PEOPLE = DatasetSpec(qualified_name="file:///lake/people.csv", name="people", license="CC-BY-NC-4.0",
                     personal_data_categories=["contact"], consent_records=["consent:survey"])


def _tags(entity: dict) -> list[tuple[str, dict]]:
    return sorted((c["typeName"], c["attributes"]) for c in entity.get("classifications") or [])


def test_a_new_dataset_carries_the_license_and_the_tags_the_registry_derives() -> None:
    lic = CATALOG.get("CC-BY-NC-4.0")
    license_entity, dataset = dataset_batch(PEOPLE, lic, [CONSENT], new=True)
    assert license_entity == em.license_entity(lic)
    assert {k: v for k, v in dataset.items() if k != "classifications"} == em.dataset_entity(PEOPLE, lic)
    assert _tags(dataset) == _tags({"classifications": derived_tags(PEOPLE, lic, [CONSENT])})
    assert {name for name, _ in _tags(dataset)} == {"NonCommercial", "AttributionRequired", "PersonalData",
                                                    "ConsentScope"}
    assert all(c["propagate"] is True for c in dataset["classifications"])  # they must reach the models


def test_an_existing_dataset_is_sent_without_tags_which_atlas_would_ignore_on_update() -> None:
    _, dataset = dataset_batch(PEOPLE, CATALOG.get("CC-BY-NC-4.0"), [CONSENT], new=False)
    assert "classifications" not in dataset


def _run(**changes: object) -> TrainingRunSpec:
    spec = TrainingRunSpec(run_id="r1", name="fit", inputs=["file:///lake/people.csv", "file:///lake/new.csv"],
                           outputs=[ModelSpec(qualified_name="file:///models/m", name="m")])
    return spec.model_copy(update=changes)


def test_a_run_sends_placeholders_for_unregistered_inputs_its_models_and_itself() -> None:
    run = _run()
    placeholder, model, entity = training_run_batch(run, ["file:///lake/new.csv"], new=True)
    assert (placeholder["typeName"], placeholder["attributes"]["qualifiedName"]) == ("ml_dataset", "file:///lake/new.csv")
    assert [(n, a["licenseId"]) for n, a in _tags(placeholder)] == [("UnknownLicense", "UNREGISTERED")]
    assert model == em.model_entity(run.outputs[0])
    assert entity == em.training_run_entity(run, {})  # complete lineage: no IncompleteLineage


def test_a_new_run_with_inputs_nobody_could_name_carries_incomplete_lineage_an_existing_one_does_not() -> None:
    run = _run(unresolved_inputs=["LogicalRDD"])
    *_, new = training_run_batch(run, [], new=True)
    assert [n for n, _ in _tags(new)] == ["IncompleteLineage"]
    assert _tags(new)[0][1]["unresolvedInputs"] == ["LogicalRDD"]
    *_, existing = training_run_batch(run, [], new=False)
    assert "classifications" not in existing  # changed over REST: Atlas ignores it on an update


def test_the_notification_links_the_run_to_its_model_in_the_same_message_and_scrubs_credentials() -> None:
    run = _run(inputs=["https://ana:s3cret@files.example.com/people.csv"])
    values = encode(message(training_run_batch(run, run.inputs, new=True)))
    request = decode(values)
    assert request["type"] == "ENTITY_CREATE_V2"
    placeholder, model, entity = request["entities"]["entities"]
    # Atlas resolves uniqueAttributes only against entities that exist: a new model is named by its batch guid.
    assert entity["attributes"]["outputs"] == [{"guid": model["guid"], "typeName": "ml_model"}]
    assert entity["attributes"]["inputs"] == [{"guid": placeholder["guid"], "typeName": "ml_dataset"}]
    assert "s3cret" not in b"".join(values).decode()


def test_the_transport_comes_from_the_flag_then_the_environment_then_the_properties_files(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "atlas-application.properties").write_text("atlas.ml.transport=kafka\n")
    project = tmp_path / "atlas-ml.properties"
    project.write_text("# ours\natlas.ml.transport = rest\n")
    assert transport_name(None, {"ATLAS_CONF": str(conf)}) == "kafka"
    assert transport_name(None, {"ATLAS_CONF": str(conf), "ATLAS_ML_CONFIG": str(project)}) == "rest"
    assert transport_name(None, {"ATLAS_ML_CONFIG": str(project), "ATLAS_ML_TRANSPORT": "Kafka"}) == "kafka"
    assert transport_name("rest", {"ATLAS_CONF": str(conf)}) == "rest"
    project.write_text("atlas.ml.transport=http\n")
    with pytest.raises(ConfigError) as err:
        transport_name(None, {"ATLAS_ML_CONFIG": str(project)})
    assert f"{project}:1" in str(err.value) and "rest, kafka" in str(err.value)  # where, and what to write


def test_a_transport_is_looked_up_by_name_and_an_unknown_one_names_those_there_are() -> None:
    registry = GovernanceRegistry(AtlasClient(AtlasSettings(url="http://127.0.0.1:9")), CATALOG)
    assert callable(transport_handler("REST", registry))
    with pytest.raises(ConfigError, match="expected one of kafka, rest"):
        transport_handler("http", registry)
