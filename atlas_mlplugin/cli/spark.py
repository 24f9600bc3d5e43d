"""`atlas-ml spark conf`: the settings that switch the JVM listener on, for the installed PySpark."""

from __future__ import annotations

import json
from pathlib import Path

import click

TRANSPORTS = ("spool", "http", "console", "kafka")  # atlas_mlplugin.spark.listener.TRANSPORTS, kept light for --help


@click.group()
def spark() -> None:
    """The Spark listener that ships with this package (jars for Scala 2.12 and 2.13)."""


@spark.command()
@click.option("--transport", type=click.Choice(TRANSPORTS), default="spool", show_default=True,
              help="spool: event files for `atlas-ml ingest DIR`; http: POST to `atlas-ml serve` (spool on "
                   "failure); kafka: hook notifications to Atlas's ATLAS_HOOK topic (spool on failure); "
                   "console: stderr.")
@click.option("--spool-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where spool (and the http fallback) writes. [default: <tempdir>/atlas-ml-spool]")
@click.option("--http-url", default=None,
              help="The receiver, e.g. http://host:5050/api/v1/lineage (transport http). Its token is not "
                   "taken here: put spark.atlas.http.token in spark-defaults.conf, not on a command line.")
@click.option("--kafka-bootstrap-servers", default=None,
              help="Atlas's Kafka, host:port[,...] (transport kafka). [default: the local server's broker "
                   "(`atlas-ml server status`), else the listener reads atlas.kafka.bootstrap.servers from "
                   "$ATLAS_CONF/atlas-application.properties]")
@click.option("--kafka-topic", default=None, help="The hook topic (transport kafka). [default: ATLAS_HOOK]")
@click.option("--atlas-url", default=None,
              help="Atlas's REST API, read to know which inputs are registered (transport kafka). [default: the "
                   "local server's] Its password is not taken here: put spark.atlas.rest.password in "
                   "spark-defaults.conf.")
@click.option("--atlas-user", default=None, help="The Atlas user for those reads (transport kafka).")
@click.option("--namespace", default=None, help="OpenLineage job namespace. [listener default: spark]")
@click.option("--capture-reads", is_flag=True, help="Also record executions that read without writing.")
@click.option("--scala", "scala_version", type=click.Choice(["2.12", "2.13"]), default=None,
              help="Scala version of the Spark that runs the job. [default: the installed PySpark's, or "
                   "SPARK_HOME's]")
@click.option("--format", "fmt", type=click.Choice(["text", "properties", "json"]), default="text",
              show_default=True, help="text: --jars/--conf for spark-submit and pyspark; properties: "
                                      "spark-defaults.conf lines; json: all of it.")
def conf(transport: str, spool_dir: Path | None, http_url: str | None, kafka_bootstrap_servers: str | None,
         kafka_topic: str | None, atlas_url: str | None, atlas_user: str | None, namespace: str | None,
         capture_reads: bool, scala_version: str | None, fmt: str) -> None:
    """Print the --jars and --conf options that load the listener, e.g.

        spark-submit $(atlas-ml spark conf --spool-dir /var/spool/atlas-ml) job.py
    """
    from pydantic import ValidationError

    from atlas_mlplugin.spark.listener import ListenerSettings, listener_setup

    # The same rules as ListenerSettings, said in terms of the options.
    if transport == "http" and not http_url:
        raise click.UsageError("--transport http needs --http-url, the receiver's URL "
                               "(e.g. http://atlas-ml-host:5050/api/v1/lineage; see `atlas-ml serve`)")
    if transport != "http" and http_url:
        raise click.UsageError(f"--http-url is a setting of --transport http, not {transport}")
    kafka = {"kafka_bootstrap_servers": kafka_bootstrap_servers, "kafka_topic": kafka_topic, "rest_url": atlas_url,
             "rest_user": atlas_user}
    if transport != "kafka" and any(kafka.values()):
        given = ", ".join("--" + k.replace("_", "-").replace("rest-", "atlas-") for k, v in kafka.items() if v)
        raise click.UsageError(f"{given}: settings of --transport kafka, not {transport}")
    if transport == "kafka":
        kafka = _local_server_defaults(kafka)
    fields: dict[str, object] = {"transport": transport, "http_url": http_url, "namespace": namespace,
                                 "capture_reads": capture_reads, **{k: v for k, v in kafka.items() if v}}
    if spool_dir is not None:
        fields["spool_dir"] = spool_dir
    try:
        settings = ListenerSettings(**fields)
    except ValidationError as exc:
        raise click.UsageError("; ".join(_option_message(e) for e in exc.errors())) from None
    setup = listener_setup(settings, scala_version=scala_version)
    if fmt == "json":
        click.echo(json.dumps({"scala_version": setup.scala_version,
                               "spark_home": str(setup.spark_home) if setup.spark_home else None,
                               "jar": str(setup.jar), "conf": setup.conf, "args": setup.spark_submit_args()},
                              indent=2))
    elif fmt == "properties":
        click.echo(setup.properties(), nl=False)
    else:
        click.echo(setup.text(), nl=False)


def _local_server_defaults(kafka: dict[str, str | None]) -> dict[str, str | None]:
    """The broker and REST URL of the local server (`atlas-ml server start`) for what was not given."""
    if kafka["kafka_bootstrap_servers"] and kafka["rest_url"]:
        return kafka
    from atlas_mlplugin.server.launcher import LocalAtlas

    try:
        status = LocalAtlas().status()
    except Exception:  # noqa: BLE001 - no local server (or its state unreadable): nothing to default to
        return kafka
    if not kafka["rest_url"] and status.running:
        kafka = {**kafka, "rest_url": status.url, "rest_user": kafka["rest_user"] or status.user}
    if not kafka["kafka_bootstrap_servers"] and status.kafka_bootstrap_servers:
        kafka = {**kafka, "kafka_bootstrap_servers": status.kafka_bootstrap_servers}
    return kafka


def _option_message(error: dict) -> str:
    field = error["loc"][0] if error.get("loc") else None
    option = f"--{str(field).replace('_', '-').replace('rest-', 'atlas-')}: " if field else ""
    return option + str(error["msg"]).removeprefix("Value error, ")
