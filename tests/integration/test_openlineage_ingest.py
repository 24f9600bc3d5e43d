"""OpenLineage RunEvents (as our listener or openlineage-spark emit them) applied to the real Atlas."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.openlineage.ingest import LineageIngestor
from atlas_mlplugin.reads import tags_of

pytestmark = pytest.mark.integration


def event(job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], *, event_type: str = "COMPLETE",
          ml: dict | None = None) -> dict:
    facets = {"atlasSpark": {"applicationId": "local-1", "applicationName": "etl", "executionId": 3, "user": "ana",
                             "saveMode": "Overwrite"}}
    if ml:
        facets["atlasMl"] = ml
    return {"eventType": event_type, "eventTime": "2026-11-27T10:00:00Z", "producer": "test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4()), "facets": facets}, "job": {"namespace": "spark", "name": job},
            "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
            "outputs": [{"namespace": ns, "name": n} for ns, n in outputs]}


def test_etl_and_spark_ml_events_build_lineage_and_tags_reach_the_model(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    raw = f"/{uid}/raw/people.csv"
    registry.register_dataset(DatasetSpec(qualified_name=f"file://{raw}", name="people", license="CC-BY-NC-4.0"))
    spool = tmp_path / "spool"
    spool.mkdir()
    events = [
        event(f"{uid}.start", [("file", raw)], [], event_type="START"),
        event(f"{uid}.to_parquet", [("file", raw)], [("file", f"/{uid}/clean/people.parquet")]),
        event(f"{uid}.join", [("file", f"/{uid}/clean/people.parquet"), ("file", f"/{uid}/raw/orders.csv"),
                              ("jdbc:sqlite:/tmp/db.sqlite?user=sa&password=hunter2", "customers")],
              [("file", f"/{uid}/gold/joined.parquet")]),
        event(f"{uid}.fit", [("file", f"/{uid}/gold/joined.parquet")], [("file", f"/{uid}/models/lr")],
              ml={"estimator": "org.apache.spark.ml.Pipeline", "params": {"maxIter": 10}}),
    ]
    for i, ev in enumerate(events):
        (spool / f"{i:03d}-{uuid.uuid4()}.json").write_text(json.dumps(ev))
    (spool / "999-garbage.json").write_text('{"eventType": "COMPLETE"')

    report = LineageIngestor(registry).drain(spool)
    assert (report.applied, report.skipped) == (3, 1)
    assert [name for name, _ in report.rejected] == ["999-garbage.json"]
    assert (spool / "rejected" / "999-garbage.json.reason.txt").read_text().startswith("not a valid")
    assert not list(spool.glob("*.json"))

    model = f"file:///{uid}/models/lr"
    tags = tags_of(registry.client, model)
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [f"file://{raw}"]
    # orders.csv and the JDBC table were never registered: their unknown licenses show on the model too. The
    # table is named without the credentials in its URL (naming.py), as the Spark listener names it.
    unknown = sorted(t.source_qualified_name for t in tags if t.type_name == "UnknownLicense")
    assert unknown == [f"file:///{uid}/raw/orders.csv", "jdbc:sqlite:/tmp/db.sqlite/customers"]
    run = client.find_entity("ml_training_run", f"spark:{uid}.fit")["entity"]
    assert run["attributes"]["hyperparameters"] == {"maxIter": "10"}
    etl = client.find_entity("ml_spark_process", f"spark-write:file:///{uid}/gold/joined.parquet")["entity"]["attributes"]
    assert etl["applicationId"] == "local-1" and etl["executionId"] == "3" and etl["status"] == "COMPLETED"

    # Replaying the same events changes nothing: one process per job, same datasets.
    for i, ev in enumerate(events):
        (spool / f"{i:03d}-again.json").write_text(json.dumps(ev))
    assert LineageIngestor(registry).drain(spool).applied == 3
    # Searched by name: a shared server holds more processes than one page.
    found = client.request("POST", "/v2/search/basic", json={
        "typeName": "ml_spark_process", "excludeDeletedEntities": True, "limit": 10,
        "entityFilters": {"attributeName": "qualifiedName", "operator": "=",
                          "attributeValue": f"spark-write:file:///{uid}/gold/joined.parquet"}})
    assert len(found.get("entities") or []) == 1
    everything = json.dumps(client.search_basic("ml_dataset", limit=1000))
    assert "hunter2" not in everything


def test_lineage_arriving_after_the_training_run_replaces_the_placeholder_tag(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    from atlas_mlplugin.model import ModelSpec, TrainingRunSpec

    raw, gold = f"/{uid}/raw.csv", f"/{uid}/gold.parquet"
    registry.register_dataset(DatasetSpec(qualified_name=f"file://{raw}", name="raw", license="CC-BY-NC-4.0"))
    # The model's run is recorded first and reads gold, which nobody described yet: UnknownLicense.
    registry.record_training_run(TrainingRunSpec(run_id=uid, name="t", inputs=[f"file://{gold}"],
                                                 outputs=[ModelSpec(qualified_name=f"models/{uid}", name="m")]))
    assert {t.type_name for t in tags_of(registry.client, f"models/{uid}")} == {"UnknownLicense"}
    # Then the ETL's event arrives: gold is raw's output, and raw's tags, not a placeholder, reach the model.
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1.json").write_text(json.dumps(event(f"{uid}.etl", [("file", raw)], [("file", gold)])))
    assert LineageIngestor(registry).drain(spool).applied == 1
    assert {t.type_name for t in tags_of(registry.client, f"models/{uid}")} == {"NonCommercial", "AttributionRequired"}


def test_with_atlas_down_events_stay_on_disk_until_it_is_back(
        registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    import socket

    from atlas_mlplugin.atlas.config import AtlasSettings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "1.json").write_text(json.dumps(event(f"{uid}.w", [("file", f"/{uid}/a")], [("file", f"/{uid}/b")])))
    down = GovernanceRegistry(AtlasClient(AtlasSettings(url=dead, username="u", password="p", max_retries=1)))
    report = LineageIngestor(down).drain(spool)
    assert report.applied == 0 and report.remaining == 1 and report.error and (spool / "1.json").exists()
    assert LineageIngestor(registry).drain(spool).applied == 1
    assert registry.client.find_entity("ml_dataset", f"file:///{uid}/b") is not None


def test_two_ingests_of_one_directory_at_once_apply_each_event_once_and_both_report(
        atlas_settings, client: AtlasClient, uid: str, tmp_path: Path) -> None:
    """The finding: of two `atlas-ml ingest` of one directory at once, the second crashed. Now neither
    crashes, each event file is applied by one of them, and each says what it did."""
    import os
    import subprocess
    import sys

    events = tmp_path / "events"
    events.mkdir()
    total = 12
    for i in range(total):
        ev = event(f"{uid}.job{i:02d}", [("file", f"/{uid}/in{i:02d}")], [("file", f"/{uid}/out{i:02d}")])
        (events / f"{i:05d}-{uuid.uuid4().hex}.json").write_text(json.dumps(ev))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "ATLAS_URL": atlas_settings.url,
           "ATLAS_USER": atlas_settings.username or "",
           "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else ""}
    ingests = [subprocess.Popen([sys.executable, "-m", "atlas_mlplugin.cli", "ingest", str(events)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in ingests]
    assert [p.returncode for p in ingests] == [0, 0], outputs
    applied = [int(err.split("applied ")[1].split()[0]) for _, err in outputs]
    assert sum(applied) == total, outputs
    assert not list(events.glob("*.json")) and not list((events / "rejected").iterdir())
    found = client.request("POST", "/v2/search/basic", json={
        "typeName": "ml_spark_process", "excludeDeletedEntities": True, "limit": 1000,
        "entityFilters": {"attributeName": "qualifiedName", "operator": "startsWith",
                          "attributeValue": f"spark-write:file:///{uid}/"}})
    names = sorted(e["attributes"]["qualifiedName"] for e in found.get("entities") or [])
    assert names == [f"spark-write:file:///{uid}/out{i:02d}" for i in range(total)]


def _story(prefix: str, jobs: int) -> list[dict]:
    """Events as pipelines send them: inputs from a shared pool (some registered, most not), steps that
    read what an earlier step wrote, a step that writes what another read first, a step run twice, and a
    training run that could not name its input."""
    events = []
    for i in range(jobs):
        # A step that runs again reads what it read before: when its inputs change between two runs, Atlas
        # 2.1.0 keeps the tags the dropped inputs had propagated (one by one), which a batch never sends.
        pool = [("file", f"/{prefix}/pool/p{(i % 20 * 7 + k) % 15}") for k in range(3)]
        events.append(event(f"{prefix}.etl{i}", pool, [("file", f"/{prefix}/mid/m{i % 20}")]))
    events.append(event(f"{prefix}.late", [("file", f"/{prefix}/src")], [("file", f"/{prefix}/pool/p3")]))
    fit = event(f"{prefix}.fit", [("file", f"/{prefix}/mid/m0")], [("file", f"/{prefix}/model")],
                ml={"estimator": "LogisticRegression", "params": {"maxIter": 5}})
    fit["run"]["facets"]["atlasSpark"]["unresolvedInputs"] = ["LogicalRDD: no path"]
    events.append(fit)
    return events


def _snapshot(client: AtlasClient, prefix: str) -> dict:
    """What Atlas holds under `prefix`, with the prefix taken out, so two prefixes can be compared: each
    entity's own tags (type and licenseId) and the tags that reached the model, by source."""
    found = {}
    for type_name in ("ml_dataset", "ml_model", "ml_spark_process", "ml_training_run"):
        body = {"typeName": type_name, "excludeDeletedEntities": True, "limit": 1000,
                "entityFilters": {"attributeName": "qualifiedName", "operator": "contains", "attributeValue": prefix}}
        for header in (client.request("POST", "/v2/search/basic", json=body) or {}).get("entities") or []:
            entity = client.get_entity(header["guid"], min_ext_info=True)["entity"]
            own = sorted((c["typeName"], (c.get("attributes") or {}).get("licenseId"))
                         for c in entity.get("classifications") or [] if c.get("entityGuid") == entity["guid"])
            reached = sorted((c["typeName"], str((c.get("attributes") or {}).get("sourceDataset")).replace(prefix, "P"))
                             for c in entity.get("classifications") or [] if c.get("entityGuid") != entity["guid"])
            attributes = entity["attributes"]
            key = (type_name, attributes["qualifiedName"].replace(prefix, "P"))
            inputs = [r for r in (entity.get("relationshipAttributes") or {}).get("inputs") or []
                      if r.get("relationshipStatus") == "ACTIVE"]  # a replaced input's edge stays, DELETED
            names = {g: e["attributes"]["qualifiedName"] for g, e in
                     client.get_entities([r["guid"] for r in inputs], ignore_relationships=True)
                     .get("referredEntities", {}).items()} if inputs else {}
            names |= {e["guid"]: e["attributes"]["qualifiedName"] for e in
                      (client.get_entities([r["guid"] for r in inputs], ignore_relationships=True)
                       .get("entities") or [])} if inputs else {}
            found[key] = (own, reached if type_name == "ml_model" else None,
                          sorted(names[r["guid"]].replace(prefix, "P") for r in inputs))
    return found


def test_a_batch_leaves_atlas_as_one_event_at_a_time_does_with_a_fraction_of_the_calls(
        registry: GovernanceRegistry, client: AtlasClient, uid: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The finding: ingest made about five REST calls per event (three of them per-input look-ups) and logged
    one warning per unregistered input. A batch now looks up and writes all its events at once, with the same
    end state as applying them one by one, and says once per batch what it recorded as unregistered."""
    import logging

    from atlas_mlplugin.reads.entities import count_requests

    jobs = 60
    results = {}
    for label, batch_size in (("one", 1), ("batch", 100)):
        prefix = f"{uid}{label}"
        registry.register_dataset(DatasetSpec(qualified_name=f"file:///{prefix}/pool/p0", name="p0",
                                              license="CC-BY-NC-4.0"))
        spool = tmp_path / label
        spool.mkdir()
        for i, ev in enumerate(_story(prefix, jobs)):
            (spool / f"{i:05d}-{uuid.uuid4().hex}.json").write_text(json.dumps(ev))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="atlas_mlplugin"), count_requests(client) as calls:
            report = LineageIngestor(registry, batch_size=batch_size).drain(spool)
        assert (report.applied, report.rejected, report.error) == (jobs + 2, [], None)
        assert report.unregistered == 15  # p1..p14 and src, once each
        unregistered_warnings = [r for r in caplog.records if "nobody registered" in r.getMessage()]
        results[label] = (_snapshot(client, prefix), calls[0] / (jobs + 2), len(unregistered_warnings))

    snapshot, calls_each, warnings = results["batch"]
    assert snapshot == results["one"][0]
    assert warnings == 1
    assert calls_each < 0.3, f"{calls_each:.2f} REST calls per event"
    # The pool dataset the late step wrote lost its placeholder tag; the model has the registered source's
    # tag, the placeholders' UnknownLicense and the run's IncompleteLineage.
    assert snapshot[("ml_dataset", "file:///P/pool/p3")][0] == []
    model_tags = {t for t, _ in snapshot[("ml_model", "file:///P/model")][1]}
    assert {"NonCommercial", "UnknownLicense", "IncompleteLineage"} <= model_tags
