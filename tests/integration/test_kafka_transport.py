"""The kafka transport against the real Atlas's embedded Kafka: the same OpenLineage scenario through REST and
through ATLAS_HOOK leaves the same entities, relationships and tags (direct and propagated) in Atlas; a
notification delivered twice creates nothing twice; a Kafka that is down costs a drain a bounded wait and keeps
every event in its directory.

The broker: ATLAS_KAFKA_BOOTSTRAP_SERVERS, else the test session's local Atlas (`server status` reports it).
Against another Atlas (ATLAS_URL) without that variable the tests skip."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.server.launcher import LocalAtlas
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.lineage import KafkaLineageWriter
from atlas_mlplugin.transport.notification import create_request
from atlas_mlplugin.transport.settings import KafkaSettings, load_kafka_settings
from tests.integration.snapshots import snapshot
from tests.integration.snapshots import wait_for as _wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def kafka_settings(local_atlas: LocalAtlas | None) -> KafkaSettings:
    bootstrap = os.environ.get("ATLAS_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap and local_atlas is not None:
        bootstrap = local_atlas.status().kafka_bootstrap_servers
    if not bootstrap:
        pytest.skip("no Kafka of this Atlas known: set ATLAS_KAFKA_BOOTSTRAP_SERVERS (`atlas-ml server status --json`)")
    return load_kafka_settings(None, {"ATLAS_KAFKA_BOOTSTRAP_SERVERS": bootstrap})


@pytest.fixture(scope="session")
def publisher(kafka_settings: KafkaSettings) -> HookPublisher:
    return HookPublisher(kafka_settings)


def _event(job: str, inputs: list[str], outputs: list[str], *, ml: dict | None = None,
           unresolved: list[str] | None = None) -> dict:
    spark: dict[str, Any] = {"applicationId": "local-1", "applicationName": "etl", "executionId": 3, "user": "ana"}
    if unresolved:
        spark["unresolvedInputs"] = unresolved
    facets: dict[str, Any] = {"atlasSpark": spark}
    if ml:
        facets["atlasMl"] = ml
    return {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4()), "facets": facets}, "job": {"namespace": "spark", "name": job},
            "inputs": [{"namespace": "file", "name": n} for n in inputs],
            "outputs": [{"namespace": "file", "name": n} for n in outputs]}


def _names(p: str) -> list[tuple[str, str]]:
    """Every entity the scenario leaves in Atlas, by type and qualifiedName."""
    return [("ml_dataset", f"file:///{p}/raw/people.csv"), ("ml_dataset", f"file:///{p}/raw/orders.csv"),
            ("ml_dataset", f"file:///{p}/clean/people.parquet"), ("ml_dataset", f"file:///{p}/gold/joined.parquet"),
            ("ml_model", f"file:///{p}/models/lr"),
            ("ml_spark_process", f"spark-write:file:///{p}/clean/people.parquet"),
            ("ml_spark_process", f"spark-write:file:///{p}/gold/joined.parquet"),
            ("ml_training_run", f"spark:{p}.fit")]


def _scenario(p: str, registry: GovernanceRegistry, directory: Path, ingestor: LineageIngestor) -> None:
    """A registered licensed input, an unregistered one, ETL steps and a training run whose one input could not
    be named: license, unknown-license and incomplete-lineage tags must all reach the model."""
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{p}/raw/people.csv", name="people",
                                          license="CC-BY-NC-4.0", personal_data_categories=["contact"]))
    directory.mkdir()
    events = [
        _event(f"{p}.clean", [f"/{p}/raw/people.csv"], [f"/{p}/clean/people.parquet"]),
        _event(f"{p}.join", [f"/{p}/clean/people.parquet", f"/{p}/raw/orders.csv"], [f"/{p}/gold/joined.parquet"]),
        _event(f"{p}.fit", [f"/{p}/gold/joined.parquet"], [f"/{p}/models/lr"],
               ml={"estimator": "org.apache.spark.ml.Pipeline", "params": {"maxIter": 10}},
               unresolved=["LogicalRDD: an RDD without a path"]),
    ]
    for i, ev in enumerate(events):
        (directory / f"{i:03d}.json").write_text(json.dumps(ev))
    report = ingestor.drain(directory)
    assert (report.applied, report.rejected, report.remaining) == (3, [], 0), report.summary()


def _snapshot(client: AtlasClient, p: str) -> dict[str, Any]:
    """What Atlas holds for the scenario, with the prefix, guids and times taken out."""
    return snapshot(client, _names(p), p)


def test_the_same_events_through_rest_and_through_kafka_leave_the_same_lineage_and_tags(
        registry: GovernanceRegistry, client: AtlasClient, publisher: HookPublisher, uid: str,
        tmp_path: Path) -> None:
    rest, kafka = f"rest{uid}", f"kafka{uid}"
    _scenario(rest, registry, tmp_path / "rest", LineageIngestor(registry))
    _scenario(kafka, registry, tmp_path / "kafka",
              LineageIngestor(registry, writer=KafkaLineageWriter(registry, publisher)))
    expected = _snapshot(client, rest)
    model_tags = {t["type"] for t in expected["file:///PREFIX/models/lr"]["tags"]}
    assert {"NonCommercial", "PersonalData", "UnknownLicense", "IncompleteLineage"} <= model_tags  # the scenario
    # Atlas applies the hook topic at its own pace: wait until it has caught up, then they must be equal.
    _wait_for(lambda: _snapshot(client, kafka) == expected)
    assert _snapshot(client, kafka) == expected


def test_a_notification_delivered_twice_creates_one_entity(
        client: AtlasClient, publisher: HookPublisher, uid: str) -> None:
    qualified_name = f"file:///twice{uid}/data.csv"
    entity = {"typeName": "ml_dataset", "guid": "-1",
              "attributes": {"qualifiedName": qualified_name, "name": "data.csv", "declaredLicense": "NOASSERTION"}}
    publisher.publish([(qualified_name, create_request([entity]))])
    publisher.publish([(qualified_name, create_request([entity]))])
    marker = f"file:///twice{uid}/after.csv"  # sent last: once it exists, both copies were applied
    publisher.publish([(qualified_name, create_request([{**entity, "attributes": {
        **entity["attributes"], "qualifiedName": marker, "name": "after.csv"}}]))])
    assert _wait_for(lambda: client.find_entity("ml_dataset", marker) is not None)
    found = client.request("POST", "/v2/search/basic", json={
        "typeName": "ml_dataset", "excludeDeletedEntities": False, "limit": 10,
        "entityFilters": {"attributeName": "qualifiedName", "operator": "eq", "attributeValue": qualified_name}})
    assert [h["attributes"]["qualifiedName"] for h in found.get("entities") or []] == [qualified_name]


def test_kafka_down_keeps_the_events_and_returns_promptly(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    down = HookPublisher(load_kafka_settings(None, {"ATLAS_KAFKA_BOOTSTRAP_SERVERS": dead}, delivery_timeout=2.0))
    directory = tmp_path / "events"
    directory.mkdir()
    (directory / "000.json").write_text(json.dumps(_event(f"down{uid}.clean", [f"/down{uid}/a.csv"],
                                                          [f"/down{uid}/b.csv"])))
    started = time.monotonic()
    report = LineageIngestor(registry, writer=KafkaLineageWriter(registry, down)).drain(directory)
    assert time.monotonic() - started < 15
    assert (report.applied, report.remaining, report.rejected) == (0, 1, [])
    assert "Kafka" in (report.error or "")
    assert [p.name for p in directory.glob("*.json")] == ["000.json"]  # kept, in order, for the next drain
    assert client.find_entity("ml_dataset", f"file:///down{uid}/b.csv") is None


def test_atlas_ml_ingest_with_the_kafka_transport(
        client: AtlasClient, atlas_settings: Any, kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    directory = tmp_path / "events"
    directory.mkdir()
    (directory / "000.json").write_text(json.dumps(_event(f"cli{uid}.clean", [f"/cli{uid}/a.csv"],
                                                          [f"/cli{uid}/b.csv"])))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "ATLAS_URL": atlas_settings.url,
           "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else "",
           "ATLAS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "ATLAS_ML_TRANSPORT": "kafka"}
    done = subprocess.run([sys.executable, "-m", "atlas_mlplugin.cli.main", "ingest", str(directory)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "applied 1 event(s)" in done.stderr
    assert _wait_for(lambda: client.find_entity("ml_spark_process", f"spark-write:file:///cli{uid}/b.csv") is not None)
    tags = client.find_entity("ml_dataset", f"file:///cli{uid}/a.csv")["entity"].get("classifications") or []
    assert [(t["typeName"], t["attributes"]["licenseId"]) for t in tags] == [("UnknownLicense", "UNREGISTERED")]
