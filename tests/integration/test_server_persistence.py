"""The local Atlas keeps its data like a database: after a clean stop, after `kill -9`, and after its search
index is lost, every entity, relationship, classification (direct and propagated), typedef and audit event is
there, and search by type and by classification works. `reset` wipes on purpose.

A server of its own (a second state directory, its own ports): the test kills it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.config import AtlasSettings
from atlas_mlplugin.atlas.typedefs import apply
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, DerivationSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads import tags_of
from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas
from tests.integration.conftest import BACKEND, REPO, free_port

pytestmark = pytest.mark.integration

RAW, ANON, CONSENT, MODEL = "file:///lake/faces/raw", "file:///lake/faces/anon", "consent:faces/v1", "models/faces/1"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAtlas]:
    if BACKEND != "local":
        pytest.skip("the suite runs against ATLAS_URL or a container; this test kills a launcher-managed server")
    home = REPO / ".state" / "persistence-atlas"
    shutil.rmtree(home, ignore_errors=True)
    atlas = LocalAtlas(LauncherOptions(state_dir=home, port=free_port()))
    start(atlas)
    yield atlas
    atlas.stop()


def start(atlas: LocalAtlas, **options: Any) -> list[str]:
    said: list[str] = []
    atlas.options = atlas.options.model_copy(update=options)
    atlas.start(progress=lambda msg: (said.append(msg), print(f"[persistence] {msg}", file=sys.stderr)))
    return said


def client_of(atlas: LocalAtlas) -> AtlasClient:
    status = atlas.status()
    return AtlasClient(AtlasSettings(url=status.url, username=status.user, password=SecretStr(status.password)))


def snapshot(client: AtlasClient) -> dict[str, Any]:
    """What must survive: entities, lineage, tags with their sources, typedefs, audit, search results."""
    def guid(type_name: str, qn: str) -> str:
        found = client.find_entity(type_name, qn)
        assert found is not None, f"{type_name} {qn} is gone"
        return str(found["entity"]["guid"])

    dataset, model = guid("ml_dataset", RAW), guid("ml_model", MODEL)
    lineage = client.lineage(model, direction="INPUT", depth=10)
    typedefs = client.get_typedefs()

    def search(**query: Any) -> list[str]:
        hits = client.request("POST", "/v2/search/basic", json={"limit": 1000, **query}).get("entities") or []
        return sorted(e["attributes"]["qualifiedName"] for e in hits)

    return {
        "guids": {"dataset": dataset, "model": model, "anon": guid("ml_dataset", ANON),
                  "consent": guid("ml_consent_record", CONSENT)},
        "lineage": sorted(e["attributes"]["qualifiedName"] for e in lineage["guidEntityMap"].values()),
        "relations": len(lineage["relations"]),
        "model_tags": sorted((t.type_name, t.source_qualified_name, t.direct) for t in tags_of(client, MODEL)),
        "dataset_tags": sorted((t.type_name, t.direct) for t in tags_of(client, RAW, "ml_dataset")),
        "typedefs": sorted(d["name"] + "@" + d["typeVersion"] for cat in ("entityDefs", "classificationDefs")
                           for d in typedefs[cat] if d.get("serviceType") == "ml_governance"),
        "audit": sorted(e["eventKey"] for e in client.request("GET", f"/v2/entity/{dataset}/audit",
                                                              params={"count": 100})),
        "by_type": search(typeName="ml_dataset"),
        "by_tag": search(classification="NonCommercial"),
    }


@pytest.fixture(scope="module")
def recorded(server: LocalAtlas) -> dict[str, Any]:
    client = client_of(server)
    apply(client)
    registry = GovernanceRegistry(client)
    registry.register_consent(ConsentRecordSpec(qualified_name=CONSENT, name="faces consent",
                                                purposes=["model-training", "research"]))
    registry.register_dataset(DatasetSpec(qualified_name=RAW, name="faces", license="CC-BY-NC-4.0",
                                          personal_data_categories=["face"], consent_records=[CONSENT]))
    registry.record_derivation(DerivationSpec(
        qualified_name="derive:faces/anon", name="anonymize faces", derivation_type="anonymize", inputs=[RAW],
        outputs=[DatasetSpec(qualified_name=ANON, name="faces anon", license="CC-BY-NC-4.0")], attested=True,
        attestation="DPO review 2026-11"))
    registry.record_training_run(TrainingRunSpec(run_id="persist-1", name="fit", inputs=[ANON],
                                                 outputs=[ModelSpec(qualified_name=MODEL, name="faces")]))
    registry.retract_dataset(RAW, reason="subjects objected")
    before = snapshot(client)
    # The story is what the checks below compare with: propagated tags, personal data stopped, audit kept.
    assert ("NonCommercial", RAW, False) in before["model_tags"] and ("Retracted", RAW, False) in before["model_tags"]
    assert not [t for t in before["model_tags"] if t[0] == "PersonalData"]
    assert len(before["audit"]) >= 3 and RAW in before["by_type"] and MODEL in before["by_tag"]
    return before


def test_a_killed_server_comes_back_with_everything(server: LocalAtlas, recorded: dict[str, Any]) -> None:
    pid = server.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    while server._exists(pid):
        time.sleep(0.2)
    said = start(server)
    assert any("did not stop cleanly" in line for line in said), said
    assert any("search index rebuilt" in line for line in said), said
    assert snapshot(client_of(server)) == recorded


def test_a_clean_restart_keeps_everything_without_rebuilding(server: LocalAtlas, recorded: dict[str, Any]) -> None:
    assert server.stop() is True
    said = start(server)
    assert not any("rebuild" in line for line in said), said
    assert snapshot(client_of(server)) == recorded


def test_a_lost_search_index_is_rebuilt_not_served_half_empty(server: LocalAtlas, recorded: dict[str, Any]) -> None:
    server.stop()
    shutil.rmtree(server.state.solr_home)
    said = start(server)
    assert any("search index is missing" in line for line in said), said
    client = client_of(server)
    assert snapshot(client) == recorded
    # and the server takes writes after all this
    GovernanceRegistry(client).register_dataset(DatasetSpec(qualified_name="file:///lake/after", name="after",
                                                            license="CC0-1.0"))
    assert "file:///lake/after" in snapshot(client)["by_type"]


def test_reset_wipes_on_purpose(server: LocalAtlas, recorded: dict[str, Any]) -> None:
    user, password = server.credentials()
    removed = server.reset()
    assert "data/" in removed and "solr/" in removed
    assert server.credentials() == (user, password)  # the generated password stays
    said = start(server)
    assert not any("Keeping the catalog" in line for line in said), said
    client = client_of(server)
    assert not [d for d in client.get_typedefs()["entityDefs"] if d["name"] == "ml_dataset"]
    apply(client)
    assert client.find_entity("ml_dataset", RAW) is None
    assert client.search_basic("ml_dataset", limit=10).get("entities") in (None, [])
