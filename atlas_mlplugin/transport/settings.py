"""Which transport writes go through, and how to reach Atlas's Kafka: configured the way Atlas hooks are.

Layers, later ones winning:
1. `atlas-application.properties` in `$ATLAS_CONF` (the directory Atlas's own hooks read it from);
2. the project's properties file (`$ATLAS_ML_CONFIG`, see atlas/config.py), same keys;
3. environment variables (`ATLAS_KAFKA_BOOTSTRAP_SERVERS` ..., see `_ENV_VARS`), for CI and containers.

Keys: `atlas.ml.transport` (rest or kafka; $ATLAS_ML_TRANSPORT wins), `atlas.kafka.bootstrap.servers`,
`atlas.notification.hook.topic.name` (default ATLAS_HOOK),
`atlas.notification.message.max.length.bytes` (default 1,000,000) and the producer's security settings
`atlas.kafka.security.protocol`, `atlas.kafka.sasl.*`, `atlas.kafka.ssl.*`, passed to the producer without
the `atlas.kafka.` prefix. Java-only forms are translated where librdkafka has an equivalent
(`sasl.jaas.config` with a PLAIN/SCRAM username and password, `atlas.jaas.KafkaClient.option.keyTab` and
`.principal`); a Java-only key with none (a JKS trust store) is an error naming the key to use instead. The
server-side keys in the same file (zookeeper, consumer group, data directory) are not the producer's and
are skipped. Secrets (passwords, JAAS configs) are held as SecretStr and never shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from atlas_mlplugin.atlas.config import CONFIG_FILE_ENV, parse_properties
from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.transport.notification import DEFAULT_MAX_LENGTH_BYTES

TRANSPORT_ENV = "ATLAS_ML_TRANSPORT"
TRANSPORT_KEY = "atlas.ml.transport"  # the same choice in a properties file
ATLAS_CONF_ENV = "ATLAS_CONF"
APPLICATION_PROPERTIES = "atlas-application.properties"
DEFAULT_TOPIC = "ATLAS_HOOK"
Transport = Literal["rest", "kafka"]
TRANSPORTS: tuple[str, ...] = ("rest", "kafka")

KAFKA_PREFIX = "atlas.kafka."
TOPIC_KEY = "atlas.notification.hook.topic.name"
MAX_LENGTH_KEY = "atlas.notification.message.max.length.bytes"
BOOTSTRAP = "bootstrap.servers"
# Producer settings taken from atlas.kafka.*: the rest of those keys configure Atlas's own consumer and broker.
_PRODUCER_KEYS = re.compile(r"^(bootstrap\.servers|security\.protocol|sasl\..+|ssl\..+|client\.id|acks|linger\.ms|"
                            r"compression\.type|request\.timeout\.ms|retries|retry\.backoff\.ms)$")
_JAAS_PREFIX = "atlas.jaas.KafkaClient.option."
_JAAS_OPTIONS = {"keyTab": "sasl.kerberos.keytab", "principal": "sasl.kerberos.principal",
                 "serviceName": "sasl.kerberos.service.name"}
# Java-client keys librdkafka has no equivalent for, and what to set instead.
_JAVA_ONLY = {
    "ssl.truststore.location": "ssl.ca.location (the CA certificates as a PEM file)",
    "ssl.truststore.password": "nothing: a PEM CA file (ssl.ca.location) has no password",
    "ssl.truststore.type": "ssl.ca.location (PEM)",
    "ssl.keystore.type": "ssl.keystore.location (PKCS#12) or ssl.certificate.location + ssl.key.location (PEM)",
}
_JAAS_CREDENTIALS = re.compile(r'\b(username|password)\s*=\s*"([^"]*)"')
_SECRET_KEY = re.compile(r"password|secret|jaas|token", re.IGNORECASE)

# Environment variables and the key each one sets (ATLAS_KAFKA_<KEY> for the keys people set per job).
_ENV_VARS: dict[str, str] = {
    "ATLAS_KAFKA_BOOTSTRAP_SERVERS": KAFKA_PREFIX + "bootstrap.servers",
    "ATLAS_KAFKA_SECURITY_PROTOCOL": KAFKA_PREFIX + "security.protocol",
    "ATLAS_KAFKA_SASL_MECHANISM": KAFKA_PREFIX + "sasl.mechanism",
    "ATLAS_KAFKA_SASL_USERNAME": KAFKA_PREFIX + "sasl.username",
    "ATLAS_KAFKA_SASL_PASSWORD": KAFKA_PREFIX + "sasl.password",
    "ATLAS_KAFKA_SASL_KERBEROS_SERVICE_NAME": KAFKA_PREFIX + "sasl.kerberos.service.name",
    "ATLAS_KAFKA_SSL_CA_LOCATION": KAFKA_PREFIX + "ssl.ca.location",
    "ATLAS_NOTIFICATION_HOOK_TOPIC_NAME": TOPIC_KEY,
}


class KafkaSettings(BaseModel):
    """How to publish hook notifications: the broker, the topic, and the producer's own settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(min_length=1)
    topic: str = Field(default=DEFAULT_TOPIC, pattern=r"^[A-Za-z0-9._-]{1,249}$")
    max_length_bytes: int = Field(default=DEFAULT_MAX_LENGTH_BYTES, gt=1024)
    producer: dict[str, str | SecretStr] = Field(default_factory=dict)
    # How long one publish may wait for the broker's acknowledgement before the write counts as not delivered
    # (it then stays in its queue: the spool or the event directory). Bounded so a job never hangs on Kafka.
    delivery_timeout: float = Field(default=10.0, gt=0, le=300)
    # Messages the producer may hold in memory at once; beyond that a publish fails at once (bounded buffer).
    max_buffered_messages: int = Field(default=10_000, ge=1, le=1_000_000)
    sources: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)

    def producer_config(self) -> dict[str, str]:
        """The librdkafka configuration: what the user set, plus our bounds on time and memory."""
        config = {key: (value.get_secret_value() if isinstance(value, SecretStr) else value)
                  for key, value in self.producer.items()}
        config[BOOTSTRAP] = self.bootstrap_servers
        config.setdefault("acks", "all")
        timeout_ms = str(int(self.delivery_timeout * 1000))
        config.setdefault("message.timeout.ms", timeout_ms)
        config.setdefault("socket.connection.setup.timeout.ms", str(min(int(self.delivery_timeout * 1000), 10_000)))
        config["queue.buffering.max.messages"] = str(self.max_buffered_messages)
        config.setdefault("linger.ms", "5")
        # A message may be as large as Atlas lets a hook make one (its splitting keeps parts under that).
        config.setdefault("message.max.bytes", str(max(self.max_length_bytes + 4096, 1_000_000)))
        return config

    def redacted(self) -> dict[str, str]:
        """The producer settings with secrets shown as set only, for messages and `--json` output."""
        shown = {key: ("**********" if isinstance(value, SecretStr) else value) for key, value in self.producer.items()}
        return {BOOTSTRAP: self.bootstrap_servers, "topic": self.topic, **shown}


def transport_name(value: str | None = None, env: Mapping[str, str] | None = None, *,
                   properties_file: str | os.PathLike[str] | None = None) -> Transport:
    """The transport asked for (a CLI flag), else $ATLAS_ML_TRANSPORT, else `atlas.ml.transport` in the project's
    properties file ($ATLAS_ML_CONFIG) or in $ATLAS_CONF/atlas-application.properties (in that order), else rest."""
    env = os.environ if env is None else env
    chosen, origin = "rest", "the default"
    conf_dir = env.get(ATLAS_CONF_ENV)
    files = [Path(conf_dir) / APPLICATION_PROPERTIES] if conf_dir else []
    project = properties_file or env.get(CONFIG_FILE_ENV)
    if project:
        files.append(Path(project).expanduser())
    for path in files:
        if path.is_file():
            found = _read(path, "Atlas properties file").get(TRANSPORT_KEY)
            if found:
                chosen, origin = found
    if env.get(TRANSPORT_ENV):
        chosen, origin = env[TRANSPORT_ENV], TRANSPORT_ENV
    if value:
        chosen, origin = value, "--transport"
    chosen = chosen.strip().lower()
    if chosen not in TRANSPORTS:
        raise ConfigError(f"{origin}={chosen!r} is not a transport; expected one of {', '.join(TRANSPORTS)}",
                          source=origin, key=TRANSPORT_ENV if origin == TRANSPORT_ENV else TRANSPORT_KEY)
    return chosen  # type: ignore[return-value]


def _read(path: Path, what: str) -> dict[str, tuple[str, str]]:
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}", source=str(path),
                          hint="check the path and its permissions") from None
    return {key: (value.strip(), f"{path}:{lineno}") for lineno, key, value in parse_properties(text)}


def load_kafka_settings(properties_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None,
                        **overrides: object) -> KafkaSettings:
    """Kafka settings from $ATLAS_CONF/atlas-application.properties < the project's properties file < the
    environment < `overrides` (KafkaSettings fields, e.g. delivery_timeout). Raises ConfigError naming the key
    and where it came from when a value is unusable or the bootstrap servers are not set anywhere."""
    env = os.environ if env is None else env
    raw: dict[str, tuple[str, str]] = {}
    conf_dir = env.get(ATLAS_CONF_ENV)
    if conf_dir and (Path(conf_dir) / APPLICATION_PROPERTIES).is_file():
        raw.update(_read(Path(conf_dir) / APPLICATION_PROPERTIES, "Atlas application properties"))
    project = properties_file or env.get(CONFIG_FILE_ENV)
    if project:
        raw.update(_read(Path(project).expanduser(), "Atlas properties file"))
    for var, key in _ENV_VARS.items():
        if env.get(var):
            raw[key] = (env[var].strip(), f"environment variable {var}")

    producer: dict[str, str | SecretStr] = {}
    sources: dict[str, str] = {}
    for key, (value, origin) in raw.items():
        if key.startswith(_JAAS_PREFIX) and key[len(_JAAS_PREFIX):] in _JAAS_OPTIONS:
            target = _JAAS_OPTIONS[key[len(_JAAS_PREFIX):]]
        elif key.startswith(KAFKA_PREFIX) and _PRODUCER_KEYS.match(key[len(KAFKA_PREFIX):]):
            target = key[len(KAFKA_PREFIX):]
        else:
            continue
        if target in _JAVA_ONLY:
            raise ConfigError(f"{key} ({origin}) is a Java Kafka client setting this producer cannot use; set "
                              f"{KAFKA_PREFIX}{_JAVA_ONLY[target]} instead", source=origin, key=key)
        if target == "sasl.jaas.config":  # librdkafka takes the credentials themselves
            for name, found in _JAAS_CREDENTIALS.findall(value):
                producer[f"sasl.{name}"] = SecretStr(found) if name == "password" else found
                sources[f"sasl.{name}"] = origin
            continue
        producer[target] = SecretStr(value) if _SECRET_KEY.search(target) else value
        sources[target] = origin

    bootstrap = producer.pop(BOOTSTRAP, None)
    if not bootstrap:
        raise ConfigError(
            "no Kafka bootstrap servers are configured for the kafka transport",
            key=KAFKA_PREFIX + BOOTSTRAP,
            hint=f"set {KAFKA_PREFIX}{BOOTSTRAP} in $ATLAS_CONF/{APPLICATION_PROPERTIES} or ${CONFIG_FILE_ENV}, or "
                 "ATLAS_KAFKA_BOOTSTRAP_SERVERS (`atlas-ml server status --json` shows the local Atlas's)")
    values: dict[str, object] = {"bootstrap_servers": str(bootstrap), "producer": producer, "sources": sources}
    if TOPIC_KEY in raw:
        values["topic"] = raw[TOPIC_KEY][0]
    if MAX_LENGTH_KEY in raw:
        values["max_length_bytes"] = raw[MAX_LENGTH_KEY][0]
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return KafkaSettings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else "settings"
            key = {"topic": TOPIC_KEY, "max_length_bytes": MAX_LENGTH_KEY}.get(field, field)
            origin = raw.get(key, ("", "override"))[1]
            problems.append(f"{key} ({origin}): {err['msg']}")
        raise ConfigError("invalid Kafka settings: " + "; ".join(problems)) from None
