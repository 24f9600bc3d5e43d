"""The OpenLineage HTTP receiver (a real waitress server in-process, on a free port): token, size limit,
validation, durable acceptance, and that no client can knock it over (lying or missing lengths, deep JSON,
stalled or idle connections, a burst of concurrent producers)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from atlas_mlplugin.openlineage.receiver import Receiver, make_server, serve_in_background
from atlas_mlplugin.scrubbing import scrub_name, scrub_value

TOKEN = "s3cret-receiver-token-0123456789"
EVENT = {"eventType": "COMPLETE", "eventTime": "2026-11-27T10:00:00Z", "producer": "t",
         "run": {"runId": "r1"}, "job": {"namespace": "spark", "name": "job"},
         "inputs": [{"namespace": "file", "name": "/a.csv"}], "outputs": []}
IDLE_TIMEOUT = 1  # seconds; the server's read/idle timeout in these tests


@dataclass
class Running:
    server: Receiver
    url: str
    directory: Path

    @property
    def address(self) -> tuple[str, int]:
        return self.server.server_address

    def stored(self) -> list[Path]:
        return sorted(self.directory.glob("*.json")) if self.directory.exists() else []


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Running]:
    server = make_server("127.0.0.1", 0, token=TOKEN, directory=tmp_path / "events", max_bytes=4096,
                         timeout=IDLE_TIMEOUT)
    thread = serve_in_background(server)
    yield Running(server, f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage", tmp_path / "events")
    server.shutdown()
    server.server_close()
    thread.join(10)
    assert not thread.is_alive(), "shutdown left the server thread running"


def post(url: str, body: object, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(url, data=data, headers=headers, timeout=10)


def exchange(address: tuple[str, int], raw: bytes, *, half_close: bool = False, wait: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it (or `wait` passes: then
    TimeoutError, i.e. the server neither answered nor closed)."""
    with socket.create_connection(address, timeout=wait) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def head(body_length: str | None, extra: str = "") -> bytes:
    length = "" if body_length is None else f"Content-Length: {body_length}\r\n"
    return (f"POST /api/v1/lineage HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n{length}{extra}"
            "Connection: close\r\n\r\n").encode()


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", answer)
    assert match, f"not an HTTP answer: {answer[:200]!r}"
    return int(match.group(1))


def message_of(answer: bytes) -> str:
    return json.loads(answer.partition(b"\r\n\r\n")[2])["message"]


# -- the API -----------------------------------------------------------------------------------------

def test_valid_event_is_written_to_disk_before_201(receiver: Running) -> None:
    assert post(receiver.url, EVENT).status_code == 201
    files = receiver.stored()
    assert len(files) == 1 and json.loads(files[0].read_text()) == EVENT


@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1], TOKEN + "x"])
def test_missing_or_wrong_token_is_refused(receiver: Running, token: str | None) -> None:
    reply = post(receiver.url, EVENT, token=token)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Bearer"
    assert not receiver.stored()


def test_other_paths_and_methods_are_refused(receiver: Running) -> None:
    base = receiver.url.removesuffix("/api/v1/lineage")
    assert post(base + "/api/v1/other", EVENT).status_code == 404
    reply = requests.get(receiver.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"
    assert not receiver.stored()


def test_malformed_event_gets_a_reason_and_is_not_kept(receiver: Running) -> None:
    reply = post(receiver.url, {"eventType": "COMPLETE", "job": {"namespace": "x"}})
    assert reply.status_code == 400 and "not a valid OpenLineage RunEvent" in reply.json()["message"]
    assert post(receiver.url, b"{not json").status_code == 400
    assert not receiver.stored()


def test_oversized_payload_is_refused(receiver: Running) -> None:
    big = dict(EVENT, inputs=[{"namespace": "file", "name": "/x" * 3000}])
    assert post(receiver.url, big).status_code == 413
    assert not receiver.stored()


def test_a_token_is_mandatory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token is required"):
        make_server("127.0.0.1", 0, token="", directory=tmp_path)


# -- what reaches disk and logs ----------------------------------------------------------------------

def test_credentials_in_names_are_not_stored(receiver: Running) -> None:
    job = "etl --password=hunter2 nightly"
    source = "jdbc:postgresql://etl:hunter2@db.internal:5432/crm?sslmode=require&password=hunter2"
    sink = "s3a://AKIAIOSFODNN7EXAMPLE:hunter2@bucket/gold/part-0.parquet"
    event = dict(EVENT, job={"namespace": "postgres://etl:hunter2@db.internal", "name": job},
                 inputs=[{"namespace": "postgres://db.internal:5432", "name": source}],
                 outputs=[{"namespace": "s3a://bucket", "name": sink,
                           "facets": {"dataSource": {"uri": source}}}])
    assert post(receiver.url, event).status_code == 201
    [path] = receiver.stored()
    text = path.read_text()
    assert "hunter2" not in text and "AKIAIOSFODNN7EXAMPLE" not in text
    stored = json.loads(text)
    # The names on disk are the names the mapping would give the datasets anyway.
    assert stored == scrub_value(event)
    assert stored["inputs"][0]["name"] == scrub_name(source) == "jdbc:postgresql://db.internal:5432/crm?sslmode=require"


def test_the_token_never_reaches_the_log(receiver: Running, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        post(receiver.url, EVENT)
        post(receiver.url, EVENT, token=TOKEN[::-1])
        post(receiver.url, b"{}")
    assert caplog.records, "the receiver logs its requests at debug level"
    assert not [r for r in caplog.records if TOKEN in r.getMessage() or TOKEN[::-1] in r.getMessage()]


# -- lengths: whatever Content-Length says, an answer and a bounded read ---------------------------

@pytest.mark.parametrize("declared", ["-1", "abc", "1e3", "+12", "0x10", " "])
def test_invalid_content_length_is_answered_400(receiver: Running, declared: str) -> None:
    body = json.dumps(EVENT).encode()
    answer = exchange(receiver.address, head(declared) + body)
    assert status_of(answer) == 400
    assert not receiver.stored()


def test_content_length_over_the_cap_is_answered_413_without_reading_the_body(receiver: Running) -> None:
    # Only the headers are sent: the answer must come from the declared length alone.
    answer = exchange(receiver.address, head(str(5 * 1024 * 1024)))
    assert status_of(answer) == 413
    assert not receiver.stored()


def test_chunked_body_over_the_cap_is_answered_413(receiver: Running) -> None:
    chunk = b"x" * 1000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(6)) + b"0\r\n\r\n"
    answer = exchange(receiver.address, head(None, "Transfer-Encoding: chunked\r\n") + body)
    assert status_of(answer) == 413
    assert not receiver.stored()


def test_chunked_event_is_accepted(receiver: Running) -> None:
    event = json.dumps(EVENT).encode()
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(event), event)
    assert status_of(exchange(receiver.address, head(None, "Transfer-Encoding: chunked\r\n") + body)) == 201
    assert len(receiver.stored()) == 1


def test_missing_content_length_is_answered_411(receiver: Running) -> None:
    answer = exchange(receiver.address, head(None))
    assert status_of(answer) == 411 and "Content-Length" in message_of(answer)


def test_body_shorter_than_its_length_is_answered_when_the_client_stops_sending(receiver: Running) -> None:
    # A complete, valid event, but Content-Length promises more: it must not be taken as the whole body.
    event = json.dumps(EVENT).encode()
    answer = exchange(receiver.address, head(str(len(event) + 100)) + event, half_close=True)
    assert status_of(answer) == 400 and "shorter than its Content-Length" in message_of(answer)
    assert not receiver.stored()


def test_body_shorter_than_its_length_is_answered_408_after_the_timeout(receiver: Running) -> None:
    event = json.dumps(EVENT).encode()
    answer = exchange(receiver.address, head(str(len(event) + 100)) + event)
    assert status_of(answer) == 408
    assert not receiver.stored()


def test_deeply_nested_json_is_answered_400_with_the_reason(receiver: Running) -> None:
    deep = b'{"eventTime": "2026-11-27T10:00:00Z", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    answer = exchange(receiver.address, head(str(len(deep))) + deep)
    assert status_of(answer) == 400 and "nests deeper than 64 levels" in message_of(answer)
    assert post(receiver.url, EVENT).status_code == 201, "the receiver still serves"


# -- connections -------------------------------------------------------------------------------------

def test_idle_connection_is_closed_after_the_timeout(receiver: Running) -> None:
    started = time.monotonic()
    # No request at all: the server closes the connection (recv returns b"") instead of waiting forever.
    assert exchange(receiver.address, b"", wait=IDLE_TIMEOUT + 10) == b""
    assert time.monotonic() - started >= IDLE_TIMEOUT * 0.9


# A producer gives up after a few seconds (the OpenLineage HTTP transport's default timeout is 5 s, our
# listener's too) and falls back to its spool or fails; twice that is the budget of each request here.
PRODUCER_TIMEOUT = 10.0


async def _connect(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
    try:
        return await asyncio.wait_for(asyncio.open_connection(*address), PRODUCER_TIMEOUT)
    except ConnectionResetError:
        return "reset"
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__


async def _exchange(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | str, request: bytes
                    ) -> int | str:
    if isinstance(connection, str):
        return connection
    reader, writer = connection
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), PRODUCER_TIMEOUT)
        return status_of(answer) if answer else "closed without an answer"
    except ConnectionResetError:
        return "reset"
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


def event_request() -> bytes:
    body = json.dumps(EVENT).encode()
    return head(str(len(body))) + body


def test_200_concurrent_posts_are_all_accepted(receiver: Running) -> None:
    count, request = 200, event_request()

    async def burst() -> list[int | str]:
        # All 200 connections are opened at once (non-blocking connects), as a cluster's producers would.
        async def one() -> int | str:
            return await _exchange(await _connect(receiver.address), request)
        return await asyncio.gather(*(one() for _ in range(count)))

    outcomes = asyncio.run(burst())
    assert outcomes == [201] * count, {o: outcomes.count(o) for o in set(outcomes)}
    assert len(receiver.stored()) == count


def test_a_burst_arriving_while_the_server_is_busy_waits_in_the_backlog(tmp_path: Path) -> None:
    """Not yet serving stands for every worker being busy: nothing accepts, so the kernel's listen backlog
    alone decides whether 200 producers arriving at once are queued or left retrying their SYNs until they
    give up. (Deterministic: no race with the server's accept loop.)"""
    server = make_server("127.0.0.1", 0, token=TOKEN, directory=tmp_path / "events")
    thread = None
    try:
        async def burst() -> list[int | str]:
            connections = await asyncio.gather(*(_connect(server.server_address) for _ in range(200)))
            queued = sum(not isinstance(c, str) for c in connections)
            assert queued == 200, f"only {queued} of 200 connections were queued by the listener"
            nonlocal thread
            thread = serve_in_background(server)
            return await asyncio.gather(*(_exchange(c, event_request()) for c in connections))

        outcomes = asyncio.run(burst())
        assert outcomes == [201] * 200, {o: outcomes.count(o) for o in set(outcomes)}
    finally:
        server.shutdown()
        server.server_close()


def test_shutdown_stops_listening(tmp_path: Path) -> None:
    server = make_server("127.0.0.1", 0, token=TOKEN, directory=tmp_path)
    thread = serve_in_background(server)
    address = server.server_address
    assert post(server.url, EVENT).status_code == 201
    server.shutdown()
    thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()
