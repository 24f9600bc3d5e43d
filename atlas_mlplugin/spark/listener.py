"""Switching the JVM listener on by configuration alone: the jar the wheel ships for the Spark's Scala version
and the listener's `spark.atlas.*` settings for a transport, as `--jars`/`--conf` arguments
(`atlas-ml spark conf`) or applied to a SparkSession builder (`configure`).

The keys, transports and defaults are the listener's (spark_listener/README.md, `AtlasConfig.java`). The
listener falls back to `spool` on a transport name it does not know, so the name is checked here, where a
typo can still be reported.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, model_validator

from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.packaged import CHECKOUT_DIR, PACKAGE_DIR, packaged_file
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

LISTENER_VERSION = "0.1.0"  # spark_listener/pom.xml's <version>; a unit test holds them equal
SCALA_VERSIONS = ("2.12", "2.13")  # the jars the wheel ships: Spark 3.5 (2.12) and Spark 4.0 (2.13)
QUERY_LISTENER = "io.atlasml.spark.AtlasQueryListener"
SPARK_LISTENER = "io.atlasml.spark.AtlasSparkListener"
# Settings that hold comma-separated lists: `configure` appends to what the builder already has.
LIST_SETTINGS = ("spark.jars", "spark.sql.queryExecutionListeners", "spark.extraListeners")
Transport = Literal["spool", "http", "console", "kafka"]
TRANSPORTS: tuple[str, ...] = ("spool", "http", "console", "kafka")
FALLS_BACK_TO_SPOOL = ("spool", "http", "kafka")  # where an event goes when its transport cannot deliver it
DEFAULT_SPOOL_DIR = Path(tempfile.gettempdir()) / "atlas-ml-spool"  # the listener's ${java.io.tmpdir} default

_SCALA_LIBRARY = re.compile(r"^scala-library-(\d+)\.(\d+)\.\d+.*\.jar$")


class SparkSetupError(AtlasMlError):
    """PySpark is missing, its Scala version has no listener jar, or the listener settings are invalid."""


class ListenerSettings(BaseModel):
    """What the listener is told; the fields map one to one to its `spark.atlas.*` keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Transport = "spool"
    spool_dir: Path = Field(default=DEFAULT_SPOOL_DIR,
                            description="spool transport, and the http transport's fallback when the receiver is down")
    http_url: AnyHttpUrl | None = Field(default=None, description="the receiver, e.g. http://host:5050/api/v1/lineage")
    http_token: SecretStr | None = Field(default=None, description="bearer token for the receiver")
    namespace: str | None = Field(default=None, description="OpenLineage job namespace (listener default: spark)")
    capture_reads: bool = False
    kafka_bootstrap_servers: str | None = Field(
        default=None, pattern=r"^[^\s,]+(,[^\s,]+)*$",
        description="transport kafka: Atlas's Kafka (host:port,...); unset, the listener reads "
                    "atlas.kafka.bootstrap.servers from $ATLAS_CONF/atlas-application.properties")
    kafka_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,249}$",
                                    description="transport kafka: the hook topic (default ATLAS_HOOK)")
    kafka_producer: dict[str, str] = Field(
        default_factory=dict, description="transport kafka: producer settings such as security.protocol, "
                                          "sasl.mechanism, ssl.truststore.location (spark.atlas.kafka.KEY)")
    rest_url: AnyHttpUrl | None = Field(default=None, description="transport kafka: Atlas's REST API, read (never "
                                        "written) to know which inputs are registered")
    rest_user: str | None = Field(default=None, description="transport kafka: the Atlas user for those reads")
    rest_password: SecretStr | None = Field(default=None, description="transport kafka: that user's password")

    @model_validator(mode="after")
    def _http_needs_url(self) -> ListenerSettings:
        if self.transport == "http" and self.http_url is None:
            raise ValueError("transport 'http' needs http_url, the receiver's URL "
                             "(e.g. http://atlas-ml-host:5050/api/v1/lineage; see `atlas-ml serve`)")
        if self.transport != "http" and (self.http_url is not None or self.http_token is not None):
            raise ValueError(f"http_url and http_token are settings of transport 'http', not {self.transport!r}")
        kafka = (self.kafka_bootstrap_servers, self.kafka_topic, self.rest_url, self.rest_user, self.rest_password)
        if self.transport != "kafka" and (any(v is not None for v in kafka) or self.kafka_producer):
            raise ValueError(f"kafka_* and rest_* are settings of transport 'kafka', not {self.transport!r}")
        if self.transport == "kafka" and self.rest_url is None:
            raise ValueError("transport 'kafka' needs rest_url, Atlas's REST API (e.g. http://atlas-host:21000), "
                             "which the listener reads to know which inputs are registered; without it every "
                             "event would go to the spool")
        return self

    def spark_conf(self) -> dict[str, str]:
        """The listener's settings of this transport (without the jar and the listener classes)."""
        conf = {"spark.atlas.transport": self.transport}
        if self.transport in FALLS_BACK_TO_SPOOL:
            conf["spark.atlas.spool.dir"] = str(self.spool_dir.expanduser().absolute())
        if self.kafka_bootstrap_servers:
            conf["spark.atlas.kafka.bootstrap.servers"] = self.kafka_bootstrap_servers
        if self.kafka_topic:
            conf["spark.atlas.kafka.topic"] = self.kafka_topic
        for key, value in self.kafka_producer.items():
            conf[f"spark.atlas.kafka.{key}"] = value
        if self.rest_url is not None:
            conf["spark.atlas.rest.url"] = str(self.rest_url).rstrip("/")
        if self.rest_user:
            conf["spark.atlas.rest.user"] = self.rest_user
        if self.rest_password is not None:
            conf["spark.atlas.rest.password"] = self.rest_password.get_secret_value()
        if self.http_url is not None:
            conf["spark.atlas.http.url"] = str(self.http_url)
        if self.http_token is not None:
            conf["spark.atlas.http.token"] = self.http_token.get_secret_value()
        if self.namespace:
            conf["spark.atlas.namespace"] = self.namespace
        if self.capture_reads:
            conf["spark.atlas.captureReads"] = "true"
        return conf


class ListenerSetup(BaseModel):
    """Everything Spark needs: the jar for its Scala version and the settings that load the listener."""

    model_config = ConfigDict(frozen=True)

    scala_version: str
    spark_home: Path | None
    jar: Path
    conf: dict[str, str]

    def spark_submit_args(self) -> list[str]:
        """`--jars JAR` then `--conf key=value` per setting, as spark-submit and pyspark take them."""
        args = ["--jars", str(self.jar)]
        for key, value in self.conf.items():
            if key != "spark.jars":
                args += ["--conf", f"{key}={value}"]
        return args

    def text(self) -> str:
        """One option per line, shell-quoted where needed (paths with spaces), so that it can be pasted."""
        args = self.spark_submit_args()
        return "\n".join(f"{args[i]} {shlex.quote(args[i + 1])}" for i in range(0, len(args), 2)) + "\n"

    def properties(self) -> str:
        """The lines of spark-defaults.conf."""
        return "".join(f"{key} {value}\n" for key, value in self.conf.items())


def spark_home() -> Path:
    """The Spark that PySpark starts: $SPARK_HOME when set (pyspark honours it), else the pyspark package."""
    if env := os.environ.get("SPARK_HOME", "").strip():
        return Path(env)
    spec = importlib.util.find_spec("pyspark")  # found, not imported: importing pyspark takes a while
    if spec is None or spec.origin is None:
        raise SparkSetupError("PySpark is not installed in this Python, so its Scala version is unknown: "
                              "pip install 'atlas-mlplugin[spark]', set SPARK_HOME to your Spark, or give the "
                              "Scala version (--scala 2.12 for Spark 3.5, --scala 2.13 for Spark 4)")
    return Path(spec.origin).parent


def scala_version_of(home: Path) -> str:
    """The Scala binary version (`2.12`, `2.13`) of the Spark at `home`, from its jars/scala-library-*.jar."""
    jars = home / "jars"
    found = sorted({f"{m[1]}.{m[2]}" for p in (jars.glob("scala-library-*.jar") if jars.is_dir() else [])
                    if (m := _SCALA_LIBRARY.match(p.name))})
    if len(found) != 1:
        what = "no scala-library-*.jar" if not found else f"scala-library jars of several versions ({found})"
        raise SparkSetupError(f"{jars} has {what}, so the Scala version of this Spark is unknown: "
                              "check SPARK_HOME / the pyspark installation, or give it (--scala 2.12 or 2.13)")
    return found[0]


def listener_jar(scala_version: str) -> Path:
    """The listener jar for a Scala binary version: the wheel's copy, or in a checkout the Maven build's."""
    if scala_version not in SCALA_VERSIONS:
        raise SparkSetupError(f"this Spark uses Scala {scala_version}; the listener is built for Scala "
                              f"{' and '.join(SCALA_VERSIONS)} (Spark 3.5 and Spark 4.0)")
    name = f"atlas-mlplugin-spark-listener_{scala_version}-{LISTENER_VERSION}.jar"
    inside, checkout = f"_jars/{name}", f"spark_listener/target/{scala_version}/{name}"
    jar = packaged_file(inside, checkout)
    if jar is None:
        raise SparkSetupError(
            f"no listener jar for Scala {scala_version} in this installation (looked for {PACKAGE_DIR / inside} "
            f"and {CHECKOUT_DIR / checkout}): in a source checkout build it with `make listener`; an installed "
            "package without it was built with ATLAS_ML_WHEEL_WITHOUT_LISTENER, so install an official one")
    return jar


def listener_setup(settings: ListenerSettings | None = None, *, scala_version: str | None = None) -> ListenerSetup:
    """The jar and settings for the installed PySpark (or SPARK_HOME, or the Scala version given)."""
    settings = settings or ListenerSettings()
    home = None
    if scala_version is None:
        home = spark_home()
        scala_version = scala_version_of(home)
    jar = listener_jar(scala_version)
    conf = {"spark.jars": str(jar), "spark.sql.queryExecutionListeners": QUERY_LISTENER,
            "spark.extraListeners": SPARK_LISTENER, **settings.spark_conf()}
    return ListenerSetup(scala_version=scala_version, spark_home=home, jar=jar, conf=conf)


class _Builder(Protocol):
    def config(self, key: str, value: str) -> Any: ...


B = TypeVar("B", bound=_Builder)


def merge_list_setting(existing: str | None, added: str) -> str:
    """`existing,added` without repeating an entry: a second configure() or a user's own listener stays."""
    items = [item.strip() for item in (existing or "").split(",") if item.strip()]
    return ",".join([*items, *(a for a in added.split(",") if a not in items)])


def configure(builder: B, transport: Transport = "spool", *, spool_dir: str | Path | None = None,
              http_url: str | None = None, http_token: str | SecretStr | None = None,
              namespace: str | None = None, capture_reads: bool = False, scala_version: str | None = None,
              **kafka: Any) -> B:
    """Load the listener in the session `builder` will create, with the given transport:

        spark = configure(SparkSession.builder.appName("train"), spool_dir="/var/spool/atlas-ml").getOrCreate()

    Transport "kafka" takes the ListenerSettings fields kafka_bootstrap_servers, kafka_topic, kafka_producer,
    rest_url, rest_user and rest_password as keywords.

    Jars and listeners the builder already has are kept (the lists are appended to). It has to run before
    the application's first SparkSession: Spark reads these settings once, when its context starts."""
    fields: dict[str, Any] = {"transport": transport, "http_url": http_url, "http_token": http_token,
                              "namespace": namespace, "capture_reads": capture_reads, **kafka}
    if spool_dir is not None:
        fields["spool_dir"] = spool_dir
    try:
        settings = ListenerSettings(**fields)
    except ValueError as exc:  # pydantic's ValidationError: the message names the field
        raise SparkSetupError(f"invalid listener settings for configure(): {exc}") from None
    setup = listener_setup(settings, scala_version=scala_version)
    # pyspark's Builder keeps what .config() was given in `_options` (3.5 and 4.0); without it, set plainly.
    existing: dict[str, str] = getattr(builder, "_options", None) or {}
    for key, value in setup.conf.items():
        builder.config(key, merge_list_setting(existing.get(key), value) if key in LIST_SETTINGS else value)
    log.info("Spark listener for Scala %s: %s, transport %s", setup.scala_version, setup.jar, transport)
    return builder
