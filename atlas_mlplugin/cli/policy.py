"""`atlas-ml check MODEL` and `atlas-ml impact DATASET`: release gates and retraction impact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from atlas_mlplugin.cli.governance import purpose_option
from atlas_mlplugin.cli.schema_option import schema_option


@click.command()
@schema_option("check-report", "the report of --format json")
@click.argument("model")
@click.option("--audience", type=click.Choice(["internal", "partner", "public"]), default="internal",
              show_default=True, help="Who receives the model.")
@click.option("--commercial/--non-commercial", default=False, show_default=True, help="Terms of the release.")
@click.option("--ships", multiple=True, type=click.Choice(["weights", "eval-data", "outputs"]),
              help="What is released (repeatable; default: weights).")
@click.option("--purpose", default=None, callback=purpose_option,
              help="Purpose of the release (a DPV purpose, see `atlas-ml consent purposes`), checked against "
                   "consent purposes.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy file (default: the built-in policy; see docs/policy.md).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "model-card"]), default="text",
              show_default=True, help="model-card: the license, attribution and use-restriction section of a "
                                      "Hugging Face model card (Markdown).")
@click.option("--update-card", type=click.Path(path_type=Path), default=None,
              help="Write the release's license, datasets and base models into this model card's front matter and "
                   "the model-card section into its text (replacing the one written before).")
@click.option("--fail-on", type=click.Choice(["block", "warn"]), default="block", show_default=True,
              help="Lowest verdict that makes the exit code 2.")
@click.option("--notice", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the NOTICE (attributions and required license texts) to this file.")
@click.option("--record/--no-record", default=True, show_default=True,
              help="Record the verdict in Atlas (release entity, model attributes, ReleaseVerdict tag).")
@click.pass_context
def check(ctx: click.Context, model: str, audience: str, commercial: bool, ships: tuple[str, ...],
          purpose: str | None, policy_file: Path | None, fmt: str, update_card: Path | None, fail_on: str,
          notice: Path | None, record: bool) -> None:
    """May MODEL (a qualifiedName) be released to this audience on these terms?

    Exit code 0 when it may, 2 when the verdict is BLOCK (or WARN with --fail-on warn), 1 on errors."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.policy.check import check_model
    from atlas_mlplugin.policy.model import ReleaseContext
    from atlas_mlplugin.policy.render import render_json, render_markdown, render_notice, render_text
    from atlas_mlplugin.policy.rules import load_policy

    policy = load_policy(policy_file)  # a bad policy file fails before Atlas is asked anything
    context = ReleaseContext(audience=audience, commercial=commercial,  # type: ignore[arg-type]
                             ships=frozenset(ships or ("weights",)), purpose=purpose)  # type: ignore[arg-type]
    from atlas_mlplugin.naming import from_user

    client = client_of(ctx)
    report = check_model(client, from_user(model), context, policy=policy, record=record)
    if fmt == "model-card" or update_card is not None:
        from atlas_mlplugin.cli.cards import model_card_section

        section = model_card_section(client, report, update_card)
        if fmt == "model-card":
            click.echo(section, nl=False)
    if fmt != "model-card":
        renderer = {"text": render_text, "json": render_json, "markdown": render_markdown}[fmt]
        click.echo(renderer(report), nl=False)
    if notice is not None:
        notice.write_text(render_notice(report))
        click.echo(f"NOTICE written to {notice}", err=True)
    failing = {"block": {"BLOCK"}, "warn": {"BLOCK", "WARN"}}[fail_on]
    if report.verdict in failing:
        sys.exit(2)


@click.command()
@click.argument("dataset")
@click.option("--type", "type_name", default=None,
              help="Atlas type of DATASET (default: the type Atlas holds it as; a model works too, e.g. a base model).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def impact(ctx: click.Context, dataset: str, type_name: str | None, fmt: str) -> None:
    """Every dataset, process, model and release downstream of DATASET, with the path to each: what a
    retraction or a consent withdrawal reaches. Lineage goes through models: the fine-tunes and distillations
    of a model built on DATASET are listed too. DATASET may also be a model (a base model whose terms changed)."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance.inputs import DATASET_SUPERTYPE
    from atlas_mlplugin.mapping.names import ML_DATASET
    from atlas_mlplugin.naming import from_user
    from atlas_mlplugin.reads import impact as downstream

    client = client_of(ctx)
    name = from_user(dataset)
    if type_name is None:  # one look-up finds a dataset or a model; none found: the usual "no ml_dataset" error
        found = client.find_entities(DATASET_SUPERTYPE, [name]).get(name)
        type_name = str(found.get("typeName")) if found else ML_DATASET
    report = downstream(client, name, type_name=type_name)
    if fmt == "json":
        click.echo(json.dumps(report.model_dump(), indent=2))
        return
    counts = {kind: len(report.of(kind)) for kind in ("dataset", "model", "release")}  # type: ignore[arg-type]
    click.echo(f"{dataset}: {counts['dataset']} downstream dataset(s), {counts['model']} model(s), "
               f"{counts['release']} release(s)")
    for entity in report.affected:
        if entity.kind == "process":
            continue
        deleted = " (deleted)" if entity.status == "DELETED" else ""
        click.echo(f"  {entity.kind:<8} {entity.qualified_name}{deleted}")
        click.echo(f"           via {' -> '.join(entity.path)}")
