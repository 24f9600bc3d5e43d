"""`atlas-ml server ...`: the local Apache Atlas."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the launcher pulls in requests and pydantic: imported only when a command runs
    from atlas_mlplugin.server.launcher import LocalAtlas, ServerStatus


def _local_atlas(state_dir: Path | None, port: int | None = None, **extra: object) -> LocalAtlas:
    from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

    values: dict[str, object] = {k: v for k, v in extra.items() if v is not None}
    if state_dir is not None:
        values["state_dir"] = state_dir
    if port is not None:
        values["port"] = port
    return LocalAtlas(LauncherOptions(**values))


state_dir_option = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=None,
    help="Where the server keeps config, data and logs (default: env ATLAS_ML_STATE_DIR, else the user "
    "cache dir).")


bind_option = click.option("--bind", "bind_address", default=None,
                           help="Address to listen on (default 127.0.0.1; 0.0.0.0 inside a container).")

port_option = click.option("--port", type=int, default=None, help="HTTP port (default 21000).")
timeout_option = click.option("--timeout", "start_timeout", type=float, default=None,
                              help="Seconds to wait for the server to become ACTIVE (default 600).")
heap_option = click.option("--heap", default=None, help="JVM heap, e.g. 1536m (default).")


@click.group()
def server() -> None:
    """Run a real Apache Atlas on this machine (BerkeleyDB storage, embedded Solr and Kafka)."""


@server.command()
@state_dir_option
@port_option
@timeout_option
@heap_option
@click.option("--reindex", is_flag=True, help="Rebuild the search index from the graph (done by itself when "
                                                 "the last run did not stop cleanly).")
@bind_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON when ready.")
def start(state_dir: Path | None, port: int | None, start_timeout: float | None, heap: str | None,
          reindex: bool, bind_address: str | None, as_json: bool) -> None:
    """Download (once), configure and start Atlas, wait until it is ACTIVE, create the base types.

    A no-op when the server already runs. The catalog of earlier runs is kept (`server reset` wipes it)."""
    atlas = _local_atlas(state_dir, port, start_timeout=start_timeout, heap=heap, reindex=reindex or None,
                         bind_address=bind_address)
    status = atlas.start(progress=lambda msg: click.echo(msg, err=True))
    _apply_types(status, only_base=True)
    if as_json:
        click.echo(json.dumps(atlas.status().model_dump(), indent=2))
    else:
        click.echo(f"Atlas UI: {status.url}  user: {status.user}  password: {status.password}")


def _apply_types(status: ServerStatus, *, only_base: bool) -> None:
    """The base types a local Atlas lacks (and with only_base=False our ML governance types too)."""
    from atlas_mlplugin.atlas.client import AtlasClient
    from atlas_mlplugin.atlas.config import AtlasSettings
    from atlas_mlplugin.atlas.typedefs import apply

    settings = AtlasSettings(url=status.url, username=status.user, password=status.password)
    report = apply(AtlasClient(settings), only_base=only_base)
    if report.created or report.updated:
        click.echo(f"Created {len(report.created)} and updated {len(report.updated)} Atlas type(s).", err=True)


@server.command()
@state_dir_option
@port_option
@timeout_option
@heap_option
@click.option("--reindex", is_flag=True, help="Rebuild the search index from the graph at start.")
@bind_option
@click.option("--apply-typedefs/--base-types-only", default=True, show_default=True,
              help="Also apply the ML governance types (typedefs/) once the server is up.")
def run(state_dir: Path | None, port: int | None, start_timeout: float | None, heap: str | None, reindex: bool,
        bind_address: str | None, apply_typedefs: bool) -> None:
    """Run Atlas in the foreground: start it, then stop it cleanly on SIGTERM or Ctrl-C (for containers and
    service managers). Exit code 1 if the server exits by itself."""
    import sys

    atlas = _local_atlas(state_dir, port, start_timeout=start_timeout, heap=heap, reindex=reindex or None,
                         bind_address=bind_address)

    def ready(status: ServerStatus) -> None:
        _apply_types(status, only_base=not apply_typedefs)
        click.echo(f"Atlas is ready at {status.url} (state in {atlas.home}); stop with SIGTERM or Ctrl-C", err=True)

    sys.exit(atlas.run(progress=lambda msg: click.echo(msg, err=True), on_ready=ready))


@server.command()
@click.option("--download-dir", type=click.Path(path_type=Path), default=None,
              help="Download cache (default: env ATLAS_ML_DOWNLOAD_DIR, else the user cache dir).")
def prepare(download_dir: Path | None) -> None:
    """Download (once) and unpack the Atlas server without starting it, and print where it is unpacked
    (e.g. to bake it into a container image; ATLAS_ML_ATLAS_WEBAPP then runs that copy)."""
    from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

    options = LauncherOptions(**({"download_dir": download_dir} if download_dir else {}))
    _, webapp = LocalAtlas(options).prepare(progress=lambda msg: click.echo(msg, err=True))
    click.echo(str(webapp))


@server.command()
@state_dir_option
def stop(state_dir: Path | None) -> None:
    """Stop the local Atlas and wait until its JVM has exited."""
    if _local_atlas(state_dir).stop(progress=lambda msg: click.echo(msg, err=True)):
        click.echo("Atlas stopped.")
    else:
        click.echo("Atlas was not running.")


@server.command()
@state_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(state_dir: Path | None, yes: bool) -> None:
    """Stop the local Atlas and delete its catalog: every entity, tag, audit event and log (the generated
    password stays)."""
    atlas = _local_atlas(state_dir)
    if not yes:
        click.confirm(f"Delete the catalog in {atlas.home}?", abort=True)
    removed = atlas.reset(progress=lambda msg: click.echo(msg, err=True))
    click.echo(f"reset {atlas.home}: removed {', '.join(removed) or 'nothing'}")


@server.command()
@state_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--healthy", is_flag=True, help="Exit code 1 unless the server is ACTIVE and, under `server run`, "
              "has our types applied (for health checks: clients may write once it passes).")
def status(state_dir: Path | None, as_json: bool, healthy: bool) -> None:
    """Whether the local Atlas runs, where, and with which credentials. Exit code 0 either way, unless
    --healthy."""
    info = _local_atlas(state_dir).status()
    if healthy and not info.ready:
        why = "it is applying our types" if info.running else f"Atlas says {info.atlas_status or 'nothing'}"
        click.echo(f"not healthy: {why} (pid {info.pid})", err=True)
        raise SystemExit(1)
    if as_json:
        click.echo(json.dumps(info.model_dump(), indent=2))
        return
    if info.running:
        click.echo(f"running: Atlas {info.version} at {info.url} (pid {info.pid}, {info.rss_mb:.0f} MB)")
        click.echo(f"user: {info.user}  password: {info.password}")
        if info.kafka_bootstrap_servers:
            click.echo(f"kafka: {info.kafka_bootstrap_servers} (topic ATLAS_HOOK; `--transport kafka`)")
    elif info.pid is not None:
        click.echo(f"starting: pid {info.pid}, Atlas says {info.atlas_status or 'nothing yet'}")
    else:
        click.echo("not running (start it with `atlas-ml server start`)")
    click.echo(f"state: {info.state_dir}")


@server.command()
@state_dir_option
@click.option("-n", "--lines", type=int, default=50, help="How many lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
def logs(state_dir: Path | None, lines: int, follow: bool) -> None:
    """Print the end of the local Atlas's log."""
    atlas = _local_atlas(state_dir)
    if follow and atlas.log_file.is_file():
        subprocess.run(["tail", "-n", str(lines), "-F", str(atlas.log_file)], check=False)
    else:
        click.echo(atlas.log_tail(lines))
