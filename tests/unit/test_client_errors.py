"""AtlasClient facade: request shapes, JSON handling and the mapping of HTTP failures to typed errors.

All against a real, scripted HTTP server on 127.0.0.1 (no Atlas needed).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from atlas_mlplugin.atlas import (
    AtlasAuthError,
    AtlasClient,
    AtlasError,
    AtlasNotFoundError,
    AtlasRequestError,
    AtlasResponseError,
    AtlasServerError,
    AtlasUnavailableError,
    PendingTasksTimeoutError,
)
from tests.unit.scripted_http import PASSWORD, Reply, ScriptedServer, Seen, fast


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[AtlasClient]:
    c = AtlasClient(fast(server.url))
    yield c
    c.close()


def query(seen: Seen) -> dict[str, list[str]]:
    return parse_qs(urlsplit(seen.path).query)


def path_of(seen: Seen) -> str:
    return urlsplit(seen.path).path


# --------------------------------------------------------------------------------------------------
# Error mapping.


def test_400_carries_atlas_error_code_and_message(server: ScriptedServer, client: AtlasClient) -> None:
    server.default = Reply(
        400,
        {"errorCode": "ATLAS-400-00-001", "errorMessage": "invalid parameters: ml_dataset.name is required"},
    )
    with pytest.raises(AtlasRequestError) as info:
        client.upsert_entities([{"typeName": "ml_dataset", "attributes": {}}])
    err = info.value
    assert err.status == 400
    assert err.error_code == "ATLAS-400-00-001"
    assert err.error_message == "invalid parameters: ml_dataset.name is required"
    assert err.method == "POST"
    assert err.url == "/api/atlas/v2/entity/bulk"
    assert "ATLAS-400-00-001" in str(err) and "ml_dataset.name is required" in str(err)
    assert err.hint and err.hint in str(err)
    assert '"errorCode"' in (err.body or "")
    assert len(server.seen) == 1  # never retried


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors(server: ScriptedServer, client: AtlasClient, status: int) -> None:
    server.default = Reply(status, "<html><title>Error 401 Full authentication is required</title></html>")
    with pytest.raises(AtlasAuthError) as info:
        client.get_typedefs()
    err = info.value
    assert err.status == status
    assert "ATLAS_USER" in str(err) and "ATLAS_PASSWORD" in str(err) and "ATLAS_TOKEN" in str(err)
    assert PASSWORD not in str(err)
    assert len(server.seen) == 1


def test_404_maps_to_not_found(server: ScriptedServer, client: AtlasClient) -> None:
    server.default = Reply(
        404, {"errorCode": "ATLAS-404-00-005", "errorMessage": "Given instance guid abc is invalid/not found"}
    )
    with pytest.raises(AtlasNotFoundError) as info:
        client.get_entity("abc")
    assert info.value.error_code == "ATLAS-404-00-005"
    assert info.value.url == "/api/atlas/v2/entity/guid/abc"
    assert isinstance(info.value, AtlasError)
    assert len(server.seen) == 1


def test_5xx_after_retries_is_server_error_with_truncated_body(
    server: ScriptedServer, client: AtlasClient
) -> None:
    long_body = "There was an error processing your request. It has been logged (ID 91c3d9704f751661). " * 60
    server.default = Reply(500, long_body)
    with pytest.raises(AtlasServerError) as info:
        client.request("GET", "/admin/tasks")
    err = info.value
    assert err.status == 500
    assert err.attempts == 3 and len(server.seen) == 3
    assert "after 3 attempts" in str(err)
    assert err.body is not None and len(err.body) < 560
    assert err.body.startswith("There was an error processing your request")
    assert "application.log" in str(err)


def test_429_persisting_is_server_error(server: ScriptedServer, client: AtlasClient) -> None:
    server.default = Reply(429, "slow down")
    with pytest.raises(AtlasServerError) as info:
        client.get_typedefs()
    assert info.value.status == 429 and len(server.seen) == 3


def test_connection_refused_is_unavailable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    client = AtlasClient(fast(url, max_retries=2))
    with pytest.raises(AtlasUnavailableError) as info:
        client.status()
    text = str(info.value)
    assert url in text and "2 attempts" in text
    assert "is the server running? `atlas-ml server start` starts a local one; check ATLAS_URL" in text


def test_non_json_success_is_response_error(server: ScriptedServer, client: AtlasClient) -> None:
    server.default = Reply(200, "<html>login</html>")
    with pytest.raises(AtlasResponseError) as info:
        client.get_typedefs()
    assert "not JSON" in str(info.value) and "ATLAS_URL" in str(info.value)


def test_empty_and_204_bodies_return_none(server: ScriptedServer, client: AtlasClient) -> None:
    server.script(Reply(204, b""), Reply(200, b""))
    assert client.add_classifications("g1", [{"typeName": "PII"}]) is None
    assert client.request("DELETE", "/v2/entity/guid/g1/classification/PII") is None


# --------------------------------------------------------------------------------------------------
# Request shapes.


def test_status_and_version(server: ScriptedServer, client: AtlasClient) -> None:
    server.script(Reply(200, {"Status": "ACTIVE"}), Reply(200, {"Version": "2.1.0", "Name": "apache-atlas"}))
    assert client.status() == "ACTIVE"
    assert client.version()["Version"] == "2.1.0"
    assert [path_of(s) for s in server.seen] == ["/api/atlas/admin/status", "/api/atlas/admin/version"]
    assert client.server_version() == (2, 1, 0)
    assert len(server.seen) == 2  # cached


def test_typedef_calls(server: ScriptedServer, client: AtlasClient) -> None:
    defs = {"entityDefs": [{"name": "ml_model"}]}
    client.get_typedefs()
    client.create_typedefs(defs)
    client.update_typedefs(defs)
    assert [(s.method, path_of(s)) for s in server.seen] == [
        ("GET", "/api/atlas/v2/types/typedefs"),
        ("POST", "/api/atlas/v2/types/typedefs"),
        ("PUT", "/api/atlas/v2/types/typedefs"),
    ]
    assert json.loads(server.seen[1].body) == defs
    assert server.seen[1].headers["Content-Type"] == "application/json"
    assert server.seen[0].headers["Accept"] == "application/json"


def test_upsert_entities_body(server: ScriptedServer, client: AtlasClient) -> None:
    server.default = Reply(200, {"mutatedEntities": {"CREATE": [{"guid": "g1"}]}})
    entity = {"typeName": "ml_dataset", "attributes": {"qualifiedName": "ds@x", "name": "ds"}}
    result = client.upsert_entities([entity])
    assert result["mutatedEntities"]["CREATE"][0]["guid"] == "g1"
    assert json.loads(server.seen[0].body) == {"entities": [entity], "referredEntities": {}}


def test_entity_reads(server: ScriptedServer, client: AtlasClient) -> None:
    client.get_entity("g/1", min_ext_info=True)
    client.get_entities(["g1", "g2"], ignore_relationships=True)
    assert client.get_entities([]) == {"entities": [], "referredEntities": {}}
    client.delete_entity("g1")
    first, second, third = server.seen
    assert path_of(first) == "/api/atlas/v2/entity/guid/g%2F1"
    assert query(first) == {"minExtInfo": ["true"], "ignoreRelationships": ["false"]}
    assert path_of(second) == "/api/atlas/v2/entity/bulk"
    assert query(second)["guid"] == ["g1", "g2"]
    assert query(second)["ignoreRelationships"] == ["true"]
    assert (third.method, path_of(third)) == ("DELETE", "/api/atlas/v2/entity/guid/g1")


def test_find_entity_none_on_404_but_raises_on_unknown_type(
    server: ScriptedServer, client: AtlasClient
) -> None:
    server.script(
        Reply(200, {"entity": {"guid": "g1"}}),
        Reply(
            404,
            {"errorCode": "ATLAS-404-00-009", "errorMessage": "Instance ml_dataset with unique attribute"},
        ),
        Reply(
            400,
            {"errorCode": "ATLAS-400-00-014", "errorMessage": "Type ENTITY with name nope does not exist"},
        ),
    )
    assert client.find_entity("ml_dataset", "ds@x") == {"entity": {"guid": "g1"}}
    assert client.find_entity("ml_dataset", "missing@x") is None
    with pytest.raises(AtlasRequestError) as info:
        client.find_entity("nope", "x")
    assert info.value.error_code == "ATLAS-400-00-014"
    assert path_of(server.seen[0]) == "/api/atlas/v2/entity/uniqueAttribute/type/ml_dataset"
    assert query(server.seen[0])["attr:qualifiedName"] == ["ds@x"]


def test_classification_calls(server: ScriptedServer, client: AtlasClient) -> None:
    server.script(
        Reply(200, {"list": [{"typeName": "PII"}], "startIndex": 0, "pageSize": 1, "totalCount": 1}),
        Reply(204, b""),
        Reply(204, b""),
        Reply(204, b""),
    )
    assert client.get_classifications("g1") == [{"typeName": "PII"}]
    client.add_classifications("g1", [{"typeName": "PII"}])
    client.update_classifications("g1", [{"typeName": "PII", "propagate": True}])
    client.delete_classification("g1", "PII")
    assert [(s.method, path_of(s)) for s in server.seen] == [
        ("GET", "/api/atlas/v2/entity/guid/g1/classifications"),
        ("POST", "/api/atlas/v2/entity/guid/g1/classifications"),
        ("PUT", "/api/atlas/v2/entity/guid/g1/classifications"),
        ("DELETE", "/api/atlas/v2/entity/guid/g1/classification/PII"),
    ]
    assert json.loads(server.seen[2].body) == [{"typeName": "PII", "propagate": True}]


def test_relationship_lineage_and_search(server: ScriptedServer, client: AtlasClient) -> None:
    client.get_relationship("r1")
    client.update_relationship({"guid": "r1", "propagateTags": "NONE"})
    client.lineage("g1", direction="INPUT", depth=5)
    client.search_basic("ml_dataset", classification="PII", limit=10, offset=20, attributes=["name"])
    with pytest.raises(ValueError):
        client.lineage("g1", direction="SIDEWAYS")  # type: ignore[arg-type]
    rel_get, rel_put, lin, search = server.seen
    assert (rel_get.method, path_of(rel_get)) == ("GET", "/api/atlas/v2/relationship/guid/r1")
    assert (rel_put.method, path_of(rel_put)) == ("PUT", "/api/atlas/v2/relationship")
    assert path_of(lin) == "/api/atlas/v2/lineage/g1"
    assert query(lin) == {"direction": ["INPUT"], "depth": ["5"]}
    assert (search.method, path_of(search)) == ("POST", "/api/atlas/v2/search/basic")
    assert json.loads(search.body) == {
        "typeName": "ml_dataset",
        "classification": "PII",
        "limit": 10,
        "offset": 20,
        "attributes": ["name"],
    }


# --------------------------------------------------------------------------------------------------
# Deferred propagation tasks.


def test_pending_tasks_on_atlas_2_1_skips_missing_endpoint(
    server: ScriptedServer, client: AtlasClient
) -> None:
    server.default = Reply(200, {"Version": "2.1.0"})
    assert client.pending_tasks() == []
    assert client.pending_tasks() == []
    client.wait_for_pending_tasks(timeout=1)
    assert [path_of(s) for s in server.seen] == [
        "/api/atlas/admin/version"
    ]  # detected once, tasks never called


def test_pending_tasks_filters_finished_and_failed(server: ScriptedServer, client: AtlasClient) -> None:
    tasks = [
        {"guid": "t1", "type": "CLASSIFICATION_PROPAGATION_ADD", "status": "PENDING"},
        {"guid": "t2", "type": "CLASSIFICATION_PROPAGATION_ADD", "status": "IN_PROGRESS"},
        {"guid": "t3", "type": "CLASSIFICATION_PROPAGATION_DELETE", "status": "FAILED"},
        {"guid": "t4", "type": "CLASSIFICATION_PROPAGATION_DELETE", "status": "COMPLETE"},
    ]
    server.script(Reply(200, {"Version": "2.3.0"}), Reply(200, tasks))
    assert [t["guid"] for t in client.pending_tasks()] == ["t1", "t2"]
    assert path_of(server.seen[1]) == "/api/atlas/admin/tasks"


def test_pending_tasks_errors_are_not_swallowed_on_new_atlas(
    server: ScriptedServer, client: AtlasClient
) -> None:
    server.script(Reply(200, {"Version": "2.2.0"}))
    server.default = Reply(500, "There was an error processing your request.")
    with pytest.raises(AtlasServerError):
        client.pending_tasks()


def test_wait_for_pending_tasks_drains(server: ScriptedServer, client: AtlasClient) -> None:
    pending = [{"guid": "t1", "type": "CLASSIFICATION_PROPAGATION_ADD", "status": "PENDING"}]
    server.script(Reply(200, {"Version": "2.2.0"}), Reply(200, pending), Reply(200, pending), Reply(200, []))
    client.wait_for_pending_tasks(timeout=5, poll=0.01)
    assert len(server.seen) == 4


def test_wait_for_pending_tasks_times_out(server: ScriptedServer, client: AtlasClient) -> None:
    pending = [
        {"guid": "t1", "type": "CLASSIFICATION_PROPAGATION_ADD", "status": "PENDING"},
        {"guid": "t2", "type": "CLASSIFICATION_PROPAGATION_ADD", "status": "IN_PROGRESS"},
    ]
    server.script(Reply(200, {"Version": "2.2.0"}))
    server.default = Reply(200, pending)
    start = time.monotonic()
    with pytest.raises(PendingTasksTimeoutError) as info:
        client.wait_for_pending_tasks(timeout=0.1, poll=0.02)
    assert time.monotonic() - start < 1.0
    assert info.value.pending == 2
    assert "2 Atlas task(s) still pending" in str(info.value)
    assert "CLASSIFICATION_PROPAGATION_ADD" in str(info.value)
