"""`atlas-ml license | dataset | consent | lineage`: the governance model from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import click

format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="Output format.")


def _registry(ctx: click.Context):  # noqa: ANN202 - imported lazily to keep `--help` fast
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry

    return GovernanceRegistry(client_of(ctx))


def _emit(fmt: str, data: Any, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if fmt == "json" else text)


# --- licenses ----------------------------------------------------------------------------------------
@click.group()
def license() -> None:  # noqa: A001 - the command is called `license`
    """The license catalog: ML-relevant terms of common data and model licenses."""


@license.command("list")
@format_option
def license_list(fmt: str) -> None:
    """Every license in the catalog with its use category and obligations."""
    from atlas_mlplugin.licenses import LicenseCatalog

    licenses = LicenseCatalog.from_csv().all()
    rows = [f"{lic.spdx_id:<34} {lic.use_category:<14} "
            + ", ".join(k for k, on in (("attribution", lic.attribution_required), ("share-alike", lic.share_alike),
                                        ("no-derivatives", lic.derivatives_allowed != "yes"),
                                        ("license-text", lic.license_text_must_accompany),
                                        ("use-policy", bool(lic.use_policy_url)),
                                        ("naming", bool(lic.naming_requirement)),
                                        ("user-threshold", bool(lic.user_threshold))) if on)
            for lic in licenses]
    _emit(fmt, [lic.model_dump() for lic in licenses], "\n".join(rows))


@license.command("show")
@click.argument("license_id")
@format_option
def license_show(license_id: str, fmt: str) -> None:
    """One license's terms (an unknown id lists close matches)."""
    from atlas_mlplugin.licenses import LicenseCatalog

    lic = LicenseCatalog.from_csv().get(license_id)
    _emit(fmt, lic.model_dump(), "\n".join(f"{k}: {v}" for k, v in lic.model_dump().items()))


# --- datasets ----------------------------------------------------------------------------------------
@click.group()
def dataset() -> None:
    """Register, inspect and retract datasets."""


@dataset.command("register")
@click.option("--qualified-name", "-q", required=True, help="Unique name, e.g. s3://bucket/path.")
@click.option("--name", required=True)
@click.option("--license", "license_id", default=None, help="SPDX id or LicenseRef-... (default NOASSERTION).")
@click.option("--path", "local_path", type=click.Path(exists=True), default=None,
              help="Local copy to fingerprint (sha256).")
@click.option("--creator", default=None)
@click.option("--url", default=None)
@click.option("--version", default=None)
@click.option("--description", default=None)
@click.option("--personal-data", multiple=True, help="A personal data category in the data (repeatable).")
@click.option("--special-category", multiple=True, help="A GDPR Art. 9 category (repeatable).")
@click.option("--consent", "consent_records", multiple=True, help="qualifiedName of a consent record.")
@click.option("--intended-use", default=None)
@click.option("--research-only", is_flag=True, help="Use is limited to research.")
@format_option
@click.pass_context
def dataset_register(ctx: click.Context, fmt: str, **fields: Any) -> None:
    """Register (or update) a dataset; its tags follow from the facts given."""
    from atlas_mlplugin.model import DatasetSpec

    spec = DatasetSpec(
        qualified_name=fields["qualified_name"], name=fields["name"], license=fields["license_id"],
        local_path=fields["local_path"], creator=fields["creator"], url=fields["url"], version=fields["version"],
        description=fields["description"], personal_data_categories=list(fields["personal_data"]),
        special_categories=list(fields["special_category"]), consent_records=list(fields["consent_records"]),
        intended_use=fields["intended_use"], research_only=fields["research_only"],
    )
    registry = _registry(ctx)
    guid = registry.register_dataset(spec)
    tags = sorted(c["typeName"] for c in registry.client.get_classifications(guid))
    _emit(fmt, {"guid": guid, "qualifiedName": spec.qualified_name, "tags": tags},
          f"registered {spec.qualified_name} ({guid}); tags: {', '.join(tags) or 'none'}")


@dataset.command("show")
@click.argument("qualified_name")
@format_option
@click.pass_context
def dataset_show(ctx: click.Context, qualified_name: str, fmt: str) -> None:
    """A dataset's facts and its tags, direct or inherited, with their sources."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.naming import from_user
    from atlas_mlplugin.reads import upstream_tags

    tagged = upstream_tags(client_of(ctx), from_user(qualified_name), "ml_dataset")
    entity, tags = tagged.entity, tagged.tags
    attrs = {k: v for k, v in entity["attributes"].items() if v not in (None, [], {})}
    lines = [f"{k}: {v}" for k, v in sorted(attrs.items())]
    lines.append("tags:")
    lines += [f"  {t.type_name:<20} {'direct' if t.direct else 'from ' + str(t.source_qualified_name)}"
              for t in tags]
    _emit(fmt, {"guid": entity["guid"], "attributes": attrs, "tags": [t.model_dump() for t in tags]},
          "\n".join(lines))


@dataset.command("retract")
@click.argument("qualified_name")
@click.option("--reason", required=True, help="Why the dataset was withdrawn.")
@click.option("--date", "when", type=click.DateTime(["%Y-%m-%d"]), default=None, help="YYYY-MM-DD (today).")
@click.option("--notice-url", default=None)
@format_option
@click.pass_context
def dataset_retract(ctx: click.Context, qualified_name: str, reason: str, when: datetime | None,
                    notice_url: str | None, fmt: str) -> None:
    """Mark a dataset retracted; every model trained on it, directly or not, inherits the mark."""
    from atlas_mlplugin.model import Retraction

    Retraction(reason=reason, notice_url=notice_url)  # validate before touching Atlas
    day: date | None = when.date() if when else None
    guid = _registry(ctx).retract_dataset(qualified_name, reason, when=day, notice_url=notice_url)
    _emit(fmt, {"guid": guid, "retracted": qualified_name}, f"retracted {qualified_name}")


# --- consent -----------------------------------------------------------------------------------------
def purpose_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A click callback: each purpose canonical (DPV term), or a usage error naming the input and the
    closest terms, before Atlas is asked anything. Shared by every command that takes a purpose."""
    from atlas_mlplugin.purposes import UnknownPurposeError, canonical_purpose, canonical_purposes

    try:
        if value is None:
            return None
        return tuple(canonical_purposes(value)) if isinstance(value, tuple) else canonical_purpose(value)
    except UnknownPurposeError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.group()
def consent() -> None:
    """Consent records of data subjects."""


@consent.command("purposes")
@click.option("--under", default=None, callback=purpose_option,
              help="Only this purpose and the narrower ones it covers.")
@format_option
def consent_purposes(under: str | None, fmt: str) -> None:
    """The purposes a consent record, a training run or a release may name (DPV purpose taxonomy)."""
    from atlas_mlplugin.purposes import ALIASES, DPV_VERSION, vocabulary

    vocab = vocabulary()
    chosen = [p for p in vocab.purposes.values() if under is None or vocab.covers(under, p.term)]
    aliases: dict[str, list[str]] = {}
    for alias, term in ALIASES.items():
        aliases.setdefault(term, []).append(alias)
    data = [{"purpose": p.term, "label": p.label, "broader": list(p.broader), "iri": p.iri, "source": p.source,
             "aliases": aliases.get(p.term, []), "definition": p.definition} for p in chosen]
    rows = [f"{p.term:<46} {'< ' + ', '.join(p.broader) if p.broader else ''}" for p in chosen]
    _emit(fmt, data, f"# DPV {DPV_VERSION} purposes and atlas-mlplugin additions (consent to a purpose covers "
                     "the narrower ones)\n" + "\n".join(rows))


@consent.command("add")
@click.option("--qualified-name", "-q", required=True)
@click.option("--name", required=True)
@click.option("--purpose", "purposes", multiple=True, callback=purpose_option,
              help="A purpose the subjects agreed to (repeatable); a DPV purpose, see `consent purposes`. "
                   "Covers its narrower purposes.")
@click.option("--excluded-purpose", "excluded", multiple=True, callback=purpose_option,
              help="A purpose they excluded (repeatable); excludes its narrower purposes too.")
@click.option("--legal-basis", default=None, help="e.g. consent (GDPR Art. 6(1)(a)).")
@click.option("--subjects", "data_subject_category", default=None, help="Who the data subjects are.")
@click.option("--notice-url", default=None)
@format_option
@click.pass_context
def consent_add(ctx: click.Context, fmt: str, **fields: Any) -> None:
    """Register (or update) a consent record; link it with `dataset register --consent`."""
    from atlas_mlplugin.model import ConsentRecordSpec

    spec = ConsentRecordSpec(qualified_name=fields["qualified_name"], name=fields["name"],
                             purposes=list(fields["purposes"]), excluded_purposes=list(fields["excluded"]),
                             legal_basis=fields["legal_basis"], notice_url=fields["notice_url"],
                             data_subject_category=fields["data_subject_category"])
    guid = _registry(ctx).register_consent(spec)
    _emit(fmt, {"guid": guid, "qualifiedName": spec.qualified_name}, f"registered consent {spec.qualified_name}")


@consent.command("withdraw")
@click.argument("qualified_name")
@click.option("--at", "when", type=click.DateTime(), default=None, help="When it was withdrawn (now).")
@format_option
@click.pass_context
def consent_withdraw(ctx: click.Context, qualified_name: str, when: datetime | None, fmt: str) -> None:
    """Record a withdrawal; the datasets it covers and every model downstream are marked."""
    guid = _registry(ctx).withdraw_consent(qualified_name, when=when)
    _emit(fmt, {"guid": guid, "withdrawn": qualified_name}, f"withdrew consent {qualified_name}")


# --- lineage -----------------------------------------------------------------------------------------
@click.command()
@click.argument("model")
@click.option("--depth", type=int, default=20, show_default=True, help="How many hops upstream.")
@format_option
@click.pass_context
def lineage(ctx: click.Context, model: str, depth: int, fmt: str) -> None:
    """The datasets, runs and models (base models of a fine-tune) upstream of MODEL (a qualifiedName), with the
    tags each contributes."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.naming import from_user
    from atlas_mlplugin.reads import upstream_tree

    tree = upstream_tree(client_of(ctx), from_user(model), depth=depth).model_dump()
    lines: list[str] = []

    def render(n: dict[str, Any], indent: str) -> None:
        tags = f"  [{', '.join(n['contributes'])}]" if n["contributes"] else ""
        deleted = " (deleted)" if n["status"] == "DELETED" else ""
        lines.append(f"{indent}{n['typeName']} {n['qualifiedName']}{deleted}{tags}")
        for child in n["upstream"]:
            render(child, indent + "  ")

    render(tree, "")
    _emit(fmt, tree, "\n".join(lines))
