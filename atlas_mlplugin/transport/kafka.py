"""Publishing hook notifications to Atlas's ATLAS_HOOK topic with librdkafka (confluent-kafka).

Why this client: it is maintained by the Kafka project's main vendor, ships librdkafka inside its wheels (SASL,
TLS, Kerberos), and still talks to the Kafka 2.0 broker Atlas 2.1.0 embeds (Kafka 4.x Java clients refuse
brokers older than 2.1). Checked against the local Atlas's broker by tests/integration/test_kafka_transport.py.

A publish never blocks longer than `KafkaSettings.delivery_timeout` and never holds more than
`max_buffered_messages` in memory: when the broker cannot be reached or does not acknowledge in time, the
publish raises KafkaUnavailableError (a ConnectionError, so the spool and the event directory keep the write
and try it again later, as when Atlas's REST API is down). The messages it gave up on are purged from the
producer's queue, so a broker that comes back does not get them on top of the retry.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from atlas_mlplugin.atlas.errors import ConfigError
from atlas_mlplugin.scrubbing import logger, scrub_text
from atlas_mlplugin.transport.notification import HookRequest, encode
from atlas_mlplugin.transport.settings import KafkaSettings

log = logger(__name__)
INSTALL_HINT = "pip install 'atlas-mlplugin[kafka]' (the kafka transport needs confluent-kafka)"


class KafkaUnavailableError(ConnectionError):
    """Kafka did not take a notification in time (broker down or unreachable, buffer full, not acknowledged)."""


class HookPublisher:
    """Sends hook requests to the hook topic and waits (boundedly) for the broker's acknowledgement."""

    def __init__(self, settings: KafkaSettings) -> None:
        try:
            from confluent_kafka import Producer
        except ImportError as exc:  # an optional dependency
            raise ConfigError(f"the kafka transport is not installed: {exc}", hint=INSTALL_HINT) from None
        self.settings = settings
        self._lock = threading.Lock()
        try:
            self._producer: Any = Producer(settings.producer_config(), logger=log)
        except Exception as exc:  # KafkaException for an unknown key or value: name it, not its secret value
            raise ConfigError(f"the Kafka producer refused its settings ({settings.redacted()}): "
                              f"{scrub_text(str(exc))}", key="atlas.kafka.*",
                              hint="fix or remove the atlas.kafka.* key it names") from None
        log.info("publishing Atlas hook notifications to %s on %s", settings.topic, settings.bootstrap_servers)

    def publish(self, requests: list[tuple[str, HookRequest]]) -> None:
        """Send each (key, request) and wait until the broker acknowledged all of them.

        The key keeps the messages of one entity (and the parts of a split message) in one partition, in order.
        Raises KafkaUnavailableError when they are not all acknowledged within the delivery timeout."""
        errors: list[str] = []
        pending = 0

        def delivered(err: Any, msg: Any) -> None:
            nonlocal pending
            pending -= 1
            if err is not None:
                errors.append(str(err))

        deadline = time.monotonic() + self.settings.delivery_timeout
        with self._lock:  # one publish at a time: its callbacks and its purge concern only its own messages
            try:
                for key, request in requests:
                    for value in encode(request, max_length_bytes=self.settings.max_length_bytes):
                        self._producer.produce(self.settings.topic, value=value, key=key.encode("utf-8"),
                                               on_delivery=delivered)
                        pending += 1
            except BufferError:
                self._give_up()
                full = self.settings.max_buffered_messages
                raise KafkaUnavailableError(f"the Kafka producer's buffer is full ({full} messages): the broker "
                                            "is not taking messages") from None
            except Exception as exc:  # KafkaException: e.g. a message larger than the broker allows
                self._give_up()
                raise KafkaUnavailableError(f"Kafka refused a notification: {scrub_text(str(exc))}") from None
            while pending > 0 and not errors and time.monotonic() < deadline:
                self._producer.flush(max(0.0, min(0.2, deadline - time.monotonic())))
            if pending > 0 or errors:
                self._give_up()
                why = errors[0] if errors else f"no acknowledgement within {self.settings.delivery_timeout:g} s"
                raise KafkaUnavailableError(f"Kafka at {self.settings.bootstrap_servers} did not take the "
                                            f"notification for topic {self.settings.topic}: {scrub_text(why)}")

    def _give_up(self) -> None:
        """Drop what is still queued: the caller keeps the write and sends it again later."""
        try:
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.poll(0)
        except Exception:  # noqa: BLE001 - best effort; the error the caller gets is the one that matters
            log.debug("purging the Kafka producer's queue failed", exc_info=True)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._producer.flush(timeout)
