"""The kafka transport against the real Atlas's embedded Kafka: the same OpenLineage scenario through REST and
through ATLAS_HOOK leaves the same entities, relationships and tags (direct and propagated) in Atlas; a
notification delivered twice creates nothing twice; a Kafka that is down costs a drain a bounded wait and keeps
every event in its directory.

The broker: ATLAS_KAFKA_BOOTSTRAP_SERVERS, else the test session's local Atlas (`server status` reports it); the
container backend sets that variable to its published broker (atlas_container.py). Against another Atlas
(ATLAS_URL) without that variable the tests skip."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.lineage import KafkaLineageWriter
from atlas_mlplugin.transport.notification import create_request
from atlas_mlplugin.transport.settings import KafkaSettings, load_kafka_settings
from tests.integration.snapshots import APPLY_TIMEOUT, snapshot
from tests.integration.snapshots import wait_for as _wait_for

pytestmark = pytest.mark.integration


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


def _snapshot(client: AtlasClient, p: str, names: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """What Atlas holds for the scenario (or of `names`), with the prefix, guids and times taken out."""
    return snapshot(client, names if names is not None else _names(p), p)


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


def _drain_both(registry: GovernanceRegistry, client: AtlasClient, publisher: HookPublisher, tmp_path: Path,
                prefixes: dict[str, str], events_of: Callable[[str], list[dict]], batch_size: int,
                caplog: pytest.LogCaptureFixture) -> dict[str, tuple[Any, int, int]]:
    """The same events (under a prefix per transport) drained through REST and through Kafka in batches of
    `batch_size`: per transport its report, the REST requests it made and its 'nobody registered' lines."""
    import logging

    from atlas_mlplugin.reads.entities import count_requests

    done = {}
    for transport, prefix in prefixes.items():
        directory = tmp_path / transport
        directory.mkdir()
        for i, ev in enumerate(events_of(prefix)):
            (directory / f"{i:05d}-{uuid.uuid4().hex}.json").write_text(json.dumps(ev))
        writer = KafkaLineageWriter(registry, publisher, apply_timeout=APPLY_TIMEOUT) if transport == "kafka" else None
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="atlas_mlplugin"), count_requests(client) as calls:
            report = LineageIngestor(registry, writer=writer, batch_size=batch_size).drain(directory)
        lines = [r for r in caplog.records if "nobody registered" in r.getMessage()]
        done[transport] = (report, calls[0], len(lines))
    return done


def test_a_kafka_batch_reads_per_batch_not_per_event_and_leaves_what_rest_leaves(
        registry: GovernanceRegistry, client: AtlasClient, publisher: HookPublisher, uid: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The finding: the kafka transport read Atlas once per output and once per process of every event and
    logged a line per event naming its unregistered inputs. It now plans each batch as REST does: its reads
    grow with batches, not events; one summary line per batch that recorded placeholders, as over REST."""
    from tests.integration.test_openlineage_ingest import _snapshot as story_snapshot
    from tests.integration.test_openlineage_ingest import _story

    jobs, batch_size = 60, 20
    prefixes = {"rest": f"{uid}rest", "kafka": f"{uid}kafka"}
    for prefix in prefixes.values():
        registry.register_dataset(DatasetSpec(qualified_name=f"file:///{prefix}/pool/p0", name="p0",
                                              license="CC-BY-NC-4.0"))
    done = _drain_both(registry, client, publisher, tmp_path, prefixes, lambda p: _story(p, jobs), batch_size,
                       caplog)
    (rest, _, rest_lines), (kafka, kafka_calls, kafka_lines) = done["rest"], done["kafka"]
    events, batches = jobs + 2, -(-(jobs + 2) // batch_size)
    assert (kafka.applied, kafka.rejected, kafka.error, kafka.batches) == (events, [], None, batches)
    assert kafka.unregistered == rest.unregistered == 15  # p1..p14 and src, once each
    assert kafka_lines == rest_lines <= batches
    # Per batch: one bulk look-up per entity type it names (at most four), and a tag fix-up now and then.
    assert kafka_calls <= 5 * batches, f"{kafka_calls} REST calls for {batches} batches of {events} events"
    expected = story_snapshot(client, prefixes["rest"])
    _wait_for(lambda: story_snapshot(client, prefixes["kafka"]) == expected)
    assert story_snapshot(client, prefixes["kafka"]) == expected


def _in_flight_story(p: str) -> list[dict]:
    """Each event needs what the one before it published: an output read next, a placeholder written next,
    and a training run recorded without inputs and then with them (its IncompleteLineage must go)."""
    fit = {"estimator": "LogisticRegression", "params": {"maxIter": 5}}
    return [
        _event(f"{p}.clean", [f"/{p}/raw/src.csv"], [f"/{p}/mid/clean.parquet"]),
        _event(f"{p}.join", [f"/{p}/mid/clean.parquet", f"/{p}/pool/shared.csv"], [f"/{p}/gold/joined.parquet"]),
        _event(f"{p}.late", [f"/{p}/raw/other.csv"], [f"/{p}/pool/shared.csv"]),
        _event(f"{p}.fit", [], [f"/{p}/models/lr"], ml=fit),
        _event(f"{p}.fit", [f"/{p}/gold/joined.parquet"], [f"/{p}/models/lr"], ml=fit),
    ]


def _in_flight_names(p: str) -> list[tuple[str, str]]:
    return [*(("ml_dataset", f"file:///{p}/{name}") for name in ("raw/src.csv", "mid/clean.parquet", "pool/shared.csv",
                                                                "raw/other.csv", "gold/joined.parquet")),
            ("ml_model", f"file:///{p}/models/lr"), ("ml_training_run", f"spark:{p}.fit"),
            *(("ml_spark_process", f"spark-write:file:///{p}/{name}") for name in ("mid/clean.parquet",
                                                                                   "pool/shared.csv",
                                                                                   "gold/joined.parquet"))]


def test_events_that_need_what_the_one_before_published_end_as_over_rest(
        registry: GovernanceRegistry, client: AtlasClient, publisher: HookPublisher, uid: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """One event per batch, so each is planned while Atlas may not have applied the one before: an output in
    flight that is read is no placeholder, a placeholder in flight that is written loses its UnknownLicense, a
    training run in flight recorded again with inputs loses its IncompleteLineage, as over REST."""
    prefixes = {"rest": f"{uid}rest", "kafka": f"{uid}kafka"}
    done = _drain_both(registry, client, publisher, tmp_path, prefixes, _in_flight_story, 1, caplog)
    assert (done["kafka"][0].applied, done["kafka"][0].error) == (5, None)
    assert done["kafka"][0].unregistered == done["rest"][0].unregistered == 3  # src, shared, other
    rest, kafka = prefixes["rest"], prefixes["kafka"]
    expected = _snapshot(client, rest, _in_flight_names(rest))
    shared, run = expected["file:///PREFIX/pool/shared.csv"], expected["spark:PREFIX.fit"]
    assert [t for t in shared["tags"] if t["from"] == "file:///PREFIX/pool/shared.csv"] == []  # placeholder tag went
    assert "IncompleteLineage" not in {t["type"] for t in run["tags"]}  # and so did the run's
    assert expected["file:///PREFIX/mid/clean.parquet"]["attributes"].get("declaredLicense") is None  # no placeholder
    assert None not in expected.values()
    _wait_for(lambda: _snapshot(client, kafka, _in_flight_names(kafka)) == expected)
    assert _snapshot(client, kafka, _in_flight_names(kafka)) == expected
