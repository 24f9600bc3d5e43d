"""`atlas-ml ingest` and `atlas-ml serve`: OpenLineage events from Spark and other producers into Atlas."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click


def _ingestor(ctx: click.Context, include_reads: bool = False):  # noqa: ANN202
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry
    from atlas_mlplugin.openlineage.ingest import LineageIngestor

    return LineageIngestor(GovernanceRegistry(client_of(ctx)), include_reads=include_reads)


reads_option = click.option("--include-reads", is_flag=True,
                            help="Also record jobs that read without writing (skipped by default).")


def _drain_once(ingestor, directory: Path, *, quiet_when_idle: bool = True, **drain: object) -> int:  # noqa: ANN001
    """One pass over the directory; says what it did when something happened (or always, with
    `quiet_when_idle=False`: a one-off ingest reports even that there was nothing to do)."""
    report = ingestor.drain(directory, on_wait=lambda holder: click.echo(
        f"waiting for another drainer of {directory}: {holder}", err=True), **drain)
    if not quiet_when_idle or report.applied or report.rejected or report.error or report.vanished:
        click.echo(report.summary(), err=True)
    for name, reason in report.rejected:
        click.echo(f"rejected {name}: {reason}", err=True)
    return report.remaining


# Pauses before trying again an event Atlas failed (HTTP 5xx) within one pass, so that a poison event is
# rejected in one run (after --max-attempts failures in all) instead of holding up the rest.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--follow", is_flag=True, help="Keep watching the directory (Ctrl-C to stop).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between scans with --follow.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=5, show_default=True,
              help="Reject an event after Atlas failed it (HTTP 5xx) this many times in all.")
@reads_option
@click.pass_context
def ingest(ctx: click.Context, directory: Path, follow: bool, interval: float, max_attempts: int,
           include_reads: bool) -> None:
    """Apply the OpenLineage events in DIRECTORY (e.g. the Spark listener's spool) to Atlas, oldest first.
    Applied files are removed; invalid ones, and ones Atlas refuses, move to DIRECTORY/rejected/ with the
    reason. Several ingests of one directory may run at once: each file is applied by one of them. Exit 1 if
    events remain because Atlas could not take them."""
    ingestor = _ingestor(ctx, include_reads)
    remaining = _drain_once(ingestor, directory, quiet_when_idle=False, max_attempts=max_attempts,
                            retry_delays=RETRY_DELAYS)
    while follow:
        time.sleep(interval)
        _drain_once(ingestor, directory, max_attempts=max_attempts)
    if remaining:
        sys.exit(1)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=int, default=5050, show_default=True)
@click.option("--token", default=lambda: os.environ.get("ATLAS_ML_RECEIVER_TOKEN", ""),
              help="Bearer token producers must send (default: env ATLAS_ML_RECEIVER_TOKEN).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where accepted events are kept until they are in Atlas.")
@click.option("--max-bytes", type=int, default=1 << 20, show_default=True, help="Largest event accepted.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between ingest passes.")
@reads_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str, directory: Path, max_bytes: int,
          interval: float, include_reads: bool) -> None:
    """Receive OpenLineage events over HTTP (POST /api/v1/lineage) and feed them to Atlas."""
    from atlas_mlplugin.openlineage.receiver import make_server, serve_in_background

    if not token:
        raise click.UsageError("a token is required: --token or ATLAS_ML_RECEIVER_TOKEN")
    server = make_server(host, port, token=token, directory=directory, max_bytes=max_bytes)
    serve_in_background(server)
    click.echo(f"receiving OpenLineage events on http://{host}:{server.server_address[1]}/api/v1/lineage", err=True)
    ingestor = _ingestor(ctx, include_reads)
    try:
        while True:
            _drain_once(ingestor, directory)
            time.sleep(interval)
    except KeyboardInterrupt:
        server.shutdown()
