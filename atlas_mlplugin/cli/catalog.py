"""`atlas-ml apply FILE`: make Atlas match a declarative catalog file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from atlas_mlplugin.cli.schema_option import schema_option


@click.command()
@schema_option("catalog", "the catalog file")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--allow-external-refs", is_flag=True,
              help="Let runs and derivations read datasets registered outside this file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def apply(ctx: click.Context, file: Path, dry_run: bool, allow_external_refs: bool, fmt: str) -> None:
    """Create or update what FILE declares (licenses, consent records, datasets, derivations, models,
    training runs). Idempotent: a second apply changes nothing. Entries removed from the file are not
    deleted from Atlas; their history stays. Schema: `atlas-ml apply --schema`."""
    from atlas_mlplugin.catalog.apply import apply_catalog
    from atlas_mlplugin.catalog.loader import load_catalog
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry

    registry = GovernanceRegistry(client_of(ctx))
    doc = load_catalog(file, catalog=registry.catalog, allow_external_refs=allow_external_refs)
    report = apply_catalog(doc, registry, dry_run=dry_run)
    if fmt == "json":
        click.echo(json.dumps({"dry_run": report.dry_run, "writes": report.writes,
                               "entries": [vars(e) for e in report.entries]}, indent=2, default=str))
    else:
        for line in report.lines():
            click.echo(line)
