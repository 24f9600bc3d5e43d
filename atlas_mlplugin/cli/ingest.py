"""`atlas-ml ingest` and `atlas-ml serve`: OpenLineage events from Spark and other producers into Atlas."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import click


def _ingestor(ctx: click.Context, include_reads: bool = False, transport: str | None = None,  # noqa: ANN202
              batch_size: int | None = None):
    from atlas_mlplugin.atlas.errors import ConfigError
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.governance import GovernanceRegistry
    from atlas_mlplugin.openlineage.ingest import DEFAULT_BATCH, LineageIngestor
    from atlas_mlplugin.transport.settings import transport_name

    registry = GovernanceRegistry(client_of(ctx))
    writer = None
    try:
        if transport_name(transport) == "kafka":
            from atlas_mlplugin.transport.kafka import HookPublisher
            from atlas_mlplugin.transport.lineage import KafkaLineageWriter

            writer = KafkaLineageWriter(registry, HookPublisher(_kafka_settings(ctx)))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    return LineageIngestor(registry, include_reads=include_reads, writer=writer,
                           batch_size=batch_size or DEFAULT_BATCH)


def _kafka_settings(ctx: click.Context):  # noqa: ANN202
    """The configured Kafka settings; with none configured and no Atlas named, the local server's broker (as the
    REST connection falls back to the local server)."""
    from atlas_mlplugin.atlas.errors import ConfigError
    from atlas_mlplugin.transport.settings import BOOTSTRAP, KAFKA_PREFIX, load_kafka_settings

    try:
        return load_kafka_settings(ctx.obj["config"])
    except ConfigError as exc:
        if exc.key != KAFKA_PREFIX + BOOTSTRAP or ctx.obj["config"] or os.environ.get("ATLAS_URL"):
            raise
        from atlas_mlplugin.server.launcher import LocalAtlas

        local = LocalAtlas().status().kafka_bootstrap_servers
        if not local:
            raise
        return load_kafka_settings(ctx.obj["config"], {**os.environ, "ATLAS_KAFKA_BOOTSTRAP_SERVERS": local})


# Not imported from openlineage.ingest: the CLI must not import the ingest stack at start-up.
batch_option = click.option("--batch-size", type=click.IntRange(1, 1000), default=100, show_default=True,
                            help="Events looked up and written together (one bulk request each); a batch Atlas "
                                 "refuses is applied one event at a time to find the one at fault.")


reads_option = click.option("--include-reads", is_flag=True,
                            help="Also record jobs that read without writing (skipped by default).")
transport_option = click.option(
    "--transport", type=click.Choice(["rest", "kafka"]), default=None,
    help="How events reach Atlas: its REST API, or hook notifications on its Kafka topic ATLAS_HOOK (settings: "
         "atlas.kafka.* in $ATLAS_CONF/atlas-application.properties, $ATLAS_ML_CONFIG or ATLAS_KAFKA_BOOTSTRAP_SERVERS"
         "). Default: env ATLAS_ML_TRANSPORT, else rest.")


def _drain_once(ingestor, directory: Path, *, quiet_when_idle: bool = True, **drain: object) -> int:  # noqa: ANN001
    """One pass over the directory; says what it did when something happened (or always, with
    `quiet_when_idle=False`: a one-off ingest reports even that there was nothing to do)."""
    report = ingestor.drain(directory, on_wait=lambda holder: click.echo(
        f"waiting for another drainer of {directory}: {holder}", err=True), **drain)
    if not quiet_when_idle or report.applied or report.rejected or report.error or report.vanished:
        click.echo(report.summary(), err=True)
    for name, reason in report.rejected:
        click.echo(f"rejected {name}: {reason}", err=True)
    return report.remaining


# Pauses before trying again an event Atlas failed (HTTP 5xx) within one pass, so that a poison event is
# rejected in one run (after --max-attempts failures in all) instead of holding up the rest.
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--follow", is_flag=True, help="Keep watching the directory (Ctrl-C to stop).")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between scans with --follow.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=5, show_default=True,
              help="Reject an event after Atlas failed it (HTTP 5xx) this many times in all.")
@reads_option
@transport_option
@batch_option
@click.pass_context
def ingest(ctx: click.Context, directory: Path, follow: bool, interval: float, max_attempts: int,
           include_reads: bool, transport: str | None, batch_size: int) -> None:
    """Apply the OpenLineage events in DIRECTORY (e.g. the Spark listener's spool) to Atlas, oldest first.
    Applied files are removed; invalid ones, and ones Atlas refuses, move to DIRECTORY/rejected/ with the
    reason. Several ingests of one directory may run at once: each file is applied by one of them. Exit 1 if
    events remain because Atlas could not take them."""
    ingestor = _ingestor(ctx, include_reads, transport, batch_size)
    remaining = _drain_once(ingestor, directory, quiet_when_idle=False, max_attempts=max_attempts,
                            retry_delays=RETRY_DELAYS)
    while follow:
        time.sleep(interval)
        _drain_once(ingestor, directory, max_attempts=max_attempts)
    if remaining:
        sys.exit(1)


def _receiver_token(token_file: Path | None) -> str:
    """The bearer token from --token-file (read once, surrounding whitespace stripped), else the environment."""
    from atlas_mlplugin.openlineage.receiver import TOKEN_ENV

    if token_file is None:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise click.UsageError(f"a token is required: --token-file PATH (a file holding it) or {TOKEN_ENV}")
        return token
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {token_file}: {exc}", param_hint="--token-file") from None
    if not token:
        raise click.BadParameter(f"{token_file} is empty; put the token in it", param_hint="--token-file")
    if token_file.stat().st_mode & 0o077:
        click.echo(f"warning: {token_file} is readable by other users; `chmod 600 {token_file}`", err=True)
    return token


def _refuse_token_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.BadParameter(
            "a token on the command line is visible to every user of this machine in the process list "
            "(ps, /proc/<pid>/cmdline); put it in a file only you can read and pass --token-file PATH, or set "
            "ATLAS_ML_RECEIVER_TOKEN",
            ctx=ctx, param=param)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=5050, show_default=True)
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the bearer token producers must send (read once at start, whitespace "
                   "stripped). Default: env ATLAS_ML_RECEIVER_TOKEN.")
@click.option("--token", expose_value=False, callback=_refuse_token_argument, metavar="REFUSED",
              help="Refused: the process list would show it. Use --token-file or ATLAS_ML_RECEIVER_TOKEN.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where accepted events are kept until they are in Atlas.")
@click.option("--max-bytes", type=click.IntRange(1, 1 << 30), default=1 << 20, show_default=True,
              help="Largest event accepted (bytes); larger ones get 413.")
@click.option("--threads", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Worker threads that validate and store events.")
@click.option("--backlog", type=click.IntRange(1, 65535), default=1024, show_default=True,
              help="Connections the kernel queues while all are busy (the OS may cap it: net.core.somaxconn).")
@click.option("--connection-limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Connections served at once; more wait in the backlog. Memory is bounded by about "
                   "connection-limit x max-bytes.")
@click.option("--timeout", type=click.IntRange(1, 86_400), default=30, show_default=True,
              help="Seconds a connection may stay idle, or a request stall, before it is closed (a stalled "
                   "request gets 408).")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between ingest passes.")
@reads_option
@transport_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token_file: Path | None, directory: Path, max_bytes: int,
          threads: int, backlog: int, connection_limit: int, timeout: int, interval: float,
          include_reads: bool, transport: str | None) -> None:
    """Receive OpenLineage events over HTTP (POST /api/v1/lineage) and feed them to Atlas.

    An event is answered 201 once it is on disk in --dir (credentials scrubbed); a loop applies the
    directory to Atlas every --interval seconds, so producers never wait on Atlas. Stop with Ctrl-C or
    SIGTERM."""
    import signal

    from pydantic import ValidationError

    from atlas_mlplugin.openlineage.receiver import Receiver, ReceiverSettings, serve_in_background
    from atlas_mlplugin.scrubbing import logger, scrub_text

    log = logger("atlas_mlplugin.cli.serve")
    try:
        settings = ReceiverSettings(host=host, port=port, token=_receiver_token(token_file), directory=directory,
                                    max_bytes=max_bytes, threads=threads, backlog=backlog,
                                    connection_limit=connection_limit, timeout=timeout)
    except ValidationError as exc:  # the message names the setting; it never contains the token's value
        raise click.UsageError(exc.errors(include_input=False)[0]["msg"]) from None
    try:
        receiver = Receiver(settings)
    except (OSError, ValueError) as exc:  # address in use, unknown host ...
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    thread = serve_in_background(receiver)
    # `docker stop` and systemd send SIGTERM: stop as on Ctrl-C (accepted events are already on disk).
    if threading.current_thread() is threading.main_thread():  # (signal handlers can only be set there)
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    click.echo(f"receiving OpenLineage events on {receiver.url}", err=True)
    try:
        ingestor = _ingestor(ctx, include_reads, transport)
        while thread.is_alive():
            try:
                _drain_once(ingestor, directory)
            except Exception as exc:  # noqa: BLE001 - one bad pass (a bad file, a full disk) must not end serve
                log.debug("ingest pass failed", exc_info=True)
                click.echo(f"ingest pass failed, trying again in {interval:g} s: "
                           f"{scrub_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}", err=True)
            time.sleep(interval)
        raise click.ClickException("the receiver stopped unexpectedly; see the log above")
    except KeyboardInterrupt:
        click.echo("stopping: finishing requests under way", err=True)
    finally:
        receiver.shutdown()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
