"""`atlas-ml typedefs ...`: our Atlas types."""

from __future__ import annotations

import sys
from pathlib import Path

import click

dir_option = click.option("--dir", "root", type=click.Path(path_type=Path), default=None,
                          help="Typedefs directory (default: the project's typedefs/).")


@click.group()
def typedefs() -> None:
    """Validate and apply the ML governance type definitions."""


@typedefs.command()
@dir_option
def check(root: Path | None) -> None:
    """Validate the typedef files offline; each error names file, line, type and attribute."""
    from atlas_mlplugin.atlas import typedefs as td

    root = root or td.default_typedefs_dir()
    issues = td.check(root)
    for issue in issues:
        click.echo(f"error: {issue}", err=True)
    if issues:
        click.echo(f"{len(issues)} error(s) in {root}", err=True)
        sys.exit(1)
    docs, _ = td.load_documents(root)
    count = sum(len(d.defs[c]) for d in docs for c in td.CATEGORIES)
    click.echo(f"ok: {count} type definitions in {len(docs)} file(s) under {root}")


@typedefs.command("apply")
@dir_option
@click.option("--dry-run", is_flag=True, help="Show what would change without changing Atlas.")
@click.pass_context
def apply_cmd(ctx: click.Context, root: Path | None, dry_run: bool) -> None:
    """Create missing types and update those whose typeVersion changed; idempotent."""
    from atlas_mlplugin.atlas import typedefs as td
    from atlas_mlplugin.cli.connection import client_of

    client = client_of(ctx)
    try:
        report = td.apply(client, root, dry_run=dry_run)
    except td.TypedefValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    prefix = "would have " if dry_run else ""
    for line in report.lines():
        click.echo(prefix + line if line.startswith(("created", "updated")) else line)
    click.echo("nothing to change" if not report.changed else ("dry run: nothing changed" if dry_run else "done"))
