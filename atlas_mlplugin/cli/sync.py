"""`atlas-ml sync mlflow`: mirror MLflow runs and models into Atlas (atlas_mlplugin/sync/mlflow.py)."""

from __future__ import annotations

import json

import click


@click.group()
def sync() -> None:
    """Mirror what other ML tools record into Atlas, with its lineage."""


@sync.command("mlflow")
@click.option("--tracking-uri", required=True, envvar="MLFLOW_TRACKING_URI", show_envvar=True,
              help="The MLflow tracking server or store: http(s)://host:5000, sqlite:///path/mlflow.db, databricks. "
                   "Credentials come from MLflow's own variables (MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN) and are "
                   "never written to Atlas.")
@click.option("--registry-uri", default=None, help="The model registry, when it is not the tracking server.")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Only this experiment (repeatable); default: every active experiment.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lock-timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait for another sync of the same tracking URI to finish (cron-safe).")
@click.option("--batch", type=click.IntRange(min=1), default=50, show_default=True, help="Runs per Atlas write batch.")
@click.pass_context
def mlflow(ctx: click.Context, tracking_uri: str, registry_uri: str | None, experiments: tuple[str, ...],
           dry_run: bool, fmt: str, lock_timeout: float, batch: int) -> None:
    """Mirror MLflow runs (params, status, times, code version, the datasets logged with mlflow.log_input),
    logged models and registered model versions, with base models, into Atlas. Idempotent: a second sync
    writes nothing. Runs whose inputs cannot be named are recorded with incomplete lineage; a run that cannot
    be written is reported and the others go through (exit code 1 when any failed)."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry
    from atlas_mlplugin.scrubbing import scrub_text
    from atlas_mlplugin.sync.mlflow import mlflow_client, sync_lock, sync_mlflow

    def progress(message: str) -> None:
        click.echo(scrub_text(message), err=True)

    client = mlflow_client(tracking_uri, registry_uri)
    registry = GovernanceRegistry(client_of(ctx))
    with sync_lock(tracking_uri, lock_timeout,
                   on_wait=lambda holder: progress(f"waiting for another sync of this tracking URI ({holder})")):
        report = sync_mlflow(registry, client, tracking_uri, experiments=experiments, dry_run=dry_run, batch=batch,
                             progress=progress)
    if fmt == "json":
        click.echo(json.dumps(report.as_json(), indent=2, default=str))
    else:
        for line in report.lines():
            click.echo(scrub_text(line))
    if report.failed:
        ctx.exit(1)
