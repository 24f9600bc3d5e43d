"""Enabling the JVM listener by configuration: the jar for the Spark's Scala version, the listener's real
settings per transport (`atlas-ml spark conf`, `configure(builder)`), the errors when it cannot work, the
wheel build's refusal to ship no or stale jars, and the JSON Schemas printed from the package.

The installed-wheel path (a fresh virtualenv, a real Spark job) is tests/packaging/test_wheel.py."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from atlas_mlplugin import packaged
from atlas_mlplugin.cli.main import cli
from atlas_mlplugin.spark import listener
from atlas_mlplugin.spark.listener import SparkSetupError, configure, listener_jar, scala_version_of

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # hatch_build.py sits at the root, beside pyproject.toml
import hatch_build  # noqa: E402


def fake_spark(home: Path, scala_library: str) -> Path:
    (home / "jars").mkdir(parents=True)
    (home / "jars" / scala_library).write_bytes(b"")
    (home / "jars" / "spark-core_x-4.0.1.jar").write_bytes(b"")
    return home


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package directory holding both jars, as the wheel installs it (and no checkout beside it)."""
    package = tmp_path / "site-packages" / "atlas_mlplugin"
    (package / "_jars").mkdir(parents=True)
    for scala in ("2.12", "2.13"):
        (package / "_jars" / f"atlas-mlplugin-spark-listener_{scala}-{listener.LISTENER_VERSION}.jar").write_bytes(b"")
    monkeypatch.setattr(packaged, "PACKAGE_DIR", package)
    monkeypatch.setattr(packaged, "CHECKOUT_DIR", tmp_path / "no-checkout")
    return package


def spark_conf(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["spark", "conf", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(("library", "scala"), [("scala-library-2.12.18.jar", "2.12"),
                                                 ("scala-library-2.13.16.jar", "2.13")])
def test_scala_version_is_read_from_the_sparks_jars(tmp_path: Path, library: str, scala: str) -> None:
    assert scala_version_of(fake_spark(tmp_path / "spark", library)) == scala


def test_a_spark_without_or_with_two_scala_libraries_is_named(tmp_path: Path) -> None:
    with pytest.raises(SparkSetupError, match=r"no scala-library-\*\.jar.*--scala 2.12 or 2.13"):
        scala_version_of(tmp_path)
    home = fake_spark(tmp_path / "spark", "scala-library-2.12.18.jar")
    (home / "jars" / "scala-library-2.13.16.jar").write_bytes(b"")
    with pytest.raises(SparkSetupError, match=r"several versions"):
        scala_version_of(home)


def test_conf_prints_the_jar_of_spark_homes_scala_and_the_listeners_settings(
        installed: Path, tmp_path: Path) -> None:
    home = fake_spark(tmp_path / "spark", "scala-library-2.12.18.jar")
    code, out = spark_conf("--spool-dir", str(tmp_path / "spool"), env={"SPARK_HOME": str(home)})
    assert code == 0, out
    jar = installed / "_jars" / f"atlas-mlplugin-spark-listener_2.12-{listener.LISTENER_VERSION}.jar"
    assert out.splitlines() == [
        f"--jars {jar}",
        "--conf spark.sql.queryExecutionListeners=io.atlasml.spark.AtlasQueryListener",
        "--conf spark.extraListeners=io.atlasml.spark.AtlasSparkListener",
        "--conf spark.atlas.transport=spool",
        f"--conf spark.atlas.spool.dir={tmp_path / 'spool'}",
    ]


def test_conf_json_and_http_transport(installed: Path, tmp_path: Path) -> None:
    home = fake_spark(tmp_path / "spark", "scala-library-2.13.16.jar")
    code, out = spark_conf("--transport", "http", "--http-url", "http://receiver:5050/api/v1/lineage",
                           "--namespace", "etl", "--capture-reads", "--format", "json",
                           env={"SPARK_HOME": str(home)})
    assert code == 0, out
    data = json.loads(out)
    assert data["scala_version"] == "2.13" and data["spark_home"] == str(home)
    assert Path(data["jar"]).parent == installed / "_jars" and "_2.13-" in data["jar"]
    assert data["conf"]["spark.atlas.transport"] == "http"
    assert data["conf"]["spark.atlas.http.url"] == "http://receiver:5050/api/v1/lineage"
    assert data["conf"]["spark.atlas.namespace"] == "etl"
    assert data["conf"]["spark.atlas.captureReads"] == "true"
    assert "spark.atlas.spool.dir" in data["conf"]  # the http transport's fallback when the receiver is down
    assert data["args"][:2] == ["--jars", data["jar"]]


def test_every_key_printed_is_one_the_listener_reads() -> None:
    """A key the listener does not know would be ignored silently; its settings live in AtlasConfig.java."""
    java = (ROOT / "spark_listener/src/main/java/io/atlasml/spark/AtlasConfig.java").read_text()
    known = {f"spark.atlas.{k}" for k in re.findall(r'PREFIX \+ "([^"]+)"', java)}
    enum = re.search(r"enum TransportKind \{([^}]*)\}", java)
    assert enum is not None
    assert set(listener.TRANSPORTS) == {t.strip().lower() for t in enum[1].split(",")}
    settings = listener.ListenerSettings(transport="http", http_url="http://h:1/x", http_token="t",
                                         namespace="n", capture_reads=True)
    assert set(settings.spark_conf()) <= known


def test_properties_format_is_spark_defaults_lines(installed: Path, tmp_path: Path) -> None:
    code, out = spark_conf("--scala", "2.13", "--transport", "console", "--format", "properties")
    assert code == 0, out
    assert "spark.atlas.transport console" in out.splitlines()
    assert not any(line.startswith("spark.atlas.spool.dir") for line in out.splitlines())


def test_http_without_url_and_url_without_http_are_usage_errors(installed: Path) -> None:
    code, out = spark_conf("--scala", "2.12", "--transport", "http")
    assert code == 2 and "--transport http needs --http-url" in out
    code, out = spark_conf("--scala", "2.12", "--http-url", "http://h:1/x")
    assert code == 2 and "--http-url is a setting of --transport http" in out
    code, out = spark_conf("--scala", "2.12", "--transport", "kafka")
    assert code == 2 and "kafka" in out


def test_no_pyspark_is_a_clear_error(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARK_HOME", raising=False)
    monkeypatch.setattr(listener.importlib.util, "find_spec", lambda name: None)
    code, out = spark_conf()
    assert code == 1
    assert "PySpark is not installed" in out and "--scala" in out and "SPARK_HOME" in out


def test_a_scala_version_without_a_jar_is_a_clear_error(tmp_path: Path, installed: Path) -> None:
    home = fake_spark(tmp_path / "spark", "scala-library-2.11.12.jar")
    code, out = spark_conf(env={"SPARK_HOME": str(home)})
    assert code == 1 and "Scala 2.11" in out and "2.12 and 2.13" in out
    (installed / "_jars" / f"atlas-mlplugin-spark-listener_2.13-{listener.LISTENER_VERSION}.jar").unlink()
    with pytest.raises(SparkSetupError, match=r"no listener jar for Scala 2.13 .*make listener"):
        listener_jar("2.13")


def test_configure_keeps_the_builders_own_jars_and_listeners(installed: Path) -> None:
    SparkSession = pytest.importorskip("pyspark.sql").SparkSession  # the builder is real; no JVM starts

    builder = SparkSession.Builder().config("spark.jars", "/opt/jdbc.jar") \
        .config("spark.extraListeners", "com.example.Listener")
    configure(configure(builder, scala_version="2.13", spool_dir="/spool"), scala_version="2.13",
              spool_dir="/spool")  # twice: nothing is listed twice
    options = builder._options
    jars = options["spark.jars"].split(",")
    assert jars[0] == "/opt/jdbc.jar" and len(jars) == 2 and jars[1].endswith("_2.13-0.1.0.jar")
    assert options["spark.extraListeners"] == "com.example.Listener,io.atlasml.spark.AtlasSparkListener"
    assert options["spark.sql.queryExecutionListeners"] == "io.atlasml.spark.AtlasQueryListener"
    assert options["spark.atlas.spool.dir"] == "/spool" and options["spark.atlas.transport"] == "spool"


def test_configure_rejects_invalid_settings_naming_them(installed: Path) -> None:
    SparkSession = pytest.importorskip("pyspark.sql").SparkSession

    with pytest.raises(SparkSetupError, match="http_url"):
        configure(SparkSession.Builder(), transport="http", scala_version="2.13")


def test_listener_version_is_the_poms() -> None:
    assert hatch_build.listener_version(ROOT / "spark_listener") == listener.LISTENER_VERSION


def test_spark_help_imports_nothing_heavy() -> None:
    from tests.unit.test_cli_startup import loaded_after

    assert loaded_after(["spark", "conf", "--help"]) == set()


# --- the wheel build (hatch_build.py) ---

def listener_tree(root: Path, jars: bool) -> Path:
    (root / "spark_listener" / "src" / "main").mkdir(parents=True)
    (root / "spark_listener" / "pom.xml").write_text((ROOT / "spark_listener" / "pom.xml").read_text())
    (root / "spark_listener" / "src" / "main" / "A.java").write_text("class A {}")
    if jars:
        for scala in ("2.12", "2.13"):
            jar = root / "spark_listener" / "target" / scala / f"atlas-mlplugin-spark-listener_{scala}-0.1.0.jar"
            jar.parent.mkdir(parents=True)
            jar.write_bytes(b"jar")
    return root


def test_wheel_build_refuses_missing_jars_and_says_how_to_build_them(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as err:
        hatch_build.listener_jars(listener_tree(tmp_path, jars=False))
    message = str(err.value)
    assert "target/2.12/atlas-mlplugin-spark-listener_2.12-0.1.0.jar is missing" in message
    assert "2.13" in message and "make listener" in message and hatch_build.OPT_OUT in message


def test_wheel_build_refuses_a_jar_older_than_the_sources(tmp_path: Path) -> None:
    root = listener_tree(tmp_path, jars=True)
    assert set(hatch_build.listener_jars(root)) == {"2.12", "2.13"}
    source = root / "spark_listener" / "src" / "main" / "A.java"
    later = time.time() + 60
    os.utime(source, (later, later))
    with pytest.raises(RuntimeError, match="older than spark_listener/src"):
        hatch_build.listener_jars(root)


# --- JSON Schemas from the package ---

@pytest.mark.parametrize(("argv", "published"), [(["apply", "--schema"], "schemas/catalog.schema.json"),
                                                  (["check", "--schema"], "docs/check-report.schema.json")])
def test_schema_option_prints_the_published_schema(argv: list[str], published: str) -> None:
    result = CliRunner().invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output == (ROOT / published).read_text()
    assert json.loads(result.output)["type"] == "object"


def test_schema_comes_from_the_package_copy_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "atlas_mlplugin"
    (package / "_schemas").mkdir(parents=True)
    (package / "_schemas" / "catalog.schema.json").write_text('{"installed": true}\n')
    monkeypatch.setattr(packaged, "PACKAGE_DIR", package)
    result = CliRunner().invoke(cli, ["apply", "--schema"], catch_exceptions=False)
    assert result.output == '{"installed": true}\n'
    monkeypatch.setattr(packaged, "CHECKOUT_DIR", tmp_path)
    result = CliRunner().invoke(cli, ["check", "--schema"], catch_exceptions=False)
    assert result.exit_code == 1 and "check-report JSON Schema is not in this installation" in result.output


def test_kafka_transport_prints_the_brokers_topic_atlas_and_spool_fallback(installed: Path, tmp_path: Path) -> None:
    code, out = spark_conf("--scala", "2.12", "--transport", "kafka", "--kafka-bootstrap-servers", "k1:9092,k2:9092",
                           "--kafka-topic", "ATLAS_HOOK_DEV", "--atlas-url", "http://atlas:21000/",
                           "--atlas-user", "etl", "--spool-dir", str(tmp_path / "spool"), "--format", "json")
    assert code == 0, out
    conf = json.loads(out)["conf"]
    assert conf["spark.atlas.transport"] == "kafka"
    assert conf["spark.atlas.kafka.bootstrap.servers"] == "k1:9092,k2:9092"
    assert conf["spark.atlas.kafka.topic"] == "ATLAS_HOOK_DEV"
    assert conf["spark.atlas.rest.url"] == "http://atlas:21000"
    assert conf["spark.atlas.rest.user"] == "etl"
    assert conf["spark.atlas.spool.dir"] == str(tmp_path / "spool")  # where events go while Kafka is down


def test_kafka_transport_defaults_to_the_local_servers_broker(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas_mlplugin.server.launcher import LocalAtlas, ServerStatus

    status = ServerStatus(running=True, url="http://127.0.0.1:21000", user="admin", password="pw", version="2.1.0",
                          atlas_status="ACTIVE", state_dir="/x", log_file="/x/log",
                          kafka_bootstrap_servers="127.0.0.1:39485")
    monkeypatch.setattr(LocalAtlas, "status", lambda self: status)
    code, out = spark_conf("--scala", "2.12", "--transport", "kafka", "--format", "properties")
    assert code == 0, out
    assert "spark.atlas.kafka.bootstrap.servers 127.0.0.1:39485\n" in out
    assert "spark.atlas.rest.url http://127.0.0.1:21000\n" in out
    assert "pw" not in out  # the password is the user's to put in spark-defaults.conf


def test_kafka_settings_belong_to_the_kafka_transport(installed: Path) -> None:
    code, out = spark_conf("--scala", "2.12", "--transport", "spool", "--kafka-bootstrap-servers", "k:9092")
    assert code != 0 and "--kafka-bootstrap-servers: settings of --transport kafka, not spool" in out
    with pytest.raises(SparkSetupError, match="rest_url"):
        configure(_Builder(), "kafka", kafka_bootstrap_servers="k:9092", scala_version="2.12")


def test_configure_passes_kafka_security_settings_to_the_listener(installed: Path) -> None:
    builder = configure(_Builder(), "kafka", kafka_bootstrap_servers="k:9093", rest_url="http://atlas:21000",
                        rest_user="etl", rest_password="s3cret", scala_version="2.12",
                        kafka_producer={"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"})
    assert builder._options["spark.atlas.kafka.security.protocol"] == "SASL_SSL"
    assert builder._options["spark.atlas.kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert builder._options["spark.atlas.rest.password"] == "s3cret"


class _Builder:
    def __init__(self) -> None:
        self._options: dict[str, str] = {}

    def config(self, key: str, value: str) -> _Builder:
        self._options[key] = value
        return self
