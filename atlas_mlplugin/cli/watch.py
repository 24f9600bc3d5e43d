"""`atlas-ml watch`: re-check recorded verdicts whenever Atlas reports that a model's tags changed."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click


@click.command()
@click.option("--from-beginning", "start", flag_value="beginning",
              help="Read ATLAS_ENTITIES from its oldest record (a first run that should catch up on history).")
@click.option("--from-now", "start", flag_value="now",
              help="Skip what happened while no watcher ran; start at the topic's end.")
@click.option("--alerts-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append alerts as JSON lines to this file (default: stdout).")
@click.option("--webhook", default=None, help="POST each alert as JSON (with a `text` field chat tools show) here.")
@click.option("--webhook-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds per webhook attempt.")
@click.option("--webhook-attempts", type=click.IntRange(min=1), default=5, show_default=True,
              help="Attempts per alert before the run fails (and the batch is retried on the next run).")
@click.option("--group-id", default="atlas-ml-watch", show_default=True,
              help="Kafka consumer group: its committed offsets are where a restart resumes.")
@click.option("--topic", default="ATLAS_ENTITIES", show_default=True, help="Atlas's entity notification topic.")
@click.option("--policy", "policy_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Policy file (default: the built-in policy); use the one `check` uses.")
@click.option("--once", is_flag=True, help="Process what is on the topic now, then exit (for cron and tests).")
@click.pass_context
def watch(ctx: click.Context, start: str | None, alerts_file: Path | None, webhook: str | None,
          webhook_timeout: float, webhook_attempts: int, group_id: str, topic: str, policy_file: Path | None,
          once: bool) -> None:
    """Re-check the release verdicts of models whose tags change in Atlas (a retraction, a withdrawn
    consent, a corrected license), record each verdict that changed and send an alert for it.

    Reads Atlas's entity notifications from Kafka (atlas.kafka.bootstrap.servers, as for the kafka
    transport, or ATLAS_KAFKA_BOOTSTRAP_SERVERS). A model is re-checked in every release context recorded
    on it by `atlas-ml check`; a model never checked with --record is not watched. Also re-checks models
    whose accepted risk expired (looked for at start and each new UTC day), and puts back derived tags removed
    by hand (a dataset's Retracted, a model's ReleaseVerdict), with an alert line saying so."""
    from atlas_mlplugin.cli.connection import client_of
    from atlas_mlplugin.policy.rules import load_policy
    from atlas_mlplugin.transport.settings import load_kafka_settings
    from atlas_mlplugin.watch.alerts import AlertSink, JsonLinesSink, WebhookSink
    from atlas_mlplugin.watch.consumer import Watcher

    policy = load_policy(policy_file)
    settings = load_kafka_settings(ctx.obj["config"])
    sinks: list[AlertSink] = []
    # The webhook first: when it fails the batch is replayed, and the line already written would be repeated.
    if webhook:
        sinks.append(WebhookSink(webhook, timeout=webhook_timeout, attempts=webhook_attempts))
    stream: Any = alerts_file.open("a", encoding="utf-8") if alerts_file else sys.stdout
    sinks.append(JsonLinesSink(stream))
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True  # finish the batch in hand and commit it, then leave

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        watcher = Watcher(client_of(ctx), settings, policy, sinks, group_id=group_id, topic=topic,
                          start=start or "committed")  # type: ignore[arg-type]
        totals = watcher.run(once=once, should_stop=lambda: stopping)
    except KeyboardInterrupt:
        return
    finally:
        signal.signal(signal.SIGTERM, previous)
        if alerts_file:
            stream.close()
    click.echo(f"{totals.records} notifications, {totals.models} model re-checks, {totals.changed} verdicts "
               f"changed, {totals.restored} tags restored, {totals.rest_calls} REST calls ({totals.write_calls} "
               f"writing; at most {totals.largest_batch_calls} for one batch of {totals.batches})", err=True)
