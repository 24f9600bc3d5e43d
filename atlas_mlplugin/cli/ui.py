"""`atlas-ml ui ...`: what governance officers see in the Atlas UI."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import click


@click.group()
def ui() -> None:
    """Set up the Atlas UI for governance officers."""


@ui.command()
@click.option("--prune/--no-prune", default=True, show_default=True,
              help="Remove saved searches named 'ML governance: ...' that this version no longer defines.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def searches(ctx: click.Context, prune: bool, fmt: str) -> None:
    """Create or refresh the officers' saved searches for the Atlas user you log in as (ATLAS_USER).

    Models blocked for public release, retracted datasets and the models built on them, datasets with
    unknown license, accepted risks expiring within 30 days. They appear in the Atlas UI under
    Search > Basic > Favorite searches. Atlas keeps saved searches per user and lets each user write only
    their own: run this once with each officer's credentials. The 30-day window is fixed when the searches
    are written (Atlas 2.1 has no relative dates), so re-run it daily, e.g. from cron:

        0 6 * * *  ATLAS_URL=... ATLAS_USER=dpo ATLAS_PASSWORD=... atlas-ml ui searches

    Idempotent: an unchanged search is left alone, a changed one is updated in place."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance.saved_searches import install_officer_searches, officer_searches

    client = client_of(ctx)
    report = install_officer_searches(client, prune=prune)
    if fmt == "json":
        click.echo(json.dumps(report.model_dump(), indent=2))
        return
    for line in report.lines():
        click.echo(line)
    shows = {s.name: s.shows for s in officer_searches(datetime.now(timezone.utc).date())}
    click.echo(f"\nIn the Atlas UI ({client.settings.url}), logged in as {report.owner or 'this user'}: "
               "Search > Basic > Favorite searches:")
    for name, what in shows.items():
        click.echo(f"  {name}\n      {what}")

