"""`atlas-ml`: the command line of atlas-mlplugin.

Exit codes: 0 success; 2 `check` found the release not allowed (BLOCK, or WARN with --fail-on warn);
1 the command failed (the message says why and what to try: Atlas unreachable,
invalid input, unknown license, an entity not registered, undelivered spool entries); 2 usage error.

Start-up is kept short because a release gate in CI pays it on every call: each subcommand's module is
imported only when that subcommand is looked up (`--help` imports the command modules, which import only
click at module level; the HTTP stack, pydantic models and the launcher load inside the commands).
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from pathlib import Path

import click

from atlas_mlplugin import __version__
from atlas_mlplugin.errors import AtlasMlError

# command name -> "module:attribute" of the click command, in the order `--help` lists them
COMMANDS: dict[str, str] = {
    "server": "atlas_mlplugin.cli.server:server",
    "typedefs": "atlas_mlplugin.cli.typedefs:typedefs",
    "license": "atlas_mlplugin.cli.governance:license",
    "dataset": "atlas_mlplugin.cli.governance:dataset",
    "consent": "atlas_mlplugin.cli.governance:consent",
    "lineage": "atlas_mlplugin.cli.governance:lineage",
    "apply": "atlas_mlplugin.cli.catalog:apply",
    "import": "atlas_mlplugin.cli.cards:import_group",
    "spool": "atlas_mlplugin.cli.spool:spool",
    "check": "atlas_mlplugin.cli.policy:check",
    "impact": "atlas_mlplugin.cli.policy:impact",
    "accept": "atlas_mlplugin.cli.accept:accept",
    "watch": "atlas_mlplugin.cli.watch:watch",
    "ui": "atlas_mlplugin.cli.ui:ui",
    "ingest": "atlas_mlplugin.cli.ingest:ingest",
    "serve": "atlas_mlplugin.cli.ingest:serve",
    "spark": "atlas_mlplugin.cli.spark:spark",
    "sync": "atlas_mlplugin.cli.sync:sync",
}


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic is not imported at start-up; if it never was, nothing raised its ValidationError.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(exc, pydantic.ValidationError)


class LazyCommands(click.Group):
    """Subcommands loaded on first use; our typed errors become a message and exit code 1, not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command

    def invoke(self, ctx: click.Context) -> object:
        from atlas_mlplugin.scrubbing import scrub_text  # what reaches the terminal is scrubbed like a log

        try:
            return super().invoke(ctx)
        except AtlasMlError as exc:
            click.echo(scrub_text(f"error: {exc}"), err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            if _is_validation_error(exc):
                click.echo(scrub_text(f"error: invalid input:\n{exc}"), err=True)
                sys.exit(1)
            # A bug: the traceback helps whoever reports it, without the credentials it may quote.
            click.echo(scrub_text("".join(traceback.format_exception(exc))), err=True)
            sys.exit(2)


@click.group(cls=LazyCommands)
@click.version_option(__version__, prog_name="atlas-ml")
@click.option("--config", "config", type=click.Path(path_type=Path), default=None,
              help="Properties file with atlas.url, atlas.username, ... (default: env ATLAS_ML_CONFIG).")
@click.option("-v", "--verbose", is_flag=True, help="Log retries and HTTP details.")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: bool) -> None:
    """Governance of ML training data in Apache Atlas: licenses, consent, personal data and
    retraction, carried along lineage into models.

    Without ATLAS_URL or --config, commands talk to the local server of `atlas-ml server start`."""
    from atlas_mlplugin.scrubbing import ScrubbingFilter

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # every record, ours and the libraries' (urllib3's URLs)
        if not any(isinstance(f, ScrubbingFilter) for f in handler.filters):
            handler.addFilter(ScrubbingFilter())
    ctx.obj = {"config": config}


if __name__ == "__main__":  # python -m atlas_mlplugin.cli.main
    cli(prog_name="atlas-ml")
