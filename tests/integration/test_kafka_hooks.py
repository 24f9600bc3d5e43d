"""The Python hooks (atlas_mlplugin.api, track_training) through the kafka transport against the real Atlas and its
embedded Kafka: the same scenario through REST and through ATLAS_HOOK leaves the same entities, relationships and
tags (own and propagated, by source) in Atlas; an op delivered twice creates nothing twice; with Kafka down a call
returns at once ("spooled") and its op is delivered from the spool once Kafka is back; ATLAS_ML_TRANSPORT alone
switches track_training to Kafka.

The broker: ATLAS_KAFKA_BOOTSTRAP_SERVERS, else the test session's local Atlas (`server status` reports it).
Against another Atlas (ATLAS_URL) without that variable the tests skip."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from atlas_mlplugin import api
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import TypedefGuard, guarded
from atlas_mlplugin.delivery.operations import OpKind, RetractRequest, op_of
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.hooks import track_training
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec
from atlas_mlplugin.transport.hooks import KafkaOpHandler
from atlas_mlplugin.transport.kafka import HookPublisher
from atlas_mlplugin.transport.registry import OpHandler, transport_handler
from atlas_mlplugin.transport.settings import KafkaSettings, load_kafka_settings
from tests.integration.snapshots import VOLATILE, snapshot, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
# Besides what every write sets: a run's start and end are when the scenario ran.
RUN_VOLATILE = VOLATILE | {"startTime", "endTime"}


def _kafka(client: AtlasClient, settings: KafkaSettings) -> OpHandler:
    """The kafka transport's handler as the default deliverer builds it: fail-fast REST reads, typedef guard."""
    registry = GovernanceRegistry(AtlasClient(fail_fast(client.settings)))
    return guarded(TypedefGuard(registry.client), KafkaOpHandler(registry, HookPublisher(settings)))


def _rest(client: AtlasClient) -> OpHandler:
    return transport_handler("rest", GovernanceRegistry(AtlasClient(fail_fast(client.settings))))


def _names(p: str) -> list[tuple[str, str]]:
    return [("ml_data_license", f"spdx:LicenseRef-{p}"), ("ml_consent_record", f"consent:{p}"),
            ("ml_dataset", f"file:///{p}/raw/people.csv"), ("ml_dataset", f"file:///{p}/raw/orders.csv"),
            ("ml_dataset", f"file:///{p}/clean/people.csv"), ("ml_dataset", f"file:///{p}/raw/unregistered.csv"),
            ("ml_derivation", f"anonymize:{p}"), ("ml_training_run", f"ml-run:{p}"),
            ("ml_model", f"file:///{p}/models/m")]


def _scenario(p: str, deliverer: Deliverer, models: Path) -> None:
    """License, consent, two datasets, an attested anonymization, a tracked training run (with an unregistered
    input) whose model gets license, consent, share-alike and unknown-license tags; then the consent is withdrawn
    and a dataset retracted. Every op must be delivered and none refused."""
    people, orders, clean = f"file:///{p}/raw/people.csv", f"file:///{p}/raw/orders.csv", f"file:///{p}/clean/people.csv"
    lic = DataLicense(spdx_id=f"LicenseRef-{p}", name=f"{p} survey terms", use_category="nonCommercial",
                      attribution_required=True)
    consent = f"consent:{p}"
    outcomes = [
        api.register_license(lic, deliverer=deliverer),
        api.register_consent(ConsentRecordSpec(qualified_name=consent, name="survey consent", legal_basis="consent",
                                               purposes=["research", "model-training"],
                                               personal_data_categories=["contact"]), deliverer=deliverer),
        api.register_dataset(DatasetSpec(qualified_name=people, name="people", license=lic.spdx_id, creator="ana",
                                         personal_data_categories=["contact"], consent_records=[consent]),
                             deliverer=deliverer),
        api.register_dataset(DatasetSpec(qualified_name=orders, name="orders", license="CC-BY-SA-4.0"),
                             deliverer=deliverer),
        api.record_derivation(DerivationSpec(
            qualified_name=f"anonymize:{p}", name="anonymize people", derivation_type="anonymize", inputs=[people],
            outputs=[DatasetSpec(qualified_name=clean, name="people (anonymized)", license=lic.spdx_id)],
            attested=True, attestation="k-anonymity (k=10) checked by the DPO"), deliverer=deliverer),
    ]
    artifact = models / "model.pkl"
    with track_training("fit churn", inputs=[clean, orders, f"file:///{p}/raw/unregistered.csv"],
                        params={"C": 0.5}, purpose="model-training", framework="scikit-learn", run_id=p,
                        deliverer=deliverer) as run:
        artifact.write_bytes(b"trained weights")
        run.set_model(path=artifact, qualified_name=f"file:///{p}/models/m", name="churn model")
    outcomes += [
        api.withdraw_consent(consent, when=datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc), deliverer=deliverer),
        api.retract_dataset(orders, "the licensor withdrew it", when=date(2026, 11, 3), deliverer=deliverer),
    ]
    assert "rejected" not in outcomes
    deliverer.flush(timeout=120)
    assert deliverer.join(timeout=120)
    assert deliverer.spool is not None
    assert (len(deliverer.spool), deliverer.spool.dead_letters()) == (0, [])


def test_the_same_hook_calls_through_rest_and_through_kafka_leave_the_same_lineage_and_tags(
        client: AtlasClient, kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    rest, kafka = f"hrest{uid}", f"hkafka{uid}"
    for prefix, handler in ((rest, _rest(client)), (kafka, _kafka(client, kafka_settings))):
        (tmp_path / prefix).mkdir()
        with Deliverer(Spool(tmp_path / f"spool-{prefix}"), handler, flush_interval=0.2) as deliverer:
            _scenario(prefix, deliverer, tmp_path / prefix)

    expected = snapshot(client, _names(rest), rest, volatile=RUN_VOLATILE)
    model = expected["file:///PREFIX/models/m"]
    assert model is not None and expected["file:///PREFIX/raw/unregistered.csv"] is not None
    tags = {(t["type"], t["from"]) for t in model["tags"]}
    assert {("NonCommercial", "file:///PREFIX/raw/people.csv"), ("ConsentWithdrawn", "file:///PREFIX/raw/people.csv"),
            ("ShareAlike", "file:///PREFIX/raw/orders.csv"), ("Retracted", "file:///PREFIX/raw/orders.csv"),
            ("UnknownLicense", "file:///PREFIX/raw/unregistered.csv")} <= tags  # the scenario is what it says
    assert ("PersonalData", "file:///PREFIX/raw/people.csv") not in tags  # stopped by the attested anonymization
    # Atlas applies the hook topic at its own pace: wait until it has caught up, then they must be equal.
    wait_for(lambda: snapshot(client, _names(kafka), kafka, volatile=RUN_VOLATILE) == expected)
    assert snapshot(client, _names(kafka), kafka, volatile=RUN_VOLATILE) == expected


def test_an_op_delivered_twice_creates_one_entity_with_its_tags_once(
        client: AtlasClient, kafka_settings: KafkaSettings, uid: str) -> None:
    qualified_name = f"file:///twice{uid}/people.csv"
    op = op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=qualified_name, name="people",
                                                    license="CC-BY-NC-4.0", personal_data_categories=["contact"]))
    # Two handlers, as after a crash between publishing and removing the op from the spool: the second one
    # neither knows the first published it nor finds it applied yet.
    for _ in range(2):
        _kafka(client, kafka_settings)(op)
    marker = f"file:///twice{uid}/after.csv"  # published last: once it exists, both copies were applied
    _kafka(client, kafka_settings)(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=marker, name="after")))
    assert wait_for(lambda: client.find_entity("ml_dataset", marker) is not None)
    found = client.request("POST", "/v2/search/basic", json={
        "typeName": "ml_dataset", "excludeDeletedEntities": False, "limit": 10,
        "entityFilters": {"attributeName": "qualifiedName", "operator": "eq", "attributeValue": qualified_name}})
    assert [h["attributes"]["qualifiedName"] for h in found.get("entities") or []] == [qualified_name]
    tags = client.find_entity("ml_dataset", qualified_name)["entity"].get("classifications") or []
    assert sorted(t["typeName"] for t in tags) == ["AttributionRequired", "NonCommercial", "PersonalData"]


def test_kafka_down_the_call_returns_spooled_and_the_op_is_delivered_once_kafka_is_back(
        client: AtlasClient, kafka_settings: KafkaSettings, uid: str, tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port where nothing listens: Kafka is down
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    down = load_kafka_settings(None, {"ATLAS_KAFKA_BOOTSTRAP_SERVERS": dead}, delivery_timeout=2.0)
    spool = Spool(tmp_path / "spool")
    qualified_name = f"file:///down{uid}/people.csv"
    offline = Deliverer(spool, _kafka(client, down), flush_interval=3600, wait=1.0)
    started = time.monotonic()
    outcome = api.register_dataset(DatasetSpec(qualified_name=qualified_name, name="people", license="CC-BY-NC-4.0"),
                                   deliverer=offline)
    took = time.monotonic() - started
    offline.close()
    assert (outcome, took < 3.0) == ("spooled", True), took
    # Kept, in order, not dead-lettered: Kafka being down says nothing about the op.
    assert ([op.kind for op in spool.pending()], spool.dead_letters()) == (["register_dataset"], [])
    assert client.find_entity("ml_dataset", qualified_name) is None

    online = Deliverer(spool, _kafka(client, kafka_settings), flush_interval=3600)
    report = online.flush(timeout=60)
    online.close()
    assert (report.delivered, len(spool), spool.dead_letters()) == (1, 0, [])
    assert wait_for(lambda: client.find_entity("ml_dataset", qualified_name) is not None)
    tags = client.find_entity("ml_dataset", qualified_name)["entity"].get("classifications") or []
    assert sorted(t["typeName"] for t in tags) == ["AttributionRequired", "NonCommercial"]


def test_atlas_ml_transport_alone_sends_track_training_through_kafka(
        client: AtlasClient, atlas_settings: AtlasSettings, kafka_settings: KafkaSettings, uid: str,
        tmp_path: Path) -> None:
    """No deliverer given: the default one, configured by the environment only, as in a user's training job."""
    job = textwrap.dedent(f"""
        from atlas_mlplugin.hooks import track_training
        from atlas_mlplugin.hooks.training import default_deliverer
        with track_training("configured", inputs=["file:///conf{uid}/in.csv"], run_id="conf{uid}") as run:
            run.set_model(qualified_name="file:///conf{uid}/model", name="model")
        default_deliverer().flush(timeout=60)
    """)
    env: dict[str, Any] = {
        **os.environ, "PYTHONPATH": str(REPO), "ATLAS_URL": atlas_settings.url,
        "ATLAS_USER": atlas_settings.username or "",
        "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else "",
        "ATLAS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "ATLAS_ML_TRANSPORT": "kafka",
        "ATLAS_ML_SPOOL_DIR": str(tmp_path / "spool")}
    done = subprocess.run([sys.executable, "-c", job], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert wait_for(lambda: client.find_entity("ml_training_run", f"ml-run:conf{uid}") is not None)
    assert wait_for(lambda: client.find_entity("ml_model", f"file:///conf{uid}/model") is not None)
    run = client.find_entity("ml_training_run", f"ml-run:conf{uid}")["entity"]
    # Written by Atlas's hook consumer as the notification's user, not by the REST user.
    assert run["createdBy"] == getpass.getuser() != atlas_settings.username
    placeholder = client.find_entity("ml_dataset", f"file:///conf{uid}/in.csv")["entity"]
    assert [(t["typeName"], t["attributes"]["licenseId"]) for t in placeholder.get("classifications") or []] == [
        ("UnknownLicense", "UNREGISTERED")]
    assert not list((tmp_path / "spool").rglob("*.json"))  # nothing left behind


def test_atlas_ml_transport_alone_sends_pyspark_autolog_through_kafka(
        registry: GovernanceRegistry, client: AtlasClient, atlas_settings: AtlasSettings,
        kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="install the 'spark' extra (make installs it)")
    csv = tmp_path / "people.csv"
    csv.write_text("age,income,label\n" + "".join(f"{20 + i},{1000 * i},{i % 2}\n" for i in range(40)))
    registry.register_dataset(DatasetSpec(qualified_name=csv.resolve().as_uri(), name="people",
                                          license="CC-BY-NC-4.0"))
    job = textwrap.dedent(f"""
        from pyspark.ml import Pipeline
        from pyspark.ml.classification import LogisticRegression
        from pyspark.ml.feature import VectorAssembler
        from pyspark.sql import SparkSession
        from atlas_mlplugin.hooks.training import default_deliverer
        from atlas_mlplugin.spark import autolog
        spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", "2").getOrCreate())
        autolog()
        df = spark.read.option("header", True).option("inferSchema", True).csv({str(csv)!r})
        Pipeline(stages=[VectorAssembler(inputCols=["age", "income"], outputCol="features"),
                         LogisticRegression(maxIter=3, labelCol="label")]).fit(df).save({str(tmp_path / "model")!r})
        spark.stop()
        default_deliverer().flush(timeout=60)
    """)
    env: dict[str, Any] = {
        **os.environ, "PYTHONPATH": str(REPO), "ATLAS_URL": atlas_settings.url,
        "ATLAS_USER": atlas_settings.username or "",
        "ATLAS_PASSWORD": atlas_settings.password.get_secret_value() if atlas_settings.password else "",
        "ATLAS_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers, "ATLAS_ML_TRANSPORT": "kafka",
        "ATLAS_ML_SPOOL_DIR": str(tmp_path / "spool")}
    done = subprocess.run([sys.executable, "-c", job], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    model_qn = (tmp_path / "model").resolve().as_uri()
    assert wait_for(lambda: client.find_entity("ml_model", model_qn) is not None)
    model = client.find_entity("ml_model", model_qn)["entity"]
    assert model["createdBy"] == getpass.getuser() != atlas_settings.username  # by the hook consumer
    tags = model.get("classifications") or []
    assert [t["attributes"]["sourceDataset"] for t in tags if t["typeName"] == "NonCommercial"] == [
        csv.resolve().as_uri()]


def test_facts_changed_while_the_first_notification_is_in_flight_leave_the_tags_of_the_last(
        client: AtlasClient, kafka_settings: KafkaSettings, uid: str) -> None:
    """The second registration cannot ride in a hook message (Atlas ignores tags on an update): the handler waits
    until Atlas has the dataset, then changes its tags over REST, as register_dataset does."""
    qualified_name = f"file:///changed{uid}/people.csv"
    handler = _kafka(client, kafka_settings)
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=qualified_name, name="people",
                                                       license="CC-BY-NC-4.0", personal_data_categories=["contact"])))
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=qualified_name, name="people",
                                                       license="CC-BY-SA-4.0")))
    assert wait_for(lambda: client.find_entity("ml_dataset", qualified_name) is not None)
    wait_for(lambda: client.find_entity("ml_dataset", qualified_name)["entity"]["attributes"]["declaredLicense"]
             == "CC-BY-SA-4.0")
    entity = client.find_entity("ml_dataset", qualified_name)["entity"]
    assert entity["attributes"]["declaredLicense"] == "CC-BY-SA-4.0"
    assert sorted(t["typeName"] for t in entity.get("classifications") or []) == ["AttributionRequired",
                                                                                   "ShareAlike"]


class _DroppedOnce(HookPublisher):
    """Kafka takes the first notification and Atlas never applies it, as when Atlas's consumer gives a message up
    after a storage conflict ([DROPPED_NOTIFICATION] in its log): here it is simply not sent."""

    dropped = False

    def publish(self, requests: Any) -> None:
        if not self.dropped:
            self.dropped = True
            return
        super().publish(requests)


def test_a_notification_atlas_dropped_is_sent_again_once_a_later_one_shows_atlas_got_past_it(
        client: AtlasClient, kafka_settings: KafkaSettings, uid: str) -> None:
    dropped, later = f"file:///dropped{uid}/people.csv", f"file:///dropped{uid}/orders.csv"
    registry = GovernanceRegistry(AtlasClient(fail_fast(client.settings)))
    handler = KafkaOpHandler(registry, _DroppedOnce(kafka_settings), apply_timeout=30)
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=dropped, name="people", license="CC-BY-NC-4.0")))
    handler(op_of(OpKind.REGISTER_DATASET, DatasetSpec(qualified_name=later, name="orders")))
    # A retraction goes over REST once Atlas holds what was published before it: the dropped dataset too.
    handler(op_of(OpKind.RETRACT_DATASET, RetractRequest(qualified_name=dropped, reason="withdrawn by its owner")))
    entity = client.find_entity("ml_dataset", dropped)["entity"]
    assert entity["attributes"]["retractionStatus"] == "retracted"
    assert sorted(t["typeName"] for t in entity.get("classifications") or []) == [
        "AttributionRequired", "NonCommercial", "Retracted"]
