"""The Python hooks' writes (atlas_mlplugin.api, track_training, PySpark autolog) as Atlas hook notifications: the
spool's op handler for the kafka transport.

The durable spool stays in front (delivery/deliverer.py): an op is on disk before anything is sent, and a Kafka
that is down or slow (the publisher's bounded buffer and delivery timeout, transport/kafka.py) raises
KafkaUnavailableError, a ConnectionError, which delivery/transient.py classifies UNAVAILABLE: the op stays first
in line, in order, and is never dead-lettered for it. "delivered" then means Kafka acknowledged the
notification; Atlas's hook consumer applies it moments later, in order (every message goes with one key, so to
one partition, as lineage.py's do).

Each op becomes one ENTITY_CREATE_V2 with the entities the REST registry writes (governance/registry.py), built
by the same functions (mapping/entities.py, mapping/tags.py), which Atlas upserts by qualifiedName (so a
notification delivered twice creates nothing twice). Tags travel inside entities this message creates: Atlas
adds them on create and propagates them as over REST. What a hook message cannot say goes over REST, as in
lineage.py: Atlas 2.1.0's hook consumer ignores the classifications of an entity it updates and has no message
that removes one, so

- the derived tags of a dataset, and the IncompleteLineage of a training run, that already exist are synced
  over REST after the notification (the entity's attributes still go through Kafka);
- an attested anonymization's blocked propagation (a relationship attribute set on edges Atlas made) is set
  over REST once Atlas has applied the derivation;
- `retract_dataset` and `withdraw_consent` go over REST entirely: they are tag changes on entities that exist
  (the Retracted tag; ConsentWithdrawn on every dataset the record covers).

Which entities exist is read over REST under the names' write locks, as the REST path does. A read cannot see
what this handler published and Atlas has not applied yet, so the handler remembers the entities it published,
with the tags they carried: one published again with the same tags is simply sent again; before any REST write
that could depend on them (a tag change, a retraction, a withdrawal) it waits, boundedly, until Atlas has
applied them. Atlas's consumer gives a notification up after a few failed tries (a storage conflict with
another writer, logged as DROPPED_NOTIFICATION); since it applies the topic in order, an entity still missing
once a later one is there was dropped, and is published again (see `_observe`; also checked every
`check_interval` seconds before an op). That memory is per process: another process's writes still in Kafka
are not seen (a derivation whose input was registered a moment ago by another process may be refused as
unregistered), and a notification dropped just before the process ends is not sent again. Updates of entities
that exist are not waited for: a REST write racing Atlas's consumer on the same entity may get HTTP 500, which
the spool retries (delivery/transient.py RETRY).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from atlas_mlplugin.delivery.handler import apply_op
from atlas_mlplugin.delivery.operations import OpKind
from atlas_mlplugin.delivery.spool import SpoolOp
from atlas_mlplugin.errors import NotRegisteredError
from atlas_mlplugin.governance.inputs import resolve_inputs
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity
from atlas_mlplugin.mapping.tags import (
    DERIVED_TAG_TYPES,
    LICENSE_TAG_TYPES,
    Classification,
    derived_tags,
    incomplete_lineage_tags,
    model_license_tags,
    placeholder_tags,
)
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, TrainingRunSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.naming import display_name
from atlas_mlplugin.scrubbing import logger, scrub_value
from atlas_mlplugin.transport.kafka import HookPublisher, KafkaUnavailableError
from atlas_mlplugin.transport.lineage import ORDER_KEY
from atlas_mlplugin.transport.notification import EntityCreateRequestV2, create_request
from atlas_mlplugin.transport.settings import BOOTSTRAP, KAFKA_PREFIX, KafkaSettings, load_kafka_settings

log = logger(__name__)
REMEMBERED = 100_000  # entities published and not yet seen applied (oldest forgotten first)
MAX_RESENDS = 3  # an entity Atlas dropped this often is given up on (logged): its notification itself is refused
_SPOOLED = {NAMES_NORMALIZED: True}  # spooled specs were normalised when they were submitted
# Ops whose every write is a tag change on an existing entity: sent over REST (see the module docstring).
# An evaluation run sets propagateTags NONE on its evaluation data's edges: a relationship update, which a hook
# message cannot carry.
REST_ONLY = frozenset({OpKind.RETRACT_DATASET, OpKind.WITHDRAW_CONSENT, OpKind.RECORD_EVALUATION_RUN})


# --- the messages (pure: what Atlas holds decides only whether tags go inside) ---------------------------
def with_tags(entity: Entity, tags: list[Classification]) -> Entity:
    """The entity carrying `tags`, which Atlas adds when the message creates it (none: the entity as it is)."""
    return {**entity, "classifications": tags} if tags else entity


def dataset_batch(ds: DatasetSpec, lic: DataLicense, consents: list[ConsentRecordSpec], *,
                  new: bool) -> list[Entity]:
    """register_dataset's entities: the license and the dataset, with its derived tags when it is `new`."""
    dataset = em.dataset_entity(ds, lic)
    return [em.license_entity(lic), with_tags(dataset, derived_tags(ds, lic, consents) if new else [])]


def training_run_batch(run: TrainingRunSpec, unregistered: Iterable[str], *, new: bool,
                       input_types: dict[str, str] | None = None, licenses: dict[str, DataLicense] | None = None,
                       new_models: Iterable[str] = ()) -> list[Entity]:
    """record_training_run's entities: a placeholder (UnknownLicense) per unregistered input, the models, and the
    run, with IncompleteLineage when it is `new` and its inputs are not all known. Models come fingerprinted.
    `input_types`: the Atlas type of each input (governance/inputs.py; a model input is an ml_model).
    `licenses` maps a model with a license of its own to it: the license goes first and the model, when it is
    one of `new_models`, carries the tags the license implies."""
    types = input_types or {}
    licenses, new_models = licenses or {}, set(new_models)
    reader = f"training run {run.run_id}"
    batch = [with_tags(em.placeholder_input_entity(types.get(name, n.ML_DATASET), name, display_name(name), reader),
                       placeholder_tags(name)) for name in unregistered]
    batch += [em.license_entity(lic) for lic in {lic.spdx_id: lic for lic in licenses.values()}.values()]
    batch += [with_tags(em.model_entity(m, licenses.get(m.qualified_name)),
                        model_license_tags(m, licenses[m.qualified_name])
                        if m.qualified_name in licenses and m.qualified_name in new_models else [])
              for m in run.outputs]
    tags = incomplete_lineage_tags(run.qualified_name, run.inputs, run.unresolved_inputs) if new else []
    batch.append(with_tags(em.training_run_entity(run, types), tags))
    return batch


def message(batch: list[Entity]) -> EntityCreateRequestV2:
    """The ENTITY_CREATE_V2 for a batch: linked by placeholder guids, every string scrubbed (as REST writes)."""
    return create_request(scrub_value(em.link_within_batch(batch)))


def _tag_key(tags: list[Classification]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((t["typeName"], repr(sorted(t.get("attributes", {}).items()))) for t in tags))


@dataclass
class InFlight:
    """An entity this handler published that Atlas has not been seen to hold yet."""

    type_name: str
    tags: tuple[tuple[str, str], ...]  # the tags it carried (the key of what it would be created with)
    entity: Entity  # as published (unlinked), to send again if Atlas dropped it
    seq: int  # the order it was published in (Atlas applies them in this order)
    new: bool  # it was looked up and absent: seeing it in Atlas shows Atlas got this far
    resent: int = 0


# --- the handler -------------------------------------------------------------------------------------------
class KafkaOpHandler:
    """Applies one spooled op by publishing its hook notification (and the REST writes a hook cannot make)."""

    def __init__(self, registry: GovernanceRegistry, publisher: HookPublisher, *, apply_timeout: float = 60.0,
                 poll_interval: float = 0.5) -> None:
        self.registry = registry
        self.client = registry.client
        self.publisher = publisher
        self.apply_timeout = apply_timeout
        self.poll_interval = poll_interval
        # Entities published and not yet seen in Atlas, by qualifiedName, in the order they were published.
        self._pending: OrderedDict[str, InFlight] = OrderedDict()
        self._seq = 0
        self._applied = 0  # the highest seq of a new entity seen in Atlas: Atlas has applied everything before it
        self._checked = time.monotonic()
        self.check_interval = 10.0  # how often an op first looks for notifications Atlas dropped
        self._consents: dict[str, ConsentRecordSpec] = {}  # records published, for tags of datasets in flight
        # One op at a time: the worker's, and a direct delivery's when no spool could hold an op.
        self._lock = threading.Lock()

    def __call__(self, op: SpoolOp) -> None:
        with self._lock:
            if self._pending and time.monotonic() - self._checked >= self.check_interval:
                self._observe()
            self._apply(op)

    def _apply(self, op: SpoolOp) -> None:
        try:
            kind = OpKind(op.kind)
        except ValueError:
            raise ValueError(f"unknown spool operation {op.kind!r}; this version of atlas-mlplugin cannot apply "
                             "it") from None
        if kind in REST_ONLY:
            self.settle()  # the entity, and the datasets a record covers, must be in Atlas to be found
            apply_op(self.registry, op.kind, op.payload)
            return
        match kind:
            case OpKind.REGISTER_LICENSE:
                lic = DataLicense.model_validate(op.payload, context=_SPOOLED)
                self.registry.catalog.add(lic)
                self._publish([em.license_entity(lic)])
            case OpKind.REGISTER_CONSENT:
                self.register_consent(ConsentRecordSpec.model_validate(op.payload, context=_SPOOLED))
            case OpKind.REGISTER_DATASET:
                self.register_dataset(DatasetSpec.model_validate(op.payload, context=_SPOOLED))
            case OpKind.RECORD_DERIVATION:
                self.record_derivation(DerivationSpec.model_validate(op.payload, context=_SPOOLED))
            case OpKind.RECORD_TRAINING_RUN:
                self.record_training_run(TrainingRunSpec.model_validate(op.payload, context=_SPOOLED))

    # --- what is in flight ---------------------------------------------------------------------------
    def _publish(self, batch: list[Entity], existing: Iterable[str] = (), new: Iterable[str] = ()) -> None:
        """Publish the batch (Kafka acknowledged it on return) and remember its entities as in flight, with the
        tags they carry, but for those `existing` (seen in Atlas just now); `new` ones were seen absent. A model or
        an edge still in flight matters too: a tag added over REST before Atlas made the edge would not reach what
        is behind it."""
        self.publisher.publish([(ORDER_KEY, message(batch))])
        self._seq += 1
        known, absent = set(existing), set(new)
        for entity in batch:
            name = entity["attributes"][n.QUALIFIED_NAME]
            if name in known:
                continue
            before = self._pending.pop(name, None)
            self._pending[name] = InFlight(entity["typeName"], _tag_key(entity.get("classifications") or []),
                                           entity, self._seq, new=name in absent and before is None,
                                           resent=before.resent if before else 0)
        while len(self._pending) > REMEMBERED:
            self._pending.popitem(last=False)

    def _lookup(self, type_name: str, qualified_name: str, tags: list[Classification]) -> str | None:
        """The entity's guid when Atlas has it (its tags then change over REST), else None: the message may create
        it with `tags` inside. One this handler published with other tags and Atlas has not applied yet is waited
        for first (settle), since only REST can change its tags."""
        found = self.client.find_entity(type_name, qualified_name, ignore_relationships=True)
        if found is None:
            pending = self._pending.get(qualified_name)
            if pending is None or (pending.type_name, pending.tags) == (type_name, _tag_key(tags)):
                return None
            self.settle()
            found = self.client.find_entity(type_name, qualified_name, ignore_relationships=True)
            if found is None:  # applied, then deleted meanwhile: create it again
                return None
        entry = self._pending.pop(qualified_name, None)
        if entry is not None and entry.new:
            self._applied = max(self._applied, entry.seq)
        return str(found["entity"]["guid"])

    def _observe(self) -> None:
        """Drop from `_pending` what Atlas holds now (one bulk read per type), and send again what Atlas dropped.

        Atlas applies the hook topic in order, so an entity missing while a later new one is there was dropped:
        Atlas's consumer gives a notification up after a few failed tries (e.g. a storage conflict with another
        writer of a shared license), logging it as [DROPPED_NOTIFICATION]. Such entities are published again (an
        upsert, and nothing newer was applied to them), up to MAX_RESENDS times, then given up on with an error."""
        self._checked = time.monotonic()
        by_type: dict[str, list[str]] = {}
        for name, entry in self._pending.items():
            by_type.setdefault(entry.type_name, []).append(name)
        for type_name, names in by_type.items():
            for name in self.client.find_entities(type_name, names):
                entry = self._pending.pop(name)
                if entry.new:
                    self._applied = max(self._applied, entry.seq)
        dropped = [(name, entry) for name, entry in self._pending.items() if entry.seq < self._applied]
        if not dropped:
            return
        given_up = [name for name, entry in dropped if entry.resent >= MAX_RESENDS]
        for name in given_up:
            del self._pending[name]
        if given_up:
            log.error("Atlas dropped the hook notifications for %s %d times; given up (Atlas's application log says "
                      "why, under DROPPED_NOTIFICATION): register them again", ", ".join(given_up[:3])
                      + (", ..." if len(given_up) > 3 else ""), MAX_RESENDS + 1)
        again = [(name, entry) for name, entry in dropped if name not in given_up]
        if again:
            log.warning("Atlas dropped the hook notification for %d entities (%s); publishing them again",
                        len(again), ", ".join(name for name, _ in again[:3]))
            resent = {name: entry.resent + 1 for name, entry in again}
            self._publish([entry.entity for _, entry in again], new=[name for name, e in again if e.new])
            for name, count in resent.items():
                self._pending[name].resent = count

    def settle(self) -> None:
        """Wait until Atlas has applied every entity this handler published (bounded by apply_timeout), sending
        again what Atlas dropped. Raises KafkaUnavailableError when some are still missing then: the op stays
        spooled, and is tried again later (Atlas's consumer may just be behind)."""
        deadline = time.monotonic() + self.apply_timeout
        while True:
            self._observe()
            if not self._pending:
                return
            if time.monotonic() >= deadline:
                missing = list(self._pending)
                raise KafkaUnavailableError(
                    f"Atlas has not applied the hook notifications for {len(missing)} entities within "
                    f"{self.apply_timeout:g} s ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): is "
                    "its hook consumer running?")
            time.sleep(self.poll_interval)

    # --- the ops ----------------------------------------------------------------------------------------
    def register_consent(self, rec: ConsentRecordSpec) -> None:
        """A new record covers no dataset yet: one notification. A record that exists may cover datasets whose
        consent tags follow from it, so its update goes over REST, which derives those again."""
        with self.client.writing([rec.qualified_name]):
            guid = self._lookup(n.ML_CONSENT_RECORD, rec.qualified_name, [])
            if guid is None and self._consents.get(rec.qualified_name, rec) == rec:
                self._publish([em.consent_entity(rec)], new=[rec.qualified_name])
                self._consents[rec.qualified_name] = rec
                return
            self.settle()
            self.registry.register_consent(rec)
            self._consents[rec.qualified_name] = rec

    def _consent_records(self, qualified_names: list[str]) -> list[ConsentRecordSpec]:
        """The records, as Atlas holds them, or as this handler published them while they are in flight."""
        records = []
        for qualified_name in qualified_names:
            found = self.client.find_entity(n.ML_CONSENT_RECORD, qualified_name, ignore_relationships=True)
            if found is not None:
                self._consents.pop(qualified_name, None)  # Atlas has it: what it holds counts from now on
                records.append(em.consent_from_entity(found["entity"]))
            elif qualified_name in self._consents and qualified_name in self._pending:
                records.append(self._consents[qualified_name])
            else:
                raise NotRegisteredError(f"no {n.ML_CONSENT_RECORD} with qualifiedName {qualified_name!r} in "
                                         "Atlas; register it first")
        return records

    def register_dataset(self, ds: DatasetSpec) -> None:
        ds = ds.fingerprinted()
        lic = self.registry.catalog.get(ds.license or "NOASSERTION")
        consents = self._consent_records(ds.consent_records)
        tags = derived_tags(ds, lic, consents)
        with self.client.writing([ds.qualified_name]):
            guid = self._lookup(n.ML_DATASET, ds.qualified_name, tags)
            if guid is not None:  # it exists: its tags are synced over REST, as register_dataset does
                # Before the update is published, not while Atlas's consumer writes the same entity (Atlas 2.1.0
                # answers 500 to one of two concurrent writers of an entity).
                self.registry.sync_derived_tags(guid, tags, DERIVED_TAG_TYPES)
            self._publish(dataset_batch(ds, lic, consents, new=guid is None), [ds.qualified_name] if guid else [],
                          new=[] if guid else [ds.qualified_name])

    def record_derivation(self, derivation: DerivationSpec) -> None:
        unseen = [name for name in derivation.inputs if name not in self._pending]
        found = self.client.find_entities(n.ML_DATASET, unseen) if unseen else {}
        for source in unseen:
            if source not in found:  # as the REST path's require: the inputs must be registered
                raise NotRegisteredError(f"no {n.ML_DATASET} with qualifiedName {source!r} in Atlas; register it "
                                         "first")
        for output in derivation.outputs:
            self.register_dataset(output)
        attested = derivation.derivation_type == "anonymize" and derivation.attested
        # A derivation carries no tags of its own; only whether it was attested before matters (a withdrawn
        # attestation must lift the block it set).
        before = self.client.find_entities(n.ML_DERIVATION, [derivation.qualified_name])
        was_attested = (before.get(derivation.qualified_name, {}).get("attributes") or {}).get("attested") is True
        with self.client.writing([derivation.qualified_name]):
            self._publish([em.derivation_entity(derivation)])
        if attested or was_attested:
            self.settle()  # blocking is set on the edges Atlas makes when it applies the derivation
            process = self.registry.require(n.ML_DERIVATION, derivation.qualified_name)
            # the REST path's own step
            self.registry.record_anonymisation(str(process["guid"]), attested=attested)

    def record_training_run(self, run: TrainingRunSpec) -> None:
        run = run.model_copy(update={"outputs": [m.fingerprinted() for m in run.outputs]})
        with self.client.writing([*run.inputs, run.qualified_name]):
            # Inputs in flight are of the type they were published as; the others are looked up, datasets and
            # models at once (a base model is a model -> run edge).
            unseen = [name for name in run.inputs if name not in self._pending]
            resolved = resolve_inputs(self.client, unseen, models=set(run.model_inputs))
            types = resolved.types | {name: self._pending[name].type_name for name in run.inputs
                                      if name in self._pending}
            unregistered = resolved.missing_datasets + resolved.missing_models
            if unregistered:
                log.warning("training run %s reads %d dataset(s) nobody registered, recorded with no known license "
                            "(UnknownLicense): %s", run.run_id, len(unregistered), ", ".join(unregistered[:3])
                            + (", ..." if len(unregistered) > 3 else ""))
            tags = incomplete_lineage_tags(run.qualified_name, run.inputs, run.unresolved_inputs)
            guid = self._lookup(n.ML_TRAINING_RUN, run.qualified_name, tags)
            if guid is not None:  # it exists: IncompleteLineage is synced over REST (first, as for datasets)
                self.registry.sync_lineage_tags(guid, tags, created=False)
            # A model with a license of its own: its license tags as for a dataset (in the message when new,
            # over REST when it exists); one without keeps what Atlas holds.
            licenses = {m.qualified_name: self.registry.catalog.get(m.license) for m in run.outputs
                        if m.license is not None}
            new_models, existing_models = [], []
            for model in run.outputs:
                if model.qualified_name in licenses:
                    model_tags = model_license_tags(model, licenses[model.qualified_name])
                    model_guid = self._lookup(n.ML_MODEL, model.qualified_name, model_tags)
                    if model_guid is None:
                        new_models.append(model.qualified_name)
                    else:
                        existing_models.append(model.qualified_name)
                        self.registry.sync_derived_tags(model_guid, model_tags, LICENSE_TAG_TYPES)
            self._publish(training_run_batch(run, unregistered, new=guid is None, input_types=types,
                                             licenses=licenses, new_models=new_models),
                          [*([run.qualified_name] if guid else []), *existing_models],
                          new=[*unregistered, *([] if guid else [run.qualified_name]), *new_models])


# --- wiring ------------------------------------------------------------------------------------------------
def default_kafka_settings(env: dict[str, str] | None = None) -> KafkaSettings:
    """The configured Kafka settings (settings.load_kafka_settings); with no broker configured and no Atlas
    named, the local server's embedded broker, as the REST connection falls back to the local server."""
    from atlas_mlplugin.atlas.config import CONFIG_FILE_ENV
    from atlas_mlplugin.atlas.errors import ConfigError

    env = dict(os.environ) if env is None else env
    try:
        return load_kafka_settings(None, env)
    except ConfigError as exc:
        if exc.key != KAFKA_PREFIX + BOOTSTRAP or env.get(CONFIG_FILE_ENV) or env.get("ATLAS_URL"):
            raise
        from atlas_mlplugin.server.launcher import LocalAtlas

        local = LocalAtlas().status().kafka_bootstrap_servers
        if not local:
            raise
        return load_kafka_settings(None, {**env, "ATLAS_KAFKA_BOOTSTRAP_SERVERS": local})


def kafka_handler(registry: GovernanceRegistry, settings: KafkaSettings | None = None
                  ) -> Callable[[SpoolOp], None]:
    """The kafka transport's op handler (unguarded: delivery/handler.py wraps it in the typedef guard)."""
    return KafkaOpHandler(registry, HookPublisher(settings or default_kafka_settings()))
