"""The kafka transport's pure parts: Atlas's notification envelope (split and compressed as Atlas 2.1.0 does), the
atlas.kafka.* settings, and a producer that gives up in bounded time when no broker answers."""

from __future__ import annotations

import json
import random
import socket
import string
import time
from pathlib import Path

import pytest

from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.transport.notification import ENVELOPE_RESERVE, create_request, decode, encode
from atlas_mlplugin.transport.settings import load_kafka_settings, transport_name

ENTITY = {"typeName": "ml_dataset", "guid": "-1",
          "attributes": {"qualifiedName": "file:///d/people.csv", "name": "people.csv"},
          "classifications": [{"typeName": "UnknownLicense", "attributes": {"licenseId": "UNREGISTERED"}}]}


def test_a_small_request_is_one_plain_envelope_as_atlas_reads_it() -> None:
    [value] = encode(create_request([ENTITY], user="ana"), now_ms=1_700_000_000_000)
    envelope = json.loads(value)
    assert envelope["version"] == {"version": "1.0.0"}
    assert (envelope["msgCompressionKind"], envelope["msgSplitIdx"], envelope["msgSplitCount"]) == ("NONE", 1, 1)
    assert envelope["msgCreatedBy"] == "ana" and envelope["msgCreationTime"] == 1_700_000_000_000
    assert "msgId" not in envelope  # null fields are left out, as Atlas's Jackson mapper does
    assert envelope["message"] == {"type": "ENTITY_CREATE_V2", "user": "ana",
                                   "entities": {"entities": [ENTITY], "referredEntities": {}}}
    assert decode([value]) == envelope["message"]


def test_a_large_compressible_request_is_one_gzip_message() -> None:
    entities = [{**ENTITY, "attributes": {"qualifiedName": f"file:///d/{i}.csv", "name": "x" * 50}}
                for i in range(20_000)]
    values = encode(create_request(entities, user="ana"), max_length_bytes=1_000_000)
    assert len(values) == 1
    envelope = json.loads(values[0])
    assert envelope["msgCompressionKind"] == "GZIP" and envelope["msgId"]
    assert len(values[0]) <= 1_000_000 - ENVELOPE_RESERVE + 512
    assert decode(values)["entities"]["entities"] == entities


def test_a_request_too_large_even_compressed_is_split_into_ordered_parts() -> None:
    rng = random.Random(7)  # random text compresses badly, so the base64 text must be cut into parts
    entities = [{**ENTITY, "attributes": {"qualifiedName": f"q{i}",
                                          "name": "".join(rng.choices(string.ascii_letters, k=2000))}}
                for i in range(40)]
    values = encode(create_request(entities), max_length_bytes=20_000)
    parts = [json.loads(v) for v in values]
    assert len(parts) > 2
    assert [p["msgSplitIdx"] for p in parts] == list(range(len(parts)))  # 0-based, as AbstractNotification
    assert {p["msgSplitCount"] for p in parts} == {len(parts)} and len({p["msgId"] for p in parts}) == 1
    assert all(len(p["message"]) <= 20_000 - ENVELOPE_RESERVE for p in parts)
    assert decode(values)["entities"]["entities"] == entities
    with pytest.raises(ValueError, match="out of order"):
        decode(values[1:] + values[:1])


def _props(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_settings_are_read_like_an_atlas_hook_and_the_environment_wins(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    _props(conf / "atlas-application.properties", "\n".join([
        "atlas.kafka.bootstrap.servers=broker1:9092",
        "atlas.kafka.zookeeper.connect=zk:2181",  # the server's, not the producer's
        "atlas.kafka.hook.group.id=atlas",
        "atlas.kafka.security.protocol=SASL_SSL",
        "atlas.kafka.sasl.mechanism=SCRAM-SHA-512",
        'atlas.kafka.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="hook" password="s3cret-value";',
        "atlas.kafka.ssl.ca.location=/etc/ca.pem",
        "atlas.notification.hook.topic.name=ATLAS_HOOK_ML",
    ]))
    project = _props(tmp_path / "ml.properties", "atlas.kafka.bootstrap.servers=broker2:9092\n")
    settings = load_kafka_settings(project, {"ATLAS_CONF": str(conf), "ATLAS_KAFKA_SASL_MECHANISM": "PLAIN"})
    assert settings.bootstrap_servers == "broker2:9092" and settings.topic == "ATLAS_HOOK_ML"
    config = settings.producer_config()
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "PLAIN"
    assert (config["sasl.username"], config["sasl.password"]) == ("hook", "s3cret-value")
    assert "zookeeper.connect" not in config and "hook.group.id" not in config
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in json.dumps(settings.redacted())


def test_a_java_only_key_is_refused_with_the_key_to_use_instead(tmp_path: Path) -> None:
    project = _props(tmp_path / "ml.properties", "atlas.kafka.bootstrap.servers=b:9092\n"
                                                 "atlas.kafka.ssl.truststore.location=/etc/trust.jks\n")
    with pytest.raises(ConfigError, match=r"ssl\.truststore\.location .*ml\.properties:2.*ssl\.ca\.location"):
        load_kafka_settings(project, {})


def test_no_bootstrap_servers_is_an_error_that_says_where_to_set_them() -> None:
    with pytest.raises(ConfigError) as err:
        load_kafka_settings(None, {})
    assert "bootstrap" in str(err.value) and "ATLAS_KAFKA_BOOTSTRAP_SERVERS" in (err.value.hint or "")


def test_transport_is_chosen_by_flag_then_environment() -> None:
    assert transport_name(None, {}) == "rest"
    assert transport_name(None, {"ATLAS_ML_TRANSPORT": "Kafka"}) == "kafka"
    assert transport_name("rest", {"ATLAS_ML_TRANSPORT": "kafka"}) == "rest"
    with pytest.raises(ConfigError, match="ATLAS_ML_TRANSPORT='http'"):
        transport_name(None, {"ATLAS_ML_TRANSPORT": "http"})


def test_a_publish_to_a_broker_that_is_down_fails_promptly_as_unavailable() -> None:
    from atlas_mlplugin.delivery.transient import FailureKind, classify
    from atlas_mlplugin.transport.kafka import HookPublisher, KafkaUnavailableError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = HookPublisher(load_kafka_settings(None, {"ATLAS_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"},
                                                  delivery_timeout=1.5))
    started = time.monotonic()
    with pytest.raises(KafkaUnavailableError) as err:
        publisher.publish([("k", create_request([ENTITY]))])
    assert time.monotonic() - started < 5
    assert classify(err.value) is FailureKind.UNAVAILABLE  # so the spool / event directory keeps the write


def test_the_local_server_reports_the_broker_its_hook_consumer_reads(tmp_path: Path) -> None:
    from atlas_mlplugin.server.configuration import Ports, write_configuration
    from atlas_mlplugin.server.launcher import LauncherOptions, LocalAtlas

    atlas = LocalAtlas(LauncherOptions(state_dir=tmp_path))
    assert atlas.kafka_bootstrap_servers() is None  # never configured
    write_configuration(home=tmp_path, ports=Ports(http=21000, kafka_zookeeper=2181, kafka_broker=39485, solr=8983),
                        bind_address="127.0.0.1", user="admin", password="pw")
    assert atlas.kafka_bootstrap_servers() == "127.0.0.1:39485"
    # `atlas-ml server status --json` shows it only while the server runs (a stopped one's port means nothing).
    assert atlas.status().kafka_bootstrap_servers is None
