"""`atlas-ml spool status | flush`: writes that waited for Atlas."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

dir_option = click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
                          help="Spool directory (default: env ATLAS_ML_SPOOL_DIR, else the user data dir).")


@click.group()
def spool() -> None:
    """Governance writes kept on disk while Atlas was down or slow."""


@spool.command()
@dir_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(directory: Path | None, fmt: str) -> None:
    """How many writes wait, the oldest, and the last error; dead letters (rejected writes) too."""
    from atlas_mlplugin.delivery.spool import Spool

    queue = Spool(directory)
    pending, dead = queue.pending(), queue.dead_letters()
    data = {
        "directory": str(queue.directory), "pending": len(pending), "dead": len(dead),
        "oldest": pending[0].created_at.isoformat() if pending else None,
        "last_error": next((op.last_error for op in reversed(pending) if op.last_error), None),
        "dead_letters": [{"op_id": op.op_id, "kind": op.kind, "error": op.last_error} for op in dead],
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['pending']} pending, {data['dead']} dead letter(s) in {data['directory']}")
    if data["oldest"]:
        click.echo(f"oldest: {data['oldest']}; last error: {data['last_error'] or '-'}")
    for letter in data["dead_letters"]:
        click.echo(f"dead: {letter['kind']} {letter['op_id']}: {letter['error']}")


@spool.command()
@dir_option
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Give up after this many seconds.")
@click.option("--requeue-dead", is_flag=True, help="Retry rejected writes too (after fixing their cause).")
@click.pass_context
def flush(ctx: click.Context, directory: Path | None, timeout: float, requeue_dead: bool) -> None:
    """Deliver every waiting write now, in order. Exit 1 if some could not be delivered."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.delivery.handler import registry_handler
    from atlas_mlplugin.delivery.spool import Spool
    from atlas_mlplugin.governance import GovernanceRegistry

    queue = Spool(directory)
    if requeue_dead:
        click.echo(f"requeued {queue.requeue_dead()} dead letter(s)", err=True)
    total = len(queue)
    handler = registry_handler(GovernanceRegistry(client_of(ctx)))
    report = queue.drain(handler, timeout=timeout,
                         progress=lambda done, of: click.echo(f"  delivered {done}/{of}", err=True))
    click.echo(f"delivered {report.delivered} of {total}; {report.remaining} remaining; {len(report.dead)} rejected")
    for op_id, error in report.dead:
        click.echo(f"rejected {op_id}: {error}", err=True)
    if report.remaining or report.dead:
        if report.error:
            click.echo(f"stopped: {report.error}", err=True)
        sys.exit(1)
