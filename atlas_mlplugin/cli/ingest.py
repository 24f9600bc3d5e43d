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


def _drain_once(ingestor, directory: Path) -> int:  # noqa: ANN001
    report = ingestor.drain(directory)
    if report.applied or report.rejected or report.error:
        click.echo(f"applied {report.applied} event(s), skipped {report.skipped} non-terminal, "
                   f"rejected {len(report.rejected)}" + (f"; stopped: {report.error}" if report.error else ""),
                   err=True)
    for name, reason in report.rejected:
        click.echo(f"rejected {name}: {reason}", err=True)
    return report.remaining


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--follow", is_flag=True, help="Keep watching the directory (Ctrl-C to stop).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between scans with --follow.")
@reads_option
@click.pass_context
def ingest(ctx: click.Context, directory: Path, follow: bool, interval: float, include_reads: bool) -> None:
    """Apply the OpenLineage events in DIRECTORY (e.g. the Spark listener's spool) to Atlas, oldest first.
    Applied files are removed; invalid ones move to DIRECTORY/rejected/ with the reason. Exit 1 if events
    remain because Atlas could not be reached."""
    ingestor = _ingestor(ctx, include_reads)
    remaining = _drain_once(ingestor, directory)
    while follow:
        time.sleep(interval)
        _drain_once(ingestor, directory)
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
