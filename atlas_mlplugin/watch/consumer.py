"""The loop: poll a batch of ATLAS_ENTITIES records, re-check the models it names, then commit.

Offsets are committed only after a batch's re-checks, alerts and write-backs are done (at-least-once); the
re-check is idempotent (recheck.py), so a batch read twice after a crash alerts once. Where a consumer group
starts: from its committed offsets; a group without any starts now (`--from-now`), not from the topic's whole
history, unless `--from-beginning` says so. Either choice is committed at once, so `--once` runs of a new
group (cron) see everything after the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Literal

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.errors import AtlasServerError, AtlasUnavailableError, ConfigError
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.policy.rules import Policy
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.transport.kafka import INSTALL_HINT
from atlas_mlplugin.transport.notification import (
    EntityNotificationV2,
    EntityOperation,
    NotificationStringMessage,
    decode_entity_notification,
    join_parts,
    split_part,
)
from atlas_mlplugin.transport.settings import KafkaSettings
from atlas_mlplugin.watch.alerts import AlertDeliveryError, AlertSink
from atlas_mlplugin.watch.coalesce import CheckedTags, affected_models
from atlas_mlplugin.watch.expiry import due_models, models_of_releases
from atlas_mlplugin.watch.recheck import RecheckStats, recheck
from atlas_mlplugin.watch.restore import restore_retractions

log = logger(__name__)

ENTITIES_TOPIC = "ATLAS_ENTITIES"
DEFAULT_GROUP = "atlas-ml-watch"
BATCH_SIZE = 1000  # records per poll: a 300-model retraction (~3 records per model) fits in one batch
Start = Literal["committed", "beginning", "now"]
# Settings of the hook producer that a consumer also needs: the broker and how to authenticate to it.
_CLIENT_KEYS = ("bootstrap.servers", "security.protocol", "sasl.", "ssl.", "client.id")
# Failures a running watcher outlasts: it replays the uncommitted batch after a pause instead of exiting.
TRANSIENT = (AtlasUnavailableError, AtlasServerError, AlertDeliveryError)
MAX_PAUSE = 300.0
# An officer's RiskAccepted on a release decision changes what its model's check accepts.
RELEASE_TAG_OPERATIONS = frozenset({EntityOperation.CLASSIFICATION_ADD, EntityOperation.CLASSIFICATION_UPDATE,
                                    EntityOperation.CLASSIFICATION_DELETE})


@dataclass
class WatchTotals:
    records: int = 0
    batches: int = 0
    models: int = 0
    changed: int = 0
    rest_calls: int = 0
    write_calls: int = 0
    largest_batch_calls: int = 0  # REST calls of the costliest batch: bounded, whatever its models
    restored: int = 0  # derived tags removed by hand and put back
    sweeps: int = 0  # looks for expired acceptances (at start and when the UTC date changes)

    def add(self, stats: RecheckStats) -> None:
        self.models += stats.models
        self.changed += stats.changed
        self.rest_calls += stats.rest_calls
        self.write_calls += stats.write_calls
        self.restored += stats.restored
        self.largest_batch_calls = max(self.largest_batch_calls, stats.rest_calls)


def consumer_config(settings: KafkaSettings, group_id: str) -> dict[str, str]:
    base = {k: v for k, v in settings.producer_config().items() if k.startswith(_CLIENT_KEYS)}
    return {**base, "group.id": group_id, "enable.auto.commit": "false", "auto.offset.reset": "latest",
            # a batch of 300 models takes a while to re-check; do not let the group think we died
            "max.poll.interval.ms": "900000"}


class Watcher:
    def __init__(self, client: AtlasClient, settings: KafkaSettings, policy: Policy, sinks: Sequence[AlertSink], *,
                 group_id: str = DEFAULT_GROUP, topic: str = ENTITIES_TOPIC, start: Start = "committed",
                 today: Callable[[], date] = lambda: datetime.now(timezone.utc).date()) -> None:
        try:
            from confluent_kafka import Consumer
        except ImportError as exc:
            raise ConfigError(f"watch needs the Kafka client: {exc}", hint=INSTALL_HINT) from None
        self.client, self.policy, self.sinks, self.topic, self.start = client, policy, sinks, topic, start
        self._consumer: Any = Consumer(consumer_config(settings, group_id), logger=log)
        self._next: dict[int, int] = {}  # partition -> next offset to read (what a commit records)
        self._pending: dict[str, list[NotificationStringMessage]] = {}  # split parts by msgId
        self._dirty = False
        self._checked = CheckedTags()
        self.today = today
        self._swept: date | None = None  # the UTC day of the last look for expired acceptances

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        committed = consumer.committed(partitions, timeout=30)
        for partition, known in zip(partitions, committed, strict=True):
            low, high = consumer.get_watermark_offsets(partition, timeout=30)
            if self.start == "beginning":
                partition.offset = low
            elif self.start == "now" or known.offset < 0:
                partition.offset = high
            else:
                partition.offset = max(known.offset, low)  # a committed offset the broker has since deleted
            self._next[partition.partition] = partition.offset
        self._dirty = True  # commit the starting point, so a new group's next run starts here too
        consumer.assign(partitions)
        log.info("watching %s from %s", self.topic, {p.partition: p.offset for p in partitions})

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        for partition in partitions:
            self._next.pop(partition.partition, None)

    def _decode(self, value: bytes) -> EntityNotificationV2 | None:
        part = split_part(value)
        if part is None:
            return decode_entity_notification(value)
        parts = self._pending.setdefault(part.msgId, [])
        parts.append(part)
        if len(parts) < part.msgSplitCount:
            return None
        del self._pending[part.msgId]
        return decode_entity_notification(join_parts(sorted(parts, key=lambda p: p.msgSplitIdx)))

    def _caught_up(self) -> bool:
        if not self._next:
            return False
        from confluent_kafka import TopicPartition

        for partition, offset in self._next.items():
            _, high = self._consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=30,
                                                           cached=False)
            if offset < high:
                return False
        return True

    def _commit(self) -> None:
        from confluent_kafka import TopicPartition

        if self._next and self._dirty:
            self._consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in self._next.items()],
                                  asynchronous=False)
            self._dirty = False

    def process(self, records: list[Any]) -> RecheckStats | None:
        notes: list[EntityNotificationV2] = []
        for record in records:
            if record.error():
                log.warning("Kafka: %s", record.error())
                continue
            try:
                note = self._decode(record.value())
            except ValueError as exc:  # a record we cannot read must not stop every later verdict
                log.warning("skipping %s[%d]@%d: %s", record.topic(), record.partition(), record.offset(), exc)
                note = None
            if note is not None:
                notes.append(note)
        event_times = {note.entity.guid: note.eventTime for note in notes if note.eventTime}
        # Derived tags removed by hand from datasets first, so that the models re-checked below see them back.
        emptied = sorted({note.entity.guid for note in notes if note.entity.typeName == n.ML_DATASET
                          and note.operationType is EntityOperation.CLASSIFICATION_DELETE})
        restored, restore_calls = (restore_retractions(self.client, emptied, self.sinks, event_times=event_times)
                                   if emptied else ([], 0))
        models = {guid: note for guid, note in affected_models(notes).items() if not self._checked.unchanged(note)}
        guids = list(models)
        releases = {note.entity.guid for note in notes if note.entity.typeName == n.ML_RELEASE
                    and note.operationType in RELEASE_TAG_OPERATIONS}
        owner_calls = 0
        if releases:
            owners, owner_calls = models_of_releases(self.client, releases)
            guids += [g for g in owners if g not in models]
        stats = None
        if guids:
            stats = recheck(self.client, guids, self.policy, self.sinks, event_times=event_times)
            for note in models.values():
                self._checked.checked(note)
        if restored or restore_calls or owner_calls:
            stats = stats or RecheckStats()
            stats.restored += len(restored)
            stats.alerts += restored
            stats.rest_calls += restore_calls + owner_calls
        for record in records:  # the work is done: now the offsets may move
            if not record.error():
                self._next[record.partition()] = record.offset() + 1
                self._dirty = True
        self._commit()
        return stats

    def sweep(self) -> RecheckStats | None:
        """Re-check the models whose acceptance (on the model or a release decision) expired, once per UTC
        day; None when today's look was done already. Not tied to offsets: a re-check is idempotent."""
        today = self.today()
        if self._swept == today:
            return None
        guids, calls = due_models(self.client, today)
        stats = recheck(self.client, guids, self.policy, self.sinks) if guids else RecheckStats()
        stats.rest_calls += calls
        self._swept = today
        if guids:
            log.info("%d model(s) hold an acceptance that expired before %s: re-checked, %d verdict(s) changed",
                     len(guids), today, stats.changed)
        return stats

    def _rewind(self) -> None:
        """Read the failed batch again: back to the offsets of the last finished one."""
        from confluent_kafka import TopicPartition

        self._pending.clear()  # parts of split messages come again too
        for partition, offset in self._next.items():
            self._consumer.seek(TopicPartition(self.topic, partition, offset))

    def run(self, *, once: bool = False, assign_timeout: float = 60.0, poll: float = 1.0,
            should_stop: Callable[[], bool] = lambda: False, pause: float = 2.0,
            sleep: Callable[[float], None] = time.sleep) -> WatchTotals:
        """Until `should_stop()` (or, with once, until the topic's end as of now is processed). A running
        watcher outlasts Atlas or the webhook being down (TRANSIENT): it pauses, doubling up to MAX_PAUSE,
        and replays the batch; with once such a failure ends the run (cron runs it again)."""
        totals = WatchTotals()
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        started = time.monotonic()
        failures = 0
        try:
            while not should_stop():
                try:
                    swept = self.sweep()
                except TRANSIENT as exc:
                    if once:
                        raise
                    log.warning("%s; looking for expired acceptances again after the next poll", exc)
                else:
                    if swept is not None:
                        totals.sweeps += 1
                        totals.add(swept)
                records = self._consumer.consume(num_messages=BATCH_SIZE, timeout=poll)
                if records:
                    try:
                        stats = self.process(records)
                    except TRANSIENT as exc:
                        if once:
                            raise
                        failures += 1
                        delay = min(MAX_PAUSE, pause * 2 ** (failures - 1))
                        log.warning("%s; reading the batch again in %.0f s", exc, delay)
                        self._rewind()
                        until = time.monotonic() + delay
                        while time.monotonic() < until and not should_stop():  # SIGTERM need not wait
                            sleep(min(1.0, until - time.monotonic()))
                        continue
                    failures = 0
                    totals.records += len(records)
                    totals.batches += 1
                    if stats:
                        totals.add(stats)
                else:
                    self._commit()  # a starting point chosen on assignment
                if once:
                    if self._caught_up():
                        self._commit()
                        break
                    if not self._next and time.monotonic() - started > assign_timeout:
                        raise ConfigError(f"no partition of {self.topic} was assigned within {assign_timeout:.0f} s",
                                          hint="check atlas.kafka.bootstrap.servers and that the topic exists "
                                               "(Atlas creates it when it starts)")
        finally:
            self._consumer.close()
        return totals
