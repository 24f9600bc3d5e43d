"""`atlas-ml spool status | flush`: writes that waited for Atlas."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

dir_option = click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
                          help="Spool directory (default: env ATLAS_ML_SPOOL_DIR, else the user data dir).")

# Pauses before trying again an op Atlas failed (HTTP 5xx) within one flush, so that a poison op is
# dead-lettered in one run (after --max-attempts failures in all) instead of holding up the rest.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


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
    pending, dead, failures = queue.pending(), queue.dead_letters(), queue.failures()
    data = {
        "directory": str(queue.directory), "pending": len(pending), "dead": len(dead),
        "oldest": pending[0].created_at.isoformat() if pending else None,
        "last_error": next((op.last_error for op in reversed(pending) if op.last_error), None),
        "retrying": [{"op_id": op_id, "failures": n, "max_attempts": queue.max_attempts}
                     for op_id, n in failures.items()],
        "dead_letters": [{"op_id": op.op_id, "kind": op.kind, "error": op.last_error} for op in dead],
    }
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['pending']} pending, {data['dead']} dead letter(s) in {data['directory']}")
    if data["oldest"]:
        click.echo(f"oldest: {data['oldest']}; last error: {data['last_error'] or '-'}")
    for op_id, n in failures.items():
        click.echo(f"retrying: {op_id} failed {n} of {queue.max_attempts} times")
    for letter in data["dead_letters"]:
        click.echo(f"dead: {letter['kind']} {letter['op_id']}: {letter['error']}")


@spool.command()
@dir_option
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Give up after this many seconds.")
@click.option("--requeue-dead", is_flag=True, help="Retry rejected writes too (after fixing their cause).")
@click.option("--max-attempts", type=click.IntRange(min=1), default=None,
              help="Dead-letter a write after Atlas failed it (HTTP 5xx) this many times in all [default: 5].")
@click.pass_context
def flush(ctx: click.Context, directory: Path | None, timeout: float, requeue_dead: bool,
          max_attempts: int | None) -> None:
    """Deliver every waiting write now, in order. Exit 1 if some could not be delivered.

    While Atlas is unreachable nothing is dropped: the flush stops and the writes stay. A write Atlas fails
    (HTTP 5xx) is tried again after a pause, and dead-lettered after --max-attempts failures so the rest
    goes; one Atlas refuses (4xx, invalid) is dead-lettered at once. Another flush (or a training job)
    draining the same spool is waited for, and whatever it delivered is not delivered again."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.delivery.handler import registry_handler
    from atlas_mlplugin.delivery.spool import Spool
    from atlas_mlplugin.governance import GovernanceRegistry

    queue = Spool(directory) if max_attempts is None else Spool(directory, max_attempts=max_attempts)
    if requeue_dead:
        click.echo(f"requeued {queue.requeue_dead()} dead letter(s)", err=True)
    handler = registry_handler(GovernanceRegistry(client_of(ctx)))
    report = queue.drain(handler, timeout=timeout, retry_delays=RETRY_DELAYS,
                         on_wait=lambda holder: click.echo(f"waiting for another drainer of {queue.directory}: "
                                                           f"{holder}", err=True),
                         progress=lambda done, of: click.echo(f"  delivered {done}/{of}", err=True))
    if report.busy:
        click.echo(f"another drainer still holds {queue.directory} after {timeout:g} s; nothing delivered", err=True)
        sys.exit(1)
    line = f"delivered {report.delivered} of {report.total}; {report.remaining} remaining; {len(report.dead)} rejected"
    if report.vanished:
        line += f"; {report.vanished} delivered by another drainer meanwhile"
    click.echo(line)
    for op_id, error in report.dead:
        click.echo(f"rejected {op_id}: {error}", err=True)
    if report.remaining or report.dead:
        if report.error:
            click.echo(f"stopped: {report.error}", err=True)
        sys.exit(1)
