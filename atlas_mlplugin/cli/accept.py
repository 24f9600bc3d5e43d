"""`atlas-ml accept`: record, list or revoke the risk an officer accepted on a model, or on one of its release
decisions (RiskAccepted)."""

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
@click.option("--audience", type=click.Choice(["internal", "partner", "public"]), default=None,
              help="Accept on the model's release decision for this audience (the ml_release a recorded "
                   "`atlas-ml check --audience ...` wrote): it then holds for that release context only. "
                   "Default: on the model, for every context.")
@click.option("--commercial/--non-commercial", default=None,
              help="With --audience: the terms of that release decision (default: non-commercial).")
@click.option("--replace", is_flag=True, help="Replace the existing acceptance (Atlas holds one per model or "
                                              "release).")
@click.option("--list", "list_", is_flag=True, help="Show the model's acceptance.")
@click.option("--revoke", is_flag=True, help="Remove the model's acceptance (or only the --rule ones).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def accept(ctx: click.Context, model: str, rules: tuple[str, ...], datasets: tuple[str, ...], approver: str | None,
           reason: str | None, ticket: str | None, until: datetime | None, policy_file: Path | None,
           audience: str | None, commercial: bool | None, replace: bool, list_: bool, revoke: bool,
           fmt: str) -> None:
    """Accept the risk of MODEL's findings for RULEs until a date, as a reviewed decision: `atlas-ml check`
    then reports them as ACCEPTED (who, why, until when) and they leave the verdict.

        atlas-ml accept models/scene-intent/1 --rule personal-data-public-weights \\
            --approver dpo@example.org --ticket PRIV-42 --until 2025-06-30

    With --audience (and --commercial), the acceptance goes on the release decision of that context instead
    of the model, as an officer attaches it on the release's page in the Atlas UI: a partner release's
    share-alike finding accepted under a contract stays a finding for the public release.

        atlas-ml accept models/scene-intent/1 --audience partner --rule share-alike \\
            --approver legal@example.org --reason "partner contract 4.2" --until 2025-12-31

    Retracted data and withdrawn consent can never be accepted (the policy's never_acceptable)."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.mapping.names import ML_MODEL, ML_RELEASE
    from atlas_mlplugin.naming import from_user
    from atlas_mlplugin.policy.accepting import (
        current_acceptance,
        record_acceptance,
        release_qualified_name,
        revoke_acceptance,
    )
    from atlas_mlplugin.policy.model import ReleaseContext

    if list_ and revoke:
        raise click.UsageError("give --list or --revoke, not both")
    if commercial is not None and audience is None:
        raise click.UsageError("--commercial/--non-commercial choose a release decision: give --audience too")
    qualified_name, type_name, target = from_user(model), ML_MODEL, model
    if audience is not None:
        context = ReleaseContext(audience=audience, commercial=bool(commercial))  # type: ignore[arg-type]
        qualified_name, type_name = release_qualified_name(qualified_name, context), ML_RELEASE
        target = f"release {qualified_name}"
    if list_:
        _show(current_acceptance(client_of(ctx), qualified_name, type_name), target, fmt)
        return
    if revoke:
        remaining = revoke_acceptance(client_of(ctx), qualified_name, rules, type_name)
        click.echo(f"revoked {', '.join(rules) if rules else 'the acceptance'} on {target}")
        if remaining is not None:
            _show(remaining, target, fmt)
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
    record_acceptance(client_of(ctx), qualified_name, acceptance, policy, replace=replace, type_name=type_name)
    click.echo(f"accepted on {target}:")
    _show(acceptance, target, fmt)


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
