"""`--schema` on `atlas-ml apply` and `atlas-ml check`: print the published JSON Schema of the file the command
reads (the catalog) or writes (the check report), from the copy shipped in the package, and exit."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def schema_option(name: str, what: str) -> Callable[[F], F]:
    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        from atlas_mlplugin.packaged import schema_path

        try:
            text = schema_path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(text, nl=False)
        ctx.exit(0)

    # eager, like --version: it runs before the command's required arguments are checked
    return click.option("--schema", is_flag=True, is_eager=True, expose_value=False, callback=show,
                        help=f"Print the JSON Schema of {what} and exit.")
