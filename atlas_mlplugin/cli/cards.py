"""`atlas-ml import card PATH...`: Hugging Face model and dataset cards into Atlas entities and lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # not imported at start-up (cli/main.py)
    from atlas_mlplugin.atlas.client import AtlasClient
    from atlas_mlplugin.policy.model import CheckReport


@click.group("import")
def import_group() -> None:
    """Record in Atlas what other tools already describe."""


@import_group.command("card")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(["model", "dataset"]), default=None,
              help="Model card or dataset card (default: told from the front matter's keys).")
@click.option("--repo-id", default=None,
              help="The card's Hub repo id, e.g. org/name (default: from the Hub cache layout the file is in, "
                   "else the name of the folder holding README.md). Only with one PATH.")
@click.option("--license", "license_id", default=None,
              help="Catalog license id to record instead of the card's (`atlas-ml license list`), e.g. when the "
                   "card says `other` or names several.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def import_card(ctx: click.Context, paths: tuple[Path, ...], kind: str | None, repo_id: str | None,
                license_id: str | None, dry_run: bool, fmt: str) -> None:
    """Record the models and datasets the Hugging Face cards at PATHS describe (README.md files with YAML front
    matter, or folders holding one): each model with its license, the datasets it was trained on and its base
    models as the inputs of its training run; each dataset with its license. Nothing is fetched from the Hub.
    Idempotent: importing the same cards again writes nothing."""
    from atlas_mlplugin.cards.importer import import_cards
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry

    registry = GovernanceRegistry(client_of(ctx))
    report = import_cards(list(paths), registry, kind=kind, repo_id=repo_id,  # type: ignore[arg-type]
                          license_id=license_id, dry_run=dry_run)
    if fmt == "json":
        click.echo(json.dumps({"dry_run": report.apply.dry_run, "writes": report.writes,
                               "placeholders": report.placeholders, "warnings": report.warnings,
                               "entries": [vars(e) for e in report.apply.entries]}, indent=2, default=str))
        return
    for line in report.lines():
        click.echo(line, err=line.startswith("warning: "))


def model_card_section(client: AtlasClient, report: CheckReport, update_card: Path | None) -> str:
    """`check --format model-card` / `--update-card`: the section for the checked model, written into the card
    when asked."""
    from atlas_mlplugin.cards.licensing import release_licensing
    from atlas_mlplugin.cards.write import update_card as write_card
    from atlas_mlplugin.licenses import LicenseCatalog
    from atlas_mlplugin.policy.render import render_model_card

    catalog = LicenseCatalog.from_csv()
    licensing = release_licensing(client, report.model, catalog)
    section = render_model_card(report, licensing)
    if update_card is not None:
        write_card(update_card, licensing, section, catalog)
        click.echo(f"model card {update_card} updated", err=True)
    return section
