"""`atlas-ml accept`: record, list or revoke the risk an officer accepted on a model (RiskAccepted)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.option("--rule", "rules", multiple=True, help="Id of a policy rule whose findings are accepted "
              "(repeatable; see `atlas-ml check`). With --revoke: revoke only these rules.")
@click.option("--dataset", "datasets", multiple=True,
              help="Accept only findings from this source dataset (qualifiedName; repeatable; default: any).")
@click.option("--approver", default=None, help="Who accepts the risk (the accountable person).")
@click.option("--reason", default=None, help="Why the risk is acceptable.")
@click.option("--ticket", default=None, help="Reference of the review or decision record.")
@click.option("--until", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Last day (YYYY-MM-DD, UTC) on which the acceptance holds.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy whose rule ids and never_acceptable list apply (default: the built-in policy).")
@click.option("--replace", is_flag=True, help="Replace the model's existing acceptance (Atlas holds one per model).")
@click.option("--list", "list_", is_flag=True, help="Show the model's acceptance.")
@click.option("--revoke", is_flag=True, help="Remove the model's acceptance (or only the --rule ones).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def accept(ctx: click.Context, model: str, rules: tuple[str, ...], datasets: tuple[str, ...], approver: str | None,
           reason: str | None, ticket: str | None, until: datetime | None, policy_file: Path | None,
           replace: bool, list_: bool, revoke: bool, fmt: str) -> None:
    """Accept the risk of MODEL's findings for RULEs until a date, as a reviewed decision: `atlas-ml check`
    then reports them as ACCEPTED (who, why, until when) and they leave the verdict.

        atlas-ml accept models/scene-intent/1 --rule personal-data-public-weights \\
            --approver dpo@example.org --ticket PRIV-42 --until 2025-06-30

    Retracted data and withdrawn consent can never be accepted (the policy's never_acceptable)."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.naming import from_user
    from atlas_mlplugin.policy.accepting import current_acceptance, record_acceptance, revoke_acceptance

    if list_ and revoke:
        raise click.UsageError("give --list or --revoke, not both")
    qualified_name = from_user(model)
    if list_:
        _show(current_acceptance(client_of(ctx), qualified_name), model, fmt)
        return
    if revoke:
        remaining = revoke_acceptance(client_of(ctx), qualified_name, rules)
        click.echo(f"revoked {', '.join(rules) if rules else 'the acceptance'} on {model}")
        if remaining is not None:
            _show(remaining, model, fmt)
        return
    missing = [flag for flag, value in (("--rule", rules), ("--approver", approver), ("--until", until)) if not value]
    if missing:
        raise click.UsageError(f"an acceptance needs {', '.join(missing)} (and --reason or --ticket)")
    if not (reason or ticket):
        raise click.UsageError("say why the risk is acceptable: give --reason or --ticket")
    from atlas_mlplugin.policy.model import Acceptance
    from atlas_mlplugin.policy.rules import load_policy

    policy = load_policy(policy_file)
    assert until is not None and approver is not None
    acceptance = Acceptance(rules=tuple(dict.fromkeys(rules)), datasets=tuple(dict.fromkeys(datasets)),
                            approver=approver, reason=reason, ticket=ticket, until=until.date(),
                            recorded_on=qualified_name)
    record_acceptance(client_of(ctx), qualified_name, acceptance, policy, replace=replace)
    click.echo(f"accepted on {model}:")
    _show(acceptance, model, fmt)


def _show(acceptance: object, model: str, fmt: str) -> None:
    from atlas_mlplugin.policy.model import Acceptance

    if acceptance is None:
        click.echo(json.dumps(None) if fmt == "json" else f"{model} has no accepted risk")
        return
    assert isinstance(acceptance, Acceptance)
    if fmt == "json":
        click.echo(json.dumps(acceptance.model_dump(mode="json"), indent=2))
        return
    click.echo(f"  rules:    {', '.join(acceptance.rules)}")
    click.echo(f"  datasets: {', '.join(acceptance.datasets) or 'any'}")
    click.echo(f"  approver: {acceptance.approver}")
    for label, value in (("reason", acceptance.reason), ("ticket", acceptance.ticket)):
        if value:
            click.echo(f"  {label}:   {value}")
    click.echo(f"  until:    {acceptance.until.isoformat()} (inclusive, UTC)")
