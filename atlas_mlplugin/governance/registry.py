"""Registering licenses, consent records, datasets, derivations, training runs and lineage in Atlas, with
the tags their facts imply: the write side. Every write is an idempotent upsert by qualifiedName, so
re-running (or re-delivering from the spool) changes nothing the second time. Entity and tag JSON is built
in mapping/; reads (tags with their sources, lineage) are in reads/."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from atlas_mlplugin import naming
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.atlas.errors import AtlasRequestError
from atlas_mlplugin.governance.bulk import BulkWriter, Write
from atlas_mlplugin.governance.inputs import resolve_inputs
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import evaluation as ev
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.openlineage import is_placeholder
from atlas_mlplugin.mapping.tags import (
    CONSENT_TAG_TYPES,
    DERIVED_TAG_TYPES,
    LICENSE_TAG_TYPES,
    LINEAGE_TAG_TYPES,
    PERSONAL_DATA_TAG_TYPES,
    RETRACTION_TAG_TYPES,
    UNREGISTERED,
    Classification,
    anonymisation_tags,
    consent_tags,
    derived_tags,
    incomplete_lineage_tags,
    model_license_tags,
    placeholder_tags,
    retraction_tags,
)
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    EvaluationRunSpec,
    ModelSpec,
    Retraction,
    TrainingRunSpec,
)
from atlas_mlplugin.reads.entities import require_entity
from atlas_mlplugin.scrubbing import logger, scrub_name

log = logger(__name__)

# Atlas's answers when a tag is already there / not there: another writer got there first.
ALREADY_ASSOCIATED = "ATLAS-400-00-01A"
NOT_ASSOCIATED = "ATLAS-400-00-06D"


def _is(exc: AtlasRequestError, code: str) -> bool:
    return exc.error_code == code


def _guid_in(response: dict[str, Any], type_name: str, qualified_name: str, placeholder: str | None) -> str | None:
    if placeholder and placeholder in (response.get("guidAssignments") or {}):
        return str(response["guidAssignments"][placeholder])
    for headers in (response.get("mutatedEntities") or {}).values():
        for header in headers:
            attrs = header.get("attributes") or {}
            if header.get("typeName") == type_name and attrs.get(n.QUALIFIED_NAME) == qualified_name:
                return str(header["guid"])
    return None


def _created_in(response: dict[str, Any], type_name: str, qualified_name: str) -> bool:
    return any(h.get("typeName") == type_name and (h.get("attributes") or {}).get(n.QUALIFIED_NAME) == qualified_name
               for h in (response.get("mutatedEntities") or {}).get("CREATE") or [])


class GovernanceRegistry:
    def __init__(self, client: AtlasClient, catalog: LicenseCatalog | None = None) -> None:
        self.client = client
        self.catalog = catalog or LicenseCatalog.from_csv()

    # --- plumbing ----------------------------------------------------------------------------------
    def upsert(self, entities: list[dict[str, Any]], type_name: str, qualified_name: str) -> str:
        """Bulk-upsert a batch (references within it linked by placeholder guids); returns the guid of the
        entity named by type_name and qualified_name."""
        return self.upsert_entity(entities, type_name, qualified_name)[0]

    def upsert_entity(self, entities: list[dict[str, Any]], type_name: str, qualified_name: str
                      ) -> tuple[str, bool]:
        """Like upsert; also says whether that entity was created (True) or already existed (False)."""
        qualified_name = scrub_name(qualified_name)  # the client writes names scrubbed; compare alike
        linked = em.link_within_batch(entities)
        placeholder = next((e["guid"] for e in linked if e["typeName"] == type_name
                            and scrub_name(e["attributes"].get(n.QUALIFIED_NAME) or "") == qualified_name), None)
        response = self.client.upsert_entities(linked)
        guid = _guid_in(response, type_name, qualified_name, placeholder)
        if guid is None:  # unchanged entities are not listed as mutated
            guid = str(self.require(type_name, qualified_name)["guid"])
        return guid, _created_in(response, type_name, qualified_name)

    def require(self, type_name: str, qualified_name: str) -> dict[str, Any]:
        return require_entity(self.client, type_name, qualified_name)

    def sync_derived_tags(self, guid: str, desired: list[Classification],
                          managed: frozenset[str] = DERIVED_TAG_TYPES) -> None:
        """Make this entity's own tags of the `managed` types equal `desired`; propagated tags, manual
        tags and derived tags of other kinds stay as they are. A concurrent writer deriving the same tags
        (two applies of one file) is no error: a tag it added first is updated, one it removed first is gone."""
        self.sync_known_tags(guid, self.client.get_classifications(guid), desired, managed)

    def sync_known_tags(self, guid: str, classifications: list[Classification], desired: list[Classification],
                        managed: frozenset[str] = DERIVED_TAG_TYPES) -> None:
        """sync_derived_tags when the entity's classifications were read already (a bulk read under the
        entity's write lock): no read of its own, and no call at all when nothing differs."""
        current = {
            c["typeName"]: c for c in classifications
            if c["typeName"] in managed and c.get("entityGuid", guid) == guid
        }
        wanted = {c["typeName"]: c for c in desired if c["typeName"] in managed}
        to_add = [c for name, c in wanted.items() if name not in current]
        to_update = [c for name, c in wanted.items()
                     if name in current and (current[name].get("attributes") or {}) != c["attributes"]]
        if to_add:
            self._add_tags(guid, to_add)
        if to_update:
            self._update_tags(guid, to_update)
        for name in sorted(current.keys() - wanted.keys()):
            try:
                self.client.delete_classification(guid, name)
            except AtlasRequestError as exc:
                if not _is(exc, NOT_ASSOCIATED):
                    raise

    def _add_tags(self, guid: str, tags: list[Classification]) -> None:
        try:
            self.client.add_classifications(guid, tags)
        except AtlasRequestError as exc:
            if not _is(exc, ALREADY_ASSOCIATED):
                raise
            for tag in tags:  # someone added some of them meanwhile: one by one, updating those
                try:
                    self.client.add_classifications(guid, [tag])
                except AtlasRequestError as one:
                    if not _is(one, ALREADY_ASSOCIATED):
                        raise
                    self.client.update_classifications(guid, [tag])

    def _update_tags(self, guid: str, tags: list[Classification]) -> None:
        try:
            self.client.update_classifications(guid, tags)
        except AtlasRequestError as exc:
            if not _is(exc, NOT_ASSOCIATED):
                raise
            for tag in tags:  # someone removed some of them meanwhile: add those again
                try:
                    self.client.update_classifications(guid, [tag])
                except AtlasRequestError as one:
                    if not _is(one, NOT_ASSOCIATED):
                        raise
                    self._add_tags(guid, [tag])

    def _consent_records(self, qualified_names: list[str]) -> list[ConsentRecordSpec]:
        return [em.consent_from_entity(self.require(n.ML_CONSENT_RECORD, qn)) for qn in qualified_names]

    # --- licenses, consent, datasets ---------------------------------------------------------------
    def register_license(self, lic: DataLicense) -> str:
        self.catalog.add(lic)
        return self.upsert([em.license_entity(lic)], n.ML_DATA_LICENSE, lic.qualified_name)

    def register_consent(self, rec: ConsentRecordSpec) -> str:
        """Upsert the record; datasets it covers get their consent tags derived again."""
        guid = self.upsert([em.consent_entity(rec)], n.ML_CONSENT_RECORD, rec.qualified_name)
        entity = self.client.get_entity(guid)["entity"]
        for ref in (entity.get("relationshipAttributes") or {}).get(n.COVERED_DATASETS) or []:
            if ref.get("relationshipStatus", "ACTIVE") == "ACTIVE":
                self._resync_consent_tags(ref["guid"])
        return guid

    def _resync_consent_tags(self, dataset_guid: str) -> None:
        entity = self.client.get_entity(dataset_guid)["entity"]
        qualified_name = entity["attributes"][n.QUALIFIED_NAME]
        with self.client.writing([qualified_name]):
            self._sync_consent_tags(dataset_guid, entity)

    def _sync_consent_tags(self, dataset_guid: str, entity: dict[str, Any]) -> None:
        qualified_name = entity["attributes"][n.QUALIFIED_NAME]
        records = [
            em.consent_from_entity(self.client.get_entity(ref["guid"])["entity"])
            for ref in (entity.get("relationshipAttributes") or {}).get(n.DATASET_CONSENT_RECORDS) or []
            if ref.get("relationshipStatus", "ACTIVE") == "ACTIVE"
        ]
        self.sync_derived_tags(dataset_guid, consent_tags(qualified_name, records), CONSENT_TAG_TYPES)

    def register_dataset(self, ds: DatasetSpec) -> str:
        """Upsert the dataset with its license, then make all its derived tags match its facts."""
        ds = ds.fingerprinted()
        lic = self.catalog.get(ds.license or "NOASSERTION")
        consents = self._consent_records(ds.consent_records)
        batch = [em.license_entity(lic), em.dataset_entity(ds, lic)]
        with self.client.writing([ds.qualified_name]):  # entity and tags as one write
            guid = self.upsert(batch, n.ML_DATASET, ds.qualified_name)
            self.sync_derived_tags(guid, derived_tags(ds, lic, consents))
        return guid

    def retract_dataset(self, qualified_name: str, reason: str, *, when: date | None = None,
                        notice_url: str | None = None) -> str:
        """Mark the dataset retracted; the Retracted tag then reaches every model downstream."""
        retraction = Retraction(reason=reason, date=when or datetime.now(timezone.utc).date(),
                                notice_url=notice_url)
        qualified_name = naming.from_user(qualified_name)
        with self.client.writing([qualified_name]):
            entity = self.require(n.ML_DATASET, qualified_name)
            guid = str(entity["guid"])
            self.client.upsert_entities([em.retraction_update_entity(qualified_name, entity["attributes"][n.NAME],
                                                                     retraction)])
            self.sync_derived_tags(guid, retraction_tags(qualified_name, retraction), RETRACTION_TAG_TYPES)
        return guid

    def withdraw_consent(self, qualified_name: str, *, when: datetime | None = None) -> str:
        """Record the withdrawal; every dataset it covers, and so every model downstream, is marked."""
        record = em.consent_from_entity(self.require(n.ML_CONSENT_RECORD, qualified_name))
        withdrawn = record.model_copy(update={"status": "withdrawn",
                                              "withdrawn_time": when or datetime.now(timezone.utc)})
        return self.register_consent(withdrawn)

    # --- lineage -----------------------------------------------------------------------------------
    def record_derivation(self, derivation: DerivationSpec) -> str:
        """Register the output datasets and the Process from inputs to outputs. An attested
        anonymization blocks the personal-data tags at its input edges (Atlas's blocked propagated
        classifications), so they stop there while license and consent tags flow on."""
        for source in derivation.inputs:
            self.require(n.ML_DATASET, source)
        for output in derivation.outputs:
            self.register_dataset(output)
        attested = derivation.derivation_type == "anonymize" and derivation.attested
        # Only a step that was attested can have a block to lift: no reads for every other step.
        before = self.client.find_entities(n.ML_DERIVATION, [derivation.qualified_name])
        was_attested = (before.get(derivation.qualified_name, {}).get("attributes") or {}).get("attested") is True
        guid = self.upsert([em.derivation_entity(derivation)], n.ML_DERIVATION,
                                        derivation.qualified_name)
        if attested or was_attested:
            self.record_anonymisation(guid, attested=attested)
        return guid

    def block_personal_data_at_inputs(self, process_guid: str) -> None:
        """An attested anonymisation, once the process's edges exist (catalog apply and the Kafka hook call
        this after writing one): see record_anonymisation."""
        self.record_anonymisation(process_guid, attested=True)

    def lift_personal_data_block(self, process_guid: str) -> None:
        """A step recorded before that is no longer an attested anonymisation (catalog apply calls this for
        an updated derivation): see record_anonymisation."""
        self.record_anonymisation(process_guid, attested=False)

    def record_anonymisation(self, process_guid: str, *, attested: bool) -> None:
        """Attested: stop the personal-data tags at the input edges of this process and record the
        attestation on each dataset it outputs (AnonymisationAttested), so that the anonymised dataset's own
        page says who attested it and which tags stop. Not attested (any other step, or an attestation
        withdrawn): lift a block set earlier and drop that tag, so the personal data reaches the models again
        rather than a withdrawn attestation passing them as clean."""
        process = self.client.get_entity(process_guid)["entity"]
        relations = process.get("relationshipAttributes") or {}
        # The legacy `inputs` attribute names each input (its relationship reference only shows its name).
        input_names = {ref.get("guid"): (ref.get("uniqueAttributes") or {}).get(n.QUALIFIED_NAME)
                       for ref in (process.get("attributes") or {}).get(n.INPUTS) or []}
        sources: list[str] = []
        stopped: set[str] = set()
        for ref in relations.get(n.INPUTS) or []:
            if ref.get("relationshipStatus", "ACTIVE") != "ACTIVE":
                continue
            sources.append(str(input_names.get(ref["guid"]) or ref.get("displayText") or ref["guid"]))
            # A block names each (tag type, source entity) pair arriving over this edge.
            blocked = [{"typeName": c["typeName"], "entityGuid": c.get("entityGuid", ref["guid"])}
                       for c in self.client.get_classifications(ref["guid"])
                       if c["typeName"] in PERSONAL_DATA_TAG_TYPES] if attested else []
            stopped.update(b["typeName"] for b in blocked)
            relationship = self.client.get_relationship(ref["relationshipGuid"])["relationship"]
            if blocked or relationship.get("blockedPropagatedClassifications"):
                self.client.update_relationship(em.blocked_propagation_relationship(relationship, blocked))
        attributes = process.get("attributes") or {}
        tags = anonymisation_tags(str(attributes.get(n.QUALIFIED_NAME)), attributes.get(n.ATTESTATION), sources,
                                  sorted(stopped)) if attested else []
        for ref in relations.get(n.OUTPUTS) or []:
            if ref.get("relationshipStatus", "ACTIVE") == "ACTIVE" and ref.get("typeName") == n.ML_DATASET:
                self.sync_derived_tags(ref["guid"], tags, frozenset({n.ANONYMISATION_ATTESTED}))

    def ensure_dataset(self, qualified_name: str, *, reader: str) -> None:
        """Make sure a dataset some job reads exists. One nobody described becomes a placeholder with
        UnknownLicense (licenseId UNREGISTERED), so the models built on it do not look clean."""
        # Held from the look-up to the tags: a placeholder must neither be made twice nor overwrite the
        # real dataset another process registers meanwhile.
        with self.client.writing([qualified_name]):
            if self.client.find_entity(n.ML_DATASET, qualified_name) is not None:
                return
            log.warning("%s reads %s, which is not registered: recording it with no known license", reader,
                        qualified_name)
            entity = em.placeholder_dataset_entity(qualified_name, naming.display_name(qualified_name), reader)
            guid = self.upsert([entity], n.ML_DATASET, qualified_name)
            self.sync_derived_tags(guid, placeholder_tags(qualified_name), LICENSE_TAG_TYPES)

    def mark_as_output(self, guid: str) -> None:
        """A dataset turned out to be a job's output: its placeholder UnknownLicense goes, since what it
        was made from now tells (its inputs' tags propagate to it). Declared facts stay."""
        for c in self.client.get_classifications(guid):
            if (c["typeName"] == n.UNKNOWN_LICENSE and c.get("entityGuid", guid) == guid
                    and (c.get("attributes") or {}).get(n.LICENSE_ID) == UNREGISTERED):
                self.drop_placeholder_tag(guid)

    def drop_placeholder_tag(self, guid: str) -> None:
        """Remove the entity's own UnknownLicense (the caller saw it is a placeholder's); gone already is fine."""
        try:
            self.client.delete_classification(guid, n.UNKNOWN_LICENSE)
        except AtlasRequestError as exc:
            if not _is(exc, NOT_ASSOCIATED):
                raise

    def record_training_run(self, run: TrainingRunSpec, input_types: dict[str, str] | None = None) -> str:
        """Upsert the run (a Process from its inputs to its models) and the models.

        Inputs may be datasets or models (a base model, a teacher: governance/inputs.py), looked up in one bulk
        request for both types; a model input becomes a model -> run edge, so its tags reach the outputs. An
        input nobody registered becomes an ml_dataset (an ml_model when the run names it in model_inputs) with no
        known license, so the model carries UnknownLicense from it rather than silently looking clean; a run with
        inputs nobody could name, or none at all, carries IncompleteLineage to its models until its inputs are
        recorded. A run with many inputs is written in parts (bulk.py: one POST with 1,000 tagged inputs
        outran the read timeout)."""
        given = dict(input_types or {})
        outputs = [m.qualified_name for m in run.outputs]
        resolved = resolve_inputs(self.client, [qn for qn in run.inputs if qn not in given],
                                  models=set(run.model_inputs), also=outputs)
        # An output some run read as a base model before it was recorded: its origin is known now, so its
        # "no known license" placeholder tag goes once the run is written.
        was_placeholder = [str(e["guid"]) for qn, e in resolved.also.items()
                           if e.get("typeName") == n.ML_MODEL and is_placeholder(e)]
        types = resolved.types | given
        missing = resolved.missing_datasets + resolved.missing_models
        if missing:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            log.warning("training run %s reads %d input(s) nobody registered, recorded with no known license: "
                        "%s", run.run_id, len(missing), shown)
        # A placeholder is written only if its name is still missing under its write lock (bulk.py), so it
        # neither doubles nor overwrites a dataset or model another process registers meanwhile.
        writes = [Write(em.placeholder_input_entity(types[qn], qn, naming.display_name(qn),
                                                    f"training run {run.run_id}"),
                        placeholder_tags(qn), LICENSE_TAG_TYPES, None, only_if_missing=True) for qn in missing]
        with self.client.writing([run.qualified_name]):  # entity and tags as one write
            existing = self.client.find_entities(n.ML_TRAINING_RUN, [run.qualified_name]).get(run.qualified_name)
            writes += self._model_writes(run.outputs)
            writes.append(Write(em.training_run_entity(run, types),
                                incomplete_lineage_tags(run.qualified_name, run.inputs, run.unresolved_inputs),
                                LINEAGE_TAG_TYPES, existing,
                                input_tags={qn: len(e.get("classifications") or [])
                                            for qn, e in resolved.found.items()}))
            guids = BulkWriter(self.client, self).write(writes)
        for guid in was_placeholder:
            self.drop_placeholder_tag(guid)
        return guids[(n.ML_TRAINING_RUN, run.qualified_name)]

    def _model_writes(self, models: list[ModelSpec]) -> list[Write]:
        """A run's models with the tags their own licenses imply (ModelSpec.license, e.g. a base model's Llama
        community license), the licenses written ahead of them. A model whose spec names no license keeps the
        license and tags it has: autolog re-recording a model must not erase a license set in a catalog."""
        licensed = [m.qualified_name for m in models if m.license is not None]
        existing = self.client.find_entities(n.ML_MODEL, licensed) if licensed else {}
        writes = []
        sent: set[str] = set()  # each license once: one request must not carry two bodies of one entity
        for model in models:
            model = model.fingerprinted()
            lic = self.catalog.get(model.license) if model.license is not None else None
            before = [em.license_entity(lic)] if lic is not None and lic.spdx_id not in sent else []
            sent |= {lic.spdx_id} if lic is not None else set()
            writes.append(Write(em.model_entity(model, lic), model_license_tags(model, lic),
                                LICENSE_TAG_TYPES if lic is not None else frozenset(),
                                existing.get(model.qualified_name), before=before))
        return writes

    def sync_lineage_tags(self, process_guid: str, desired: list[Classification], *, created: bool) -> None:
        """IncompleteLineage on a process (a run, a Spark job) exactly while its inputs are not all known;
        from the process it propagates to what the process made. A process created just now has no tags to
        compare with, so nothing is read unless something must be added."""
        if created and not desired:
            return
        if created:
            self._add_tags(process_guid, desired)
            return
        self.sync_derived_tags(process_guid, desired, LINEAGE_TAG_TYPES)

    # --- evaluation --------------------------------------------------------------------------------
    def record_evaluation_run(self, run: EvaluationRunSpec) -> str:
        """Upsert the evaluation (a Process from the model and its evaluation datasets to the certified
        version(s)) and the certified models, then stop all propagation over the evaluation data's edges: the
        certified version inherits the evaluated model's tags, never the evaluation data's (docs/policy.md,
        "Evaluation data"). The model evaluated must be registered; an evaluation dataset nobody registered
        becomes one with no known license (UnknownLicense), which the check weighs for the claims."""
        self.require(n.ML_MODEL, run.model)
        for qn in dict.fromkeys(run.datasets):
            self.ensure_dataset(qn, reader=f"evaluation run {run.run_id}")
        with self.client.writing([run.qualified_name]):
            # The certified versions first, with the tags a license of their own implies (as a run's models).
            BulkWriter(self.client, self).write(self._model_writes(run.outputs))
            guid = self.upsert([ev.evaluation_run_entity(run)], n.ML_EVALUATION_RUN, run.qualified_name)
            self.stop_evaluation_data_propagation(guid)
        return guid

    def stop_evaluation_data_propagation(self, process_guid: str) -> None:
        """Set propagateTags NONE on every evaluation-data input edge of this evaluation run that still
        propagates; the edge from the model evaluated is left as it is. Idempotent."""
        process = self.client.get_entity(process_guid)["entity"]
        for ref in ev.evaluation_data_edges(process):
            relationship = self.client.get_relationship(ref["relationshipGuid"])["relationship"]
            if relationship.get("propagateTags") != ev.NO_PROPAGATION:
                self.client.update_relationship(ev.no_propagation_relationship(relationship))
