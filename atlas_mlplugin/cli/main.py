"""`atlas-ml`: the command line of atlas-mlplugin.

Exit codes: 0 success; 2 `check` found the release not allowed (BLOCK, or WARN with --fail-on warn);
1 the command failed (the message says why and what to try: Atlas unreachable,
invalid input, unknown license, an entity not registered, undelivered spool entries); 2 usage error.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from atlas_mlplugin import __version__
from atlas_mlplugin.errors import AtlasMlError


class FriendlyErrors(click.Group):
    """Turns our typed errors into a message and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except AtlasMlError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except ValidationError as exc:
            click.echo(f"error: invalid input:\n{exc}", err=True)
            sys.exit(1)


@click.group(cls=FriendlyErrors)
@click.version_option(__version__, prog_name="atlas-ml")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="Properties file with atlas.url, atlas.username, ... (default: env ATLAS_ML_CONFIG).")
@click.option("-v", "--verbose", is_flag=True, help="Log retries and HTTP details.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Governance of ML training data in Apache Atlas: licenses, consent, personal data and
    retraction, carried along lineage into models.

    Without ATLAS_URL or --config, commands talk to the local server of `atlas-ml server start`."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"config": config}


def _register() -> None:
    from atlas_mlplugin.cli import catalog, governance, ingest, policy, server, spool, typedefs

    for command in (server.server, typedefs.typedefs, governance.license, governance.dataset, governance.consent,
                    governance.lineage, catalog.apply, spool.spool, policy.check, policy.impact, ingest.ingest,
                    ingest.serve):
        cli.add_command(command)


_register()
