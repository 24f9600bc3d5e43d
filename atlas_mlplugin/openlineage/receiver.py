"""`atlas-ml serve`: an HTTP receiver for OpenLineage events (the OpenLineage HTTP transport's
POST /api/v1/lineage), putting each accepted event into the event directory queue (delivery/dirqueue.py)
that the ingest loop drains.

Accepting means "on disk", not "in Atlas": a producer is never held up, or made to fail, by Atlas being
slow or down. Bound to 127.0.0.1 unless told otherwise; a bearer token is required; payloads are capped.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pydantic import ValidationError

from atlas_mlplugin.model.openlineage import RunEvent
from atlas_mlplugin.openlineage.ingest import event_queue

log = logging.getLogger(__name__)
LINEAGE_PATH = "/api/v1/lineage"


def make_server(host: str, port: int, *, token: str, directory: Path, max_bytes: int = 1 << 20
                ) -> ThreadingHTTPServer:
    if not token:
        raise ValueError("a token is required: pass --token or set ATLAS_ML_RECEIVER_TOKEN")

    events = event_queue(directory)

    class Handler(BaseHTTPRequestHandler):
        server_version = "atlas-mlplugin-receiver"

        def _answer(self, status: int, message: str) -> None:
            body = json.dumps({"status": status, "message": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.split("?")[0].rstrip("/") != LINEAGE_PATH:
                return self._answer(404, f"POST OpenLineage events to {LINEAGE_PATH}")
            sent = self.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return self._answer(401, "missing or wrong bearer token")
            length = int(self.headers.get("Content-Length") or 0)
            if length > max_bytes:
                return self._answer(413, f"event larger than {max_bytes} bytes")
            payload = self.rfile.read(length)
            try:
                RunEvent.model_validate(json.loads(payload))
            except (ValueError, ValidationError) as exc:
                return self._answer(400, f"not a valid OpenLineage RunEvent: {str(exc).splitlines()[0]}")
            events.put(payload)
            return self._answer(201, "accepted")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep tokens out of logs
            log.debug("receiver: %s", format % args)

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="atlas-ml-receiver", daemon=True)
    thread.start()
    return thread
