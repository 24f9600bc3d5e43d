"""Our typedefs are made sure of before the first write of a drain, and again when Atlas says a type does not
exist; the write is then retried, not dead-lettered (the finding: after a server restart, a flush before the
typedefs were applied dead-lettered every op).

The team's Atlas is shared, so no shared type is deleted here. Instead each test gives the guard a typedefs
folder made of ours plus entity types only this test uses (named after its uid): for those types the server
is exactly in the state a restarted server is in for all of ours. The test types and their entities are
purged at the end.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.typedefs import default_typedefs_dir
from atlas_mlplugin.delivery.handler import TypedefGuard, guarded
from atlas_mlplugin.delivery.spool import Spool, SpoolOp
from atlas_mlplugin.governance import GovernanceRegistry
from atlas_mlplugin.openlineage.ingest import LineageIngestor

pytestmark = pytest.mark.integration


def only_type(name: str) -> dict:
    return {"name": name, "typeVersion": "1.0", "superTypes": ["DataSet"], "attributeDefs": [],
            "description": "a type only one integration test uses"}


def add_types(root: Path, *names: str) -> None:
    folder = root / "99-test-only"
    folder.mkdir(exist_ok=True)
    (folder / f"{names[0]}.json").write_text(json.dumps({"entityDefs": [only_type(n) for n in names]}))


def type_exists(client: AtlasClient, name: str) -> bool:
    return any(d["name"] == name for d in client.request("GET", "/v2/types/typedefs/headers") or [])


@pytest.fixture
def typedefs_root(client: AtlasClient, tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """Our typedefs plus room for test-only types; those (and their entities) are removed afterwards."""
    root = tmp_path / "typedefs"
    shutil.copytree(default_typedefs_dir(), root)
    created: list[str] = []
    yield root, created
    for name in created:
        with contextlib.suppress(Exception):
            found = client.request("POST", "/v2/search/basic", json={"typeName": name, "limit": 100,
                                                                      "excludeDeletedEntities": False})
            guids = [e["guid"] for e in (found or {}).get("entities") or []]
            for guid in guids:
                client.delete_entity(guid)
            if guids:
                client.request("PUT", "/admin/purge/", json=guids)
            client.request("DELETE", f"/v2/types/typedef/name/{name}")


def raw_handler(client: AtlasClient):  # noqa: ANN201
    def handle(op: SpoolOp) -> None:
        client.upsert_entities([{"typeName": op.payload["type"],
                                 "attributes": {"qualifiedName": op.payload["qn"], "name": "x"}}])
    return handle


def test_types_missing_on_the_server_are_applied_before_the_first_op_and_again_when_atlas_says_so(
        client: AtlasClient, typedefs_root: tuple[Path, list[str]], uid: str, tmp_path: Path) -> None:
    root, created = typedefs_root
    first, later = f"zz_delivery_{uid}_a", f"zz_delivery_{uid}_b"
    created += [first, later]
    add_types(root, first)
    assert not type_exists(client, first)
    guard = TypedefGuard(client, root)
    handler = guarded(guard, raw_handler(client))
    spool = Spool(tmp_path / "spool")
    spool.enqueue(SpoolOp(kind="raw", payload={"type": first, "qn": f"{uid}/1"}))

    report = spool.drain(handler)
    assert (report.delivered, report.dead) == (1, []), report.error
    assert type_exists(client, first) and client.find_entity(first, f"{uid}/1") is not None

    # The guard now trusts the server. A type goes missing there (as after a restart without our typedefs;
    # here: a newer typedefs release adds one): Atlas says so, the guard applies them, the op is retried.
    add_types(root, later)
    spool.enqueue(SpoolOp(kind="raw", payload={"type": later, "qn": f"{uid}/2"}))
    report = spool.drain(handler)
    assert (report.delivered, report.dead, report.retrying) == (1, [], None), report.error
    assert client.find_entity(later, f"{uid}/2") is not None


def test_the_event_ingest_makes_sure_of_the_typedefs_before_its_first_event(
        registry: GovernanceRegistry, client: AtlasClient, typedefs_root: tuple[Path, list[str]], uid: str,
        tmp_path: Path) -> None:
    root, created = typedefs_root
    name = f"zz_ingest_{uid}"
    created.append(name)
    add_types(root, name)
    events = tmp_path / "events"
    events.mkdir()
    (events / "1.json").write_text(json.dumps({
        "eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "spark", "name": f"{uid}.job"},
        "inputs": [{"namespace": "file", "name": f"/{uid}/in"}],
        "outputs": [{"namespace": "file", "name": f"/{uid}/out"}],
    }))
    report = LineageIngestor(registry, typedefs=TypedefGuard(client, root)).drain(events)
    assert report.applied == 1 and report.rejected == []
    assert type_exists(client, name), "the ingest did not check the typedefs before applying its first event"
