"""A burst of concurrent OpenLineage POSTs at `atlas-ml serve`'s receiver, started in-process.

    .venv/bin/python bench/receiver_concurrency.py [--requests 200] [--baseline] [--repeat 3]

All N connections are opened at once (non-blocking connects from one asyncio loop), each sends one valid
RunEvent and reads the answer. Counted per run: sent, accepted (201), reset (connection reset by the
server), other (anything else: a timeout, another status, a close without an answer) and the wall time.
Each client gives up after --timeout seconds, like a producer (the OpenLineage HTTP transport's default is
5 s). With --baseline the same burst also goes to the previous design (http.server's ThreadingHTTPServer,
listen backlog 5, a thread per connection) serving the same WSGI application, side by side.
No Atlas is needed: the receiver only writes events to its directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socketserver
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as wsgiref_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr  # noqa: E402

from atlas_mlplugin.openlineage.ingest import event_queue  # noqa: E402
from atlas_mlplugin.openlineage.receiver import LineageApp, make_server, serve_in_background  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"
EVENT = {"eventType": "COMPLETE", "eventTime": "2026-11-30T10:00:00Z", "producer": "bench",
         "run": {"runId": "r"}, "job": {"namespace": "bench", "name": "job"},
         "inputs": [{"namespace": "file", "name": "/data/in.csv"}],
         "outputs": [{"namespace": "file", "name": "/data/out.parquet"}]}


def request_bytes() -> bytes:
    body = json.dumps(EVENT).encode()
    return (f"POST /api/v1/lineage HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode() + body


async def one_post(address: tuple[str, int], request: bytes, timeout: float) -> str:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    except ConnectionResetError:
        return "reset"
    except (OSError, asyncio.TimeoutError) as exc:
        return f"connect {type(exc).__name__}"
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout)
        return answer[9:12].decode() if answer.startswith(b"HTTP/1.") else "closed without an answer"
    except ConnectionResetError:
        return "reset"
    except (OSError, asyncio.TimeoutError) as exc:
        return type(exc).__name__
    finally:
        writer.close()


def burst(address: tuple[str, int], count: int, timeout: float) -> tuple[Counter[str], float]:
    async def run() -> list[str]:
        request = request_bytes()
        return await asyncio.gather(*(one_post(address, request, timeout) for _ in range(count)))

    started = time.perf_counter()
    outcomes = asyncio.run(run())
    return Counter(outcomes), time.perf_counter() - started


@contextmanager
def waitress_receiver(directory: Path, args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    server = make_server("127.0.0.1", 0, token=TOKEN, directory=directory, threads=args.threads,
                         backlog=args.backlog, connection_limit=args.connection_limit)
    serve_in_background(server)
    try:
        yield server.server_address
    finally:
        server.shutdown()


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # request_queue_size stays socketserver's 5, as in the previous receiver


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def stdlib_receiver(directory: Path, args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    app = LineageApp(SecretStr(TOKEN), event_queue(directory), 1 << 20)
    server = wsgiref_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="concurrent POSTs per burst (default 200)")
    parser.add_argument("--repeat", type=int, default=1, help="bursts per server (default 1)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds each client waits (default 10)")
    parser.add_argument("--threads", type=int, default=4, help="receiver worker threads (default 4)")
    parser.add_argument("--backlog", type=int, default=1024, help="receiver listen backlog (default 1024)")
    parser.add_argument("--connection-limit", type=int, default=100, help="receiver connection limit (100)")
    parser.add_argument("--baseline", action="store_true",
                        help="also run the burst against http.server with backlog 5 (the previous design)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()

    servers: list[tuple[str, Callable[[Path, argparse.Namespace], object]]] = [
        (f"waitress (threads {args.threads}, backlog {args.backlog}, limit {args.connection_limit})",
         waitress_receiver)]
    if args.baseline:
        servers.append(("http.server (thread per connection, backlog 5)", stdlib_receiver))
    results = []
    print(f"{'server':<52} {'run':>3} {'sent':>5} {'accepted':>8} {'reset':>5} {'other':>5} {'wall s':>7}  other kinds")
    for name, start in servers:
        for run in range(1, args.repeat + 1):
            directory = Path(tempfile.mkdtemp(prefix="receiver-bench-"))
            try:
                with start(directory, args) as address:  # type: ignore[attr-defined]
                    outcomes, wall = burst(address, args.requests, args.timeout)
                stored = len(list(directory.glob("*.json")))
            finally:
                shutil.rmtree(directory, ignore_errors=True)
            accepted, reset = outcomes["201"], outcomes["reset"]
            other = args.requests - accepted - reset
            kinds = {k: v for k, v in outcomes.items() if k not in ("201", "reset")}
            print(f"{name:<52} {run:>3} {args.requests:>5} {accepted:>8} {reset:>5} {other:>5} {wall:>7.2f}  "
                  f"{kinds or ''}")
            if stored != accepted:
                print(f"  !! {stored} events on disk for {accepted} accepted", file=sys.stderr)
            results.append({"server": name, "run": run, "sent": args.requests, "accepted": accepted,
                            "reset": reset, "other": other, "other_kinds": kinds, "wall_s": round(wall, 3),
                            "stored": stored})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if all(r["accepted"] == r["sent"] for r in results if r["server"].startswith("waitress")) else 1


if __name__ == "__main__":
    sys.exit(main())
