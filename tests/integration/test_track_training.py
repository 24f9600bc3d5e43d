"""track_training against the real Atlas: what it records, and that it never breaks training."""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.delivery.deliverer import Deliverer, fail_fast
from atlas_mlplugin.delivery.handler import registry_handler
from atlas_mlplugin.delivery.spool import Spool
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.hooks import current_run, track_training
from atlas_mlplugin.model import DatasetSpec
from atlas_mlplugin.reads import tags_of

pytestmark = pytest.mark.integration


@pytest.fixture
def deliverer(client: AtlasClient, tmp_path: Path) -> Deliverer:
    registry = GovernanceRegistry(AtlasClient(fail_fast(client.settings)))
    with Deliverer(Spool(tmp_path / "spool"), registry_handler(registry), flush_interval=0.2) as d:
        yield d


def run_entity(client: AtlasClient, run_id: str) -> dict:
    found = client.find_entity("ml_training_run", f"ml-run:{run_id}")
    assert found is not None, f"run {run_id} not in Atlas"
    return found["entity"]


def test_context_manager_records_inputs_params_status_and_model_artifact(
        registry: GovernanceRegistry, client: AtlasClient, deliverer: Deliverer, uid: str, tmp_path: Path) -> None:
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/nc", name="nc", license="CC-BY-NC-4.0"))
    artifact = tmp_path / "model.pkl"
    with track_training("fit forest", inputs=[f"file:///{uid}/nc"], params={"n_estimators": 100},
                        purpose="model-training", framework="scikit-learn", run_id=uid, deliverer=deliverer) as run:
        run.log_param("max_depth", 7)
        artifact.write_bytes(b"trained weights")
        run.set_model(path=artifact, name="forest", type_of_model="random forest")

    entity = run_entity(client, uid)
    attrs = entity["attributes"]
    assert attrs["status"] == "COMPLETED"
    assert attrs["hyperparameters"] == {"n_estimators": "100", "max_depth": "7"}
    assert attrs["processingPurpose"] == "model-training" and attrs["framework"] == "scikit-learn"
    assert attrs["startTime"] <= attrs["endTime"]
    assert attrs["codeRevision"]  # this test runs inside the project's git checkout
    model = client.find_entity("ml_model", artifact.resolve().as_uri())["entity"]
    assert model["attributes"]["sha256"] == hashlib.sha256(b"trained weights").hexdigest()
    tags = tags_of(registry.client, artifact.resolve().as_uri())
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [f"file:///{uid}/nc"]


@pytest.mark.parametrize("spelling", ["relative", "absolute", "file-uri"])
def test_every_spelling_of_a_local_input_is_the_registered_dataset(
        registry: GovernanceRegistry, client: AtlasClient, deliverer: Deliverer, uid: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, spelling: str) -> None:
    data = tmp_path / "data" / "train.csv"
    data.parent.mkdir()
    data.write_text("x,y\n1,0\n")
    registry.register_dataset(DatasetSpec(qualified_name=data.as_uri(), name="train", license="CC-BY-NC-4.0"))
    monkeypatch.chdir(tmp_path)
    given = {"relative": "data/train.csv", "absolute": str(data), "file-uri": data.as_uri()}[spelling]
    artifact = tmp_path / f"model-{spelling}.pkl"
    with track_training("fit", inputs=[given], run_id=f"{uid}-{spelling}", deliverer=deliverer) as run:
        artifact.write_bytes(b"w")
        run.set_model(path=artifact, name="m")
    assert run.inputs == [data.as_uri()]
    tags = tags_of(client, artifact.resolve().as_uri())
    assert [t.source_qualified_name for t in tags if t.type_name == "NonCommercial"] == [data.as_uri()]
    assert not [t for t in tags if t.type_name in ("UnknownLicense", "IncompleteLineage")], tags


def test_a_body_that_raises_is_recorded_failed_and_the_exception_propagates(
        client: AtlasClient, deliverer: Deliverer, uid: str) -> None:
    with pytest.raises(ZeroDivisionError), \
            track_training("diverges", inputs=[f"file:///{uid}/unregistered.csv"], run_id=uid, deliverer=deliverer):
        1 / 0  # noqa: B018
    attrs = run_entity(client, uid)["attributes"]
    assert attrs["status"] == "FAILED"
    assert "ZeroDivisionError" in attrs["errorMessage"]
    # The input nobody registered is recorded with no known license, so the risk stays visible.
    unknown = client.find_entity("ml_dataset", f"file:///{uid}/unregistered.csv")["entity"]
    assert [c["typeName"] for c in unknown.get("classifications") or []] == ["UnknownLicense"]


def test_decorator_form_gives_the_run_through_current_run(client: AtlasClient, deliverer: Deliverer,
                                                           uid: str) -> None:
    @track_training("decorated", params={"epochs": 2}, run_id=uid, deliverer=deliverer)
    def fit() -> str:
        run = current_run()
        assert run is not None
        run.log_param("batch", 32)
        return "done"

    assert fit() == "done"
    assert run_entity(client, uid)["attributes"]["hyperparameters"] == {"epochs": "2", "batch": "32"}


def test_atlas_down_training_goes_on_and_lineage_arrives_once_atlas_is_back(
        client: AtlasClient, registry: GovernanceRegistry, uid: str, tmp_path: Path) -> None:
    registry.register_dataset(DatasetSpec(qualified_name=f"file:///{uid}/d", name="d", license="CC-BY-4.0"))
    with socket.socket() as sock:  # a port where nothing listens: Atlas is down
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    down = AtlasSettings(url=f"http://127.0.0.1:{dead_port}", username="admin", password="x")
    spool = Spool(tmp_path / "spool")
    offline = Deliverer(spool, registry_handler(GovernanceRegistry(AtlasClient(fail_fast(down)))),
                        flush_interval=3600)
    finished = threading.Event()
    with track_training("offline run", inputs=[f"file:///{uid}/d"], run_id=uid, deliverer=offline) as run:
        run.set_model(qualified_name=f"models/{uid}/offline", name="offline")
    finished.set()
    offline.close()
    assert finished.is_set()
    assert [op.kind for op in spool.pending()] == ["record_training_run", "record_training_run"]
    assert client.find_entity("ml_training_run", f"ml-run:{uid}") is None

    # Atlas is back: the same spool drains in order, nothing lost (a new Deliverer starts on the backlog).
    queued = spool.pending()
    online = Deliverer(spool, registry_handler(GovernanceRegistry(AtlasClient(fail_fast(client.settings)))),
                       flush_interval=3600)
    report = online.flush(timeout=60)
    assert online.join(timeout=60)
    assert len(spool) == 0 and not report.dead and not spool.dead_letters()
    assert run_entity(client, uid)["attributes"]["status"] == "COMPLETED"

    # Delivering the same ops again (at-least-once after a crash) creates no duplicates.
    for op in queued:
        spool.enqueue(op)
    online.flush(timeout=60)
    online.close()
    assert len(spool) == 0
    assert len(active_named(client, "ml_training_run", f"ml-run:{uid}")) == 1
    assert len(active_named(client, "ml_model", f"models/{uid}/offline")) == 1


def active_named(client: AtlasClient, type_name: str, qualified_name: str) -> list[dict]:
    """Every active entity of the type with that qualifiedName: a filtered search, so that a duplicate is
    found however many other entities a long-lived server holds (a first page of 1,000 missed them)."""
    body = {"typeName": type_name, "excludeDeletedEntities": True, "limit": 100,
            "entityFilters": {"attributeName": "qualifiedName", "operator": "eq", "attributeValue": qualified_name}}
    return client.request("POST", "/v2/search/basic", json=body).get("entities") or []
