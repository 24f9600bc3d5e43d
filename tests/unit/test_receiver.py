"""The OpenLineage HTTP receiver: token, size limit, validation, durable acceptance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from atlas_mlplugin.openlineage.receiver import make_server, serve_in_background

EVENT = {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "t",
         "run": {"runId": "r1"}, "job": {"namespace": "spark", "name": "job"},
         "inputs": [{"namespace": "file", "name": "/a.csv"}], "outputs": []}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    server = make_server("127.0.0.1", 0, token="s3cret", directory=tmp_path / "events", max_bytes=4096)
    serve_in_background(server)
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage", tmp_path / "events"
    server.shutdown()
    server.server_close()


def post(url: str, body: object, token: str | None = "s3cret") -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers=headers, timeout=5)


def test_valid_event_is_written_to_disk_before_201(receiver: tuple[str, Path]) -> None:
    url, directory = receiver
    assert post(url, EVENT).status_code == 201
    files = list(directory.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == EVENT


@pytest.mark.parametrize("token", [None, "wrong"])
def test_missing_or_wrong_token_is_refused(receiver: tuple[str, Path], token: str | None) -> None:
    url, directory = receiver
    assert post(url, EVENT, token=token).status_code == 401
    assert not directory.exists() or not list(directory.glob("*.json"))


def test_malformed_event_gets_a_reason_and_is_not_kept(receiver: tuple[str, Path]) -> None:
    url, directory = receiver
    reply = post(url, {"eventType": "COMPLETE", "job": {"namespace": "x"}})
    assert reply.status_code == 400 and "not a valid OpenLineage RunEvent" in reply.json()["message"]
    assert post(url, b"{not json").status_code == 400
    assert not directory.exists() or not list(directory.glob("*.json"))


def test_oversized_payload_is_refused(receiver: tuple[str, Path]) -> None:
    url, _ = receiver
    big = dict(EVENT, inputs=[{"namespace": "file", "name": "/x" * 3000}])
    assert post(url, big).status_code == 413


def test_a_token_is_mandatory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token is required"):
        make_server("127.0.0.1", 0, token="", directory=tmp_path)
