"""`atlas-ml serve`: an HTTP receiver for OpenLineage events (the OpenLineage HTTP transport's
POST /api/v1/lineage), putting each accepted event into the event directory queue (delivery/dirqueue.py)
that the ingest loop drains.

Accepting means "on disk", not "in Atlas": a producer is never held up, or made to fail, by Atlas being
slow or down. Bound to 127.0.0.1 unless told otherwise; a bearer token is required; payloads are capped.

Why waitress and not http.server: the receiver faces every producer of a cluster at once, and must not be
knocked over by any one of them. Waitress reads each request on an event loop and buffers the body (at most
`max_bytes`, in memory) before a worker thread sees it, checks Content-Length (negative, non-numeric, too
large -> 400/413) and chunked bodies, closes connections idle or stalled past `timeout`, listens with a
real backlog and caps open connections, so a slow or lying client costs a socket, not a worker.

What reaches disk is the parsed event with credentials scrubbed from every string (`scrub_value`, the same
rule as the mapping's names), never the raw body.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

from atlas_mlplugin.delivery.dirqueue import DirectoryQueue
from atlas_mlplugin.model.openlineage import InvalidRunEventError, parse_run_event_document
from atlas_mlplugin.openlineage.ingest import event_queue
from atlas_mlplugin.scrubbing import logger, scrub_value

log = logger(__name__)
LINEAGE_PATH = "/api/v1/lineage"
TOKEN_ENV = "ATLAS_ML_RECEIVER_TOKEN"
SHORT_TOKEN = 16  # below this, warn: a guessable token protects nothing
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII: what every client sends unchanged in a header


class _AtMostEvery(logging.Filter):
    """Lets a message containing one of `fragments` through at most once per `seconds`."""

    def __init__(self, seconds: float, *fragments: str) -> None:
        super().__init__()
        self.seconds, self.fragments = seconds, fragments
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = next((f for f in self.fragments if f in str(record.msg)), None)
        if key is None:
            return True
        now = time.monotonic()
        if key in self._last and now - self._last[key] < self.seconds:
            return False
        self._last[key] = now
        return True


# A burst of producers is what the queue, the connection limit and the backlog exist to absorb, yet waitress
# warns for every request queued while the workers are busy and every time the connection limit is reached
# or left: hundreds of lines per burst. The queue lines are dropped, the connection-limit ones kept at most
# once a minute; its other warnings (socket errors, exceptions) stay.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
logging.getLogger("waitress").addFilter(
    _AtMostEvery(60.0, "reached the connection limit", "dropped below the connection limit"))

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_REASONS = {201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _json_answer(status: int, message: str) -> bytes:
    return json.dumps({"status": status, "message": message}).encode()


class ReceiverSettings(BaseModel):
    """How `atlas-ml serve` listens; every limit has a default that suits a receiver on one machine."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(5050, ge=0, le=65535, description="0 picks a free port (tests)")
    token: SecretStr
    directory: Path
    max_bytes: int = Field(1 << 20, ge=1, le=1 << 30, description="largest event body accepted")
    threads: int = Field(4, ge=1, le=256, description="workers that validate and store events")
    backlog: int = Field(1024, ge=1, le=65535, description="connections the kernel queues before accept")
    timeout: int = Field(30, ge=1, le=86_400,
                         description="seconds a connection may be idle, or a request stall, before it is closed")
    connection_limit: int = Field(100, ge=1, le=10_000,
                                  description="open connections at once; more wait in the backlog")

    @field_validator("token")
    @classmethod
    def _one_header_value(cls, token: SecretStr) -> SecretStr:
        value = token.get_secret_value()
        if not value:
            raise ValueError(f"a token is required: put it in a file for --token-file, or set {TOKEN_ENV}")
        if not _TOKEN_CHARS.match(value):
            raise ValueError("the token contains spaces, control or non-ASCII characters, which an HTTP header "
                             "does not carry unchanged as one bearer token; use printable ASCII only (e.g. "
                             "`openssl rand -hex 32`)")
        return token


class LineageApp:
    """The WSGI application: POST /api/v1/lineage -> 201 once the event is durably in the event directory."""

    def __init__(self, token: SecretStr, events: DirectoryQueue, max_bytes: int) -> None:
        self._expected = token.get_secret_value().encode("utf-8")
        self.events = events
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, message, headers = self._handle(environ)
        except Exception:  # noqa: BLE001 - one request's bug must not become a dropped connection
            log.exception("receiver: unexpected error while handling a request")
            status, message, headers = 500, "the receiver failed on this request; see its log", []
        body = _json_answer(status, message)
        start_response(f"{status} {_REASONS[status]}", [("Content-Type", "application/json"),
                                                        ("Content-Length", str(len(body))), *headers])
        return [body]

    def _authorized(self, environ: dict[str, Any]) -> bool:
        # WSGI hands headers over as latin-1 decoded text: encode back to the bytes that were sent.
        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        sent = credentials.strip().encode("latin-1", "replace")
        # compare_digest even for a wrong scheme: the time taken says nothing about the token.
        return hmac.compare_digest(sent, self._expected) and scheme.lower() == "bearer"

    def _read_body(self, environ: dict[str, Any]) -> bytes | tuple[int, str]:
        """The body, or (status, reason). Never reads more than max_bytes + 1, whatever the headers say (the
        server in front normally refuses such requests before they get here)."""
        declared = environ.get("CONTENT_LENGTH")
        if declared is None or declared == "":
            return 411, "send the event with a Content-Length header (or chunked transfer encoding)"
        if not declared.isascii() or not declared.isdigit():
            return 400, "Content-Length must be a non-negative whole number of bytes"
        length = int(declared)
        if length > self.max_bytes:
            return 413, f"event of {length} bytes is larger than the limit of {self.max_bytes} bytes"
        body = environ["wsgi.input"].read(length) if length else b""
        if len(body) != length:
            return 400, f"the body has {len(body)} bytes, Content-Length said {length}"
        if not body:
            return 400, "the body is empty; POST one OpenLineage RunEvent as JSON"
        return body

    def _handle(self, environ: dict[str, Any]) -> tuple[int, str, list[tuple[str, str]]]:
        if environ.get("PATH_INFO", "").rstrip("/") != LINEAGE_PATH:
            return 404, f"POST OpenLineage events to {LINEAGE_PATH}", []
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, f"only POST is supported on {LINEAGE_PATH}", [("Allow", "POST")]
        if not self._authorized(environ):
            return 401, "missing or wrong bearer token", [("WWW-Authenticate", "Bearer")]
        body = self._read_body(environ)
        if isinstance(body, tuple):
            return (*body, [])
        try:
            document, event = parse_run_event_document(body)
        except InvalidRunEventError as exc:
            return 400, f"not a valid OpenLineage RunEvent: {exc}", []
        # Scrubbed as names, so a dataset's name on disk is the name the mapping would give it anyway.
        stored = json.dumps(scrub_value(document), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            path = self.events.put(stored)
        except OSError as exc:  # disk full, directory gone: the producer keeps the event and retries
            log.error("receiver: could not store an event in %s: %s", self.events.directory, exc)
            return 503, "the event could not be stored; retry later", [("Retry-After", "10")]
        log.debug("receiver: accepted %s event of job %s as %s", event.eventType, event.job.name, path.name)
        return 201, "accepted", []


class _AnsweringChannel(HTTPChannel):
    """Waitress's connection, except that a request that will never arrive in full gets an answer before
    the connection is closed, rather than a silent close: 408 when it stalled past the timeout (a body
    shorter than its Content-Length, headers never finished), 400 when the client ended the connection
    early. Idle keep-alive connections (no request begun) are still closed silently."""

    def handle_close(self) -> None:
        begun = self.request  # the request being received, None between requests
        if begun is not None and not begun.completed and not self.requests and not self.total_outbufs_len:
            if self.will_close:  # set by the server's maintenance: no activity for channel_timeout seconds
                status, message = 408, (f"the request did not arrive in full within {self.adj.channel_timeout} s "
                                        "(is the body shorter than its Content-Length?)")
            else:
                status, message = 400, ("the connection ended before the whole request arrived (is the body "
                                        "shorter than its Content-Length?)")
            body = _json_answer(status, message)
            head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
            with contextlib.suppress(OSError):  # best effort: the peer may be gone altogether
                self.socket.send(head + body)
        super().handle_close()


class Receiver:
    """A waitress server for LineageApp, bound at construction (`port` is the real one, also when 0 was
    asked for). `serve_forever` runs it in the calling thread; `shutdown` (from any thread) stops accepting,
    lets requests under way finish for up to `grace` seconds, then closes every connection."""

    def __init__(self, settings: ReceiverSettings, *, grace: float = 5.0) -> None:
        self.settings = settings
        self.grace = grace
        self._map: dict[int, wasyncore.dispatcher] = {}
        self._lock = threading.Lock()  # serve_forever and shutdown may race (shutdown right after start)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        app = LineageApp(settings.token, event_queue(settings.directory), settings.max_bytes)
        self._server = create_server(
            app, map=self._map, host=settings.host, port=settings.port, threads=settings.threads,
            backlog=settings.backlog, connection_limit=settings.connection_limit,
            channel_timeout=settings.timeout, cleanup_interval=max(1, min(30, settings.timeout // 2)),
            # waitress refuses a body of max_request_body_size bytes or more, hence + 1; keeping up to that
            # much in memory means the raw body (which may hold credentials) never goes to a temporary file.
            max_request_body_size=settings.max_bytes + 1, inbuf_overflow=settings.max_bytes + 1,
            asyncore_use_poll=True,  # select() fails past 1024 descriptors
            ident="atlas-mlplugin-receiver", expose_tracebacks=False)
        # One listener, or several (a host name with IPv4 and IPv6 addresses) behind a MultiSocketServer.
        listeners = [d for d in self._map.values() if isinstance(d, BaseWSGIServer)]
        for listener in listeners:
            listener.channel_class = _AnsweringChannel
        self.host, self.port = str(listeners[0].effective_host), int(listeners[0].effective_port)
        self._wake = listeners[0].pull_trigger
        if len(settings.token.get_secret_value()) < SHORT_TOKEN:
            log.warning("receiver: the token is shorter than %d characters; use a long random one "
                        "(e.g. `openssl rand -hex 32`)", SHORT_TOKEN)

    @property
    def server_address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{LINEAGE_PATH}"

    def serve_forever(self) -> None:
        with self._lock:
            if self._stop.is_set():  # shut down before it started
                return
            self._started = True
        try:
            while not self._stop.is_set() and self._map:
                wasyncore.loop(timeout=1.0, map=self._map, use_poll=True, count=1)
            self._finish()
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop serving and wait until every connection is closed (at most grace + 10 s by default)."""
        with self._lock:
            first, started = not self._stop.is_set(), self._started
            self._stop.set()
        if not started:  # never served (and now never will): close the listening socket here
            if first:
                self._finish()
                self._stopped.set()
            return
        with contextlib.suppress(OSError):  # already closed if the loop has finished
            self._wake()  # wake the event loop now rather than at its next timeout
        self._stopped.wait(self.grace + 10.0 if timeout is None else timeout)

    def server_close(self) -> None:
        """Kept for callers written for http.server; shutdown already closed everything."""

    def _finish(self) -> None:
        # 1. stop accepting (the listening sockets only: the trigger must keep waking the loop)
        for dispatcher in list(self._map.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                wasyncore.dispatcher.close(dispatcher)
        # 2. let requests under way be answered
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(
                isinstance(d, HTTPChannel) and (d.requests or d.total_outbufs_len) for d in list(self._map.values())):
            wasyncore.loop(timeout=0.05, map=self._map, use_poll=True, count=1)
        # 3. close the rest, stop the workers
        wasyncore.close_all(self._map)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=self.grace)


def make_server(host: str, port: int, *, token: str | SecretStr, directory: Path, max_bytes: int = 1 << 20,
                threads: int = 4, backlog: int = 1024, timeout: int = 30, connection_limit: int = 100) -> Receiver:
    """A bound, not yet serving, receiver (see ReceiverSettings for the limits)."""
    return Receiver(ReceiverSettings(host=host, port=port, token=token, directory=directory, max_bytes=max_bytes,
                                     threads=threads, backlog=backlog, timeout=timeout,
                                     connection_limit=connection_limit))


def serve_in_background(server: Receiver) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="atlas-ml-receiver", daemon=True)
    thread.start()
    return thread
