"""Making Atlas match a catalog document: read what is there, then write only the entries that differ.

Entries are applied in dependency order (licenses, consent records, datasets, derivations with their
output datasets, training runs with their models). Each entry is first compared with the entity Atlas holds
(the attributes we would write, built by mapping/entities.py, and for a dataset the tags its facts imply)
and classified created / updated / unchanged; only created or updated ones are written, so a second apply
makes no writes. The writes go in bulk, one kind after the other (governance/bulk.py).

apply never deletes: an entry removed from the file stays in Atlas with its lineage and history. Deleting is
a separate, explicit act outside this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import requests

from atlas_mlplugin import naming
from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.governance.bulk import (
    ENTITIES_PER_REQUEST,
    INPUTS_PER_REQUEST,
    PROPAGATION_BUDGET,
    BulkWriter,
    Key,
    Write,
    count_writes,
)
from atlas_mlplugin.governance.inputs import DATASET_SUPERTYPE
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
    Classification,
    derived_tags,
    incomplete_lineage_tags,
    model_license_tags,
    placeholder_tags,
)
from atlas_mlplugin.model import ConsentRecordSpec, DatasetSpec, EvaluationRunSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.reads.entities import BULK_GUIDS
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

Action = Literal["created", "updated", "unchanged"]
Entity = dict[str, Any]


class CatalogClient(Protocol):
    """What apply needs of AtlasClient: bulk reads, bulk upserts under write locks, and its HTTP session (to
    count the write requests)."""

    @property
    def session(self) -> requests.Session: ...
    def find_entities(self, type_name: str, qualified_names: Iterable[str], /, *, min_ext_info: bool = True,
                      ignore_relationships: bool = True) -> dict[str, dict[str, Any]]: ...
    def get_entities(self, guids: Iterable[str], /, *, min_ext_info: bool = False,
                     ignore_relationships: bool = False) -> dict[str, Any]: ...
    def upsert_entities(self, entities: list[Entity], /) -> dict[str, Any]: ...
    def writing(self, qualified_names: Iterable[str], /) -> AbstractContextManager[None]: ...


class Registry(Protocol):
    """What apply needs of GovernanceRegistry: its client and license catalog, the tag sync, and the writes
    that are more than an upsert (a changed consent record re-derives the tags of the datasets it covers)."""

    @property
    def client(self) -> CatalogClient: ...
    @property
    def catalog(self) -> LicenseCatalog: ...
    def register_consent(self, rec: ConsentRecordSpec, /) -> str: ...
    def sync_known_tags(self, guid: str, classifications: list[Classification], desired: list[Classification],
                        managed: frozenset[str], /) -> None: ...
    def sync_derived_tags(self, guid: str, desired: list[Classification], managed: frozenset[str], /) -> None: ...
    def block_personal_data_at_inputs(self, process_guid: str, /) -> None: ...
    def drop_placeholder_tag(self, guid: str, /) -> None: ...
    def stop_evaluation_data_propagation(self, process_guid: str, /) -> None: ...

    def lift_personal_data_block(self, process_guid: str, /) -> None: ...


@dataclass(frozen=True)
class ApplyEntry:
    kind: str  # license, consent record, dataset, derivation, model, training run
    qualified_name: str
    action: Action
    changes: tuple[str, ...] = ()  # for "updated": the attributes (or facts) that differ
    guid: str | None = None

    def __str__(self) -> str:
        detail = f" ({', '.join(self.changes)})" if self.action == "updated" and self.changes else ""
        return f"{self.action} {self.kind} {self.qualified_name}{detail}"


@dataclass
class ApplyReport:
    entries: list[ApplyEntry] = field(default_factory=list)
    dry_run: bool = False
    # HTTP write requests sent (POST, PUT, DELETE: bulk upserts, tag changes; retries count): 0 in a dry run and
    # when nothing changed.
    writes: int = 0

    def of(self, action: Action) -> list[ApplyEntry]:
        return [e for e in self.entries if e.action == action]

    @property
    def changed(self) -> bool:
        return any(e.action != "unchanged" for e in self.entries)

    def lines(self) -> list[str]:
        out = ["dry run: nothing was written to Atlas"] if self.dry_run else []
        out += [str(e) for e in self.entries if e.action != "unchanged"]
        out.append(", ".join(f"{a}: {len(self.of(a))}" for a in ("created", "updated", "unchanged")))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def apply_catalog(doc: CatalogDocument, registry: Registry, *, dry_run: bool = False,
                  per_request: int = ENTITIES_PER_REQUEST, inputs_per_request: int = INPUTS_PER_REQUEST,
                  propagation_budget: int = PROPAGATION_BUDGET) -> ApplyReport:
    """Make Atlas match `doc`; with dry_run, only report what would change. Never deletes anything.

    The created and updated entities of each kind are written together, `per_request` per bulk POST; a
    process's new input edges go at most `inputs_per_request` (and `propagation_budget`, see governance/bulk.py) per
    request."""
    plan = _plan(doc, registry)
    report = ApplyReport(dry_run=dry_run)
    if dry_run or not plan.changed:
        report.entries = plan.entries
        with count_writes(registry.client.session) as writes:
            report.entries += _accepted_risks(doc, registry, dry_run=dry_run)
        report.writes = writes[0]
        return report
    with count_writes(registry.client.session) as writes:
        guids: dict[Key, str] = {}
        # A changed consent record also re-derives the consent tags of datasets outside this file that it
        # covers: the registry's own write does that (rare: records change seldom).
        writer = BulkWriter(registry.client, registry, per_request=per_request, max_inputs=inputs_per_request,
                            budget=propagation_budget)
        writer.write(plan.before_consents)
        for rec in plan.consents:
            guids[(n.ML_CONSENT_RECORD, rec.qualified_name)] = registry.register_consent(rec)
        guids.update(writer.write(plan.writes))
        accepted = _accepted_risks(doc, registry, dry_run=False)  # after the models they name are written
    report.writes = writes[0]
    report.entries = [_with_guid(e, guids.get(key)) if e.action != "unchanged" else e
                      for e, key in zip(plan.entries, plan.keys, strict=True)] + accepted
    return report


def _accepted_risks(doc: CatalogDocument, registry: Registry, *, dry_run: bool) -> list[ApplyEntry]:
    from atlas_mlplugin.catalog.accepted import apply_accepted_risks

    if not doc.accepted_risks:
        return []
    applied = apply_accepted_risks(doc.accepted_risks, registry.client, dry_run=dry_run,  # type: ignore[arg-type]
                                   pending=frozenset(doc.model_specs()))
    return [ApplyEntry("accepted risk", model, action, changes) for model, action, changes in applied]  # type: ignore[arg-type]


def _with_guid(entry: ApplyEntry, guid: str | None) -> ApplyEntry:
    return ApplyEntry(entry.kind, entry.qualified_name, entry.action, entry.changes, guid or entry.guid)


# --- planning (reads only) ------------------------------------------------------------------------------
# Types whose relationships we compare (a dataset's license and consent records, a process's inputs and
# outputs): read with their relationships. The others are read without: a license's relationships are every
# dataset under it in Atlas, which made a no-op apply grow with the whole server's data.
_WITH_RELATIONSHIPS = frozenset({n.ML_DATASET, n.ML_DERIVATION, n.ML_TRAINING_RUN, n.ML_EVALUATION_RUN, n.ML_MODEL})


class Snapshot:
    """What Atlas holds of the entities a catalog names, read before planning in one bulk request per type
    (split only as the URL limit needs), relationships named by qualifiedName for comparison."""

    def __init__(self, reader: CatalogClient, wanted: dict[str, set[str]],
                 plain: dict[str, set[str]] | None = None) -> None:
        """`plain`: more names read without relationships whatever their type (inputs the file does not
        declare: only whether they exist and their tags matter)."""
        self.found: dict[tuple[str, str], Entity] = {}
        reads = [(t, names, t not in _WITH_RELATIONSHIPS) for t, names in sorted(wanted.items())]
        reads += [(t, names - wanted.get(t, set()), True) for t, names in sorted((plain or {}).items())]
        for type_name, names, ignore_relationships in reads:
            if not names:
                continue
            for qn, entity in reader.find_entities(type_name, sorted(names), min_ext_info=True,
                                                   ignore_relationships=ignore_relationships).items():
                # A soft-deleted entity is history (Atlas leaves it out of a bulk read anyway): upserting
                # brings it back, which counts as creating it.
                if entity.get("status", "ACTIVE") != "DELETED":
                    self.found[(type_name, qn)] = dict(entity)
        self._name_related(reader)

    def get(self, type_name: str, qualified_name: str) -> Entity | None:
        return self.found.get((type_name, qualified_name))

    def _name_related(self, reader: CatalogClient) -> None:
        """Relationship attributes come back as guids only; give them the qualifiedNames we compare by, from
        the entities read already, the references in attributes, or one bulk read of the rest."""
        names: dict[str, str] = {}
        for entity in self.found.values():
            names[str(entity.get("guid"))] = str((entity.get("attributes") or {}).get(n.QUALIFIED_NAME))
            for value in (entity.get("attributes") or {}).values():
                for ref in value if isinstance(value, list) else [value]:
                    if isinstance(ref, dict) and "guid" in ref and (ref.get("uniqueAttributes") or {}).get(
                            n.QUALIFIED_NAME):
                        names[str(ref["guid"])] = str(ref["uniqueAttributes"][n.QUALIFIED_NAME])
        refs = [r for entity in self.found.values()
                for value in (entity.get("relationshipAttributes") or {}).values()
                for r in (value if isinstance(value, list) else [value]) if isinstance(r, dict) and "guid" in r
                and "uniqueAttributes" not in r]
        unknown = sorted({str(r["guid"]) for r in refs} - names.keys())
        for start in range(0, len(unknown), BULK_GUIDS):
            chunk = unknown[start:start + BULK_GUIDS]
            for e in reader.get_entities(chunk, min_ext_info=True, ignore_relationships=True).get("entities") or []:
                names[str(e["guid"])] = str((e.get("attributes") or {}).get(n.QUALIFIED_NAME))
        for ref in refs:
            if str(ref["guid"]) in names:
                ref["uniqueAttributes"] = {n.QUALIFIED_NAME: names[str(ref["guid"])]}


def _wanted(doc: CatalogDocument, catalog: LicenseCatalog) -> dict[str, set[str]]:
    """Every (type, qualifiedName) planning compares, plus the licenses and consent records datasets refer
    to, so their guids are known without reading them again."""
    wanted: dict[str, set[str]] = {}

    def add(type_name: str, qualified_name: str) -> None:
        wanted.setdefault(type_name, set()).add(qualified_name)

    for lic in doc.licenses:
        add(n.ML_DATA_LICENSE, lic.qualified_name)
    for rec in doc.consent_records:
        add(n.ML_CONSENT_RECORD, rec.qualified_name)
    for _, ds in doc.all_datasets():
        add(n.ML_DATASET, ds.qualified_name)
        add(n.ML_DATA_LICENSE, catalog.get(ds.license or "NOASSERTION").qualified_name)
        for qn in ds.consent_records:
            add(n.ML_CONSENT_RECORD, qn)
    for d in doc.derivations:
        add(n.ML_DERIVATION, em.derivation_entity(d)["attributes"][n.QUALIFIED_NAME])
    for run in doc.resolved_training_runs():
        add(n.ML_TRAINING_RUN, run.qualified_name)
        for m in run.outputs:
            add(n.ML_MODEL, m.qualified_name)
            if m.license is not None:
                add(n.ML_DATA_LICENSE, catalog.get(m.license).qualified_name)
    for m in doc.models:  # base models too, which no run of the file produces
        add(n.ML_MODEL, m.qualified_name)
        if m.license is not None:
            add(n.ML_DATA_LICENSE, catalog.get(m.license).qualified_name)
    for e in doc.resolved_evaluations():
        add(n.ML_EVALUATION_RUN, e.qualified_name)
        for m in e.outputs:
            add(n.ML_MODEL, m.qualified_name)
            if m.license is not None:
                add(n.ML_DATA_LICENSE, catalog.get(m.license).qualified_name)
    return wanted


@dataclass
class _Plan:
    """The report's entries (in file order, each with the entity it is about) and the writes that make them
    so, in dependency order."""

    entries: list[ApplyEntry] = field(default_factory=list)
    keys: list[Key] = field(default_factory=list)
    before_consents: list[Write] = field(default_factory=list)  # licenses, new consent records
    consents: list[ConsentRecordSpec] = field(default_factory=list)  # changed consent records (the registry's)
    writes: list[Write] = field(default_factory=list)  # datasets, derivations, training runs

    def add(self, entry: ApplyEntry, key: Key) -> bool:
        """Record the entry; True when it needs writing."""
        self.entries.append(entry)
        self.keys.append(key)
        return entry.action != "unchanged"

    @property
    def changed(self) -> bool:
        return any(e.action != "unchanged" for e in self.entries)


def _key(entity: Entity) -> Key:
    return entity["typeName"], entity["attributes"][n.QUALIFIED_NAME]


def _plan(doc: CatalogDocument, registry: Registry) -> _Plan:
    for lic in doc.licenses:
        # Dataset licenses resolve through the registry's catalog, also when this license is unchanged; and
        # the datasets' tags below must be derived from the terms in the file.
        registry.catalog.add(lic)
    derivations = [d.model_copy(update={"outputs": [o.fingerprinted() for o in d.outputs]})
                   for d in doc.derivations_in_order()]
    runs = [r.model_copy(update={"outputs": [m.fingerprinted() for m in r.outputs]})
            for r in doc.resolved_training_runs()]
    evaluations = [e.model_copy(update={"outputs": [m.fingerprinted() for m in e.outputs]})
                   for e in _certified_first(doc.resolved_evaluations())]
    declared = {ds.qualified_name for _, ds in doc.all_datasets()}
    file_models = {m.qualified_name: m for _, m in doc.all_models()}
    undeclared = ({qn for p in [*derivations, *runs] for qn in p.inputs}
                  | {qn for e in evaluations for qn in e.datasets}) - declared - file_models.keys()
    produced = {m.qualified_name for p in [*runs, *evaluations] for m in p.outputs}
    # Inputs of runs the file does not declare may be datasets or models already in Atlas (a base model): read
    # by their common supertype, both at once (governance/inputs.py).
    external_run_inputs = {qn for r in runs for qn in r.inputs} & undeclared
    snapshot = Snapshot(registry.client, _wanted(doc, registry.catalog),
                        {n.ML_DATASET: undeclared - external_run_inputs, DATASET_SUPERTYPE: external_run_inputs})
    plan = _Plan()
    consents = {rec.qualified_name: rec for rec in doc.consent_records}

    licenses: list[Write] = []
    for lic in doc.licenses:
        entity = em.license_entity(lic)
        if plan.add(_entry(snapshot, "license", entity), _key(entity)):
            licenses.append(Write(entity, [], frozenset(), snapshot.get(*_key(entity))))
    for rec in doc.consent_records:
        entity = em.consent_entity(rec)
        existing = snapshot.get(*_key(entity))
        if plan.add(_entry(snapshot, "consent record", entity), _key(entity)):
            if existing is None:
                plan.before_consents.append(Write(entity, [], frozenset(), None))
            else:
                plan.consents.append(rec)

    datasets: list[Write] = []
    own_tags: dict[str, int] = {}  # qualifiedName -> derived tags, for datasets the file declares

    def dataset(ds: DatasetSpec) -> None:
        entry, write = _dataset_entry(snapshot, registry.catalog, ds, consents)
        own_tags[ds.qualified_name] = len(write.tags)
        if plan.add(entry, write.key):
            datasets.append(write)

    for ds in doc.datasets:
        dataset(ds.fingerprinted())
    processes: list[Write] = []
    placeholders: dict[str, Write] = {}
    for d in derivations:
        entity = em.derivation_entity(d)
        if plan.add(_entry(snapshot, "derivation", entity), _key(entity)):
            existing = snapshot.get(*_key(entity))
            # An attestation withdrawn in the file lifts the block set when it was attested (else a false PASS).
            after = (registry.block_personal_data_at_inputs if d.derivation_type == "anonymize" and d.attested
                     else registry.lift_personal_data_block
                     if existing is not None and (existing.get("attributes") or {}).get("attested") is True else None)
            processes.append(Write(entity, [], frozenset(), existing, after=after,
                                   input_tags=_input_tags(d.inputs, snapshot, own_tags),
                                   requires=[(n.ML_DATASET, qn) for qn in d.inputs
                                             if qn in undeclared and snapshot.get(n.ML_DATASET, qn) is None]))
        for output in d.outputs:  # written with the other datasets, before any process
            dataset(output)
    # Licenses the datasets written name but neither the file nor Atlas has (built-in ones): created first.
    known = {w.key for w in licenses} | {k for k in snapshot.found if k[0] == n.ML_DATA_LICENSE}
    model_licenses = [m.license for p in [*runs, *evaluations] for m in p.outputs if m.license is not None]
    for spdx_id in dict.fromkeys([w.entity["attributes"]["declaredLicense"] for w in datasets] + model_licenses):
        entity = em.license_entity(registry.catalog.get(spdx_id))
        if _key(entity) not in known:
            known.add(_key(entity))
            licenses.append(Write(entity, [], frozenset(), None))
    plan.before_consents[:0] = licenses

    # Base models the file declares that no run of it produces: written with the datasets, before the runs.
    base_models: list[Write] = []
    for m in doc.models:
        if m.qualified_name not in produced:
            entry, write = _model_entry(snapshot, registry, m.fingerprinted())
            if plan.add(entry, write.key):
                base_models.append(write)

    def input_type(qn: str, run: TrainingRunSpec) -> str:
        if qn in declared:
            return n.ML_DATASET
        if qn in file_models:
            return n.ML_MODEL
        found = external(qn)
        if found is None:  # recorded as a placeholder: a model when the run says it is one
            return n.ML_MODEL if qn in run.model_inputs else n.ML_DATASET
        return str(found.get("typeName") or n.ML_DATASET)

    def external(qn: str) -> Entity | None:
        return snapshot.get(DATASET_SUPERTYPE, qn) or snapshot.get(n.ML_DATASET, qn)

    for run in runs:
        types = {qn: input_type(qn, run) for qn in run.inputs}
        entity = em.training_run_entity(run, types)
        models = [_model_entry(snapshot, registry, m) for m in run.outputs]
        needed = plan.add(_entry(snapshot, "training run", entity), _key(entity))
        needed = any([plan.add(entry, write.key) for entry, write in models]) or needed
        if not needed:
            continue
        for qn in run.inputs:
            # An input nobody registered becomes a dataset with no known license (UnknownLicense), so the
            # model does not look clean; as the registry's record_training_run does.
            if qn in undeclared and external(qn) is None and qn not in placeholders:
                placeholders[qn] = Write(em.placeholder_input_entity(types[qn], qn, naming.display_name(qn),
                                                                     f"training run {run.run_id}"),
                                         placeholder_tags(qn), LICENSE_TAG_TYPES, None, only_if_missing=True)
        processes += [write for _, write in models]  # with their own license tags, ahead of the run
        processes.append(Write(entity, incomplete_lineage_tags(run.qualified_name, run.inputs, run.unresolved_inputs),
                               LINEAGE_TAG_TYPES, snapshot.get(*_key(entity)),
                               input_tags=_input_tags(run.inputs, snapshot, own_tags, external)))
    for e in evaluations:
        entity = ev.evaluation_run_entity(e)
        models = [_model_entry(snapshot, registry, m) for m in e.outputs]
        needed = plan.add(_entry(snapshot, "evaluation", entity), _key(entity))
        needed = any([plan.add(entry, write.key) for entry, write in models]) or needed
        if not needed:
            continue
        for qn in e.datasets:  # an evaluation dataset nobody registered: no known license, as for training
            if qn in undeclared and snapshot.get(n.ML_DATASET, qn) is None and qn not in placeholders:
                placeholders[qn] = Write(em.placeholder_dataset_entity(qn, naming.display_name(qn),
                                                                       f"evaluation {e.run_id}"),
                                         placeholder_tags(qn), LICENSE_TAG_TYPES, None, only_if_missing=True)
        # The evaluation data's edges propagate nothing (mapping/evaluation.py); set once the run is written.
        processes += [write for _, write in models]  # with their own license tags, ahead of the run
        processes.append(Write(entity, [], frozenset(), snapshot.get(*_key(entity)),
                               after=registry.stop_evaluation_data_propagation,
                               requires=[(n.ML_MODEL, e.model)] if e.model not in produced else []))
    if placeholders:
        shown = ", ".join(list(placeholders)[:3]) + (", ..." if len(placeholders) > 3 else "")
        log.warning("training runs read %d dataset(s) nobody registered, recorded with no known license "
                    "(UnknownLicense): %s", len(placeholders), shown)
    plan.writes = datasets + base_models + list(placeholders.values()) + processes
    return plan


def _placeholder_change(actual: Entity) -> list[str]:
    return ["placeholder"] if is_placeholder(actual) else []


def _certified_first(evaluations: list[EvaluationRunSpec]) -> list[EvaluationRunSpec]:
    """File order, except that an evaluation of a version another evaluation certifies comes after it (its
    model must exist when it is written)."""
    producer = {m.qualified_name: i for i, e in enumerate(evaluations) for m in e.outputs}
    ordered: list[int] = []
    placed: set[int] = set()
    while len(placed) < len(evaluations):
        ready = [i for i in range(len(evaluations)) if i not in placed
                 and producer.get(evaluations[i].model, i) in placed | {i}]
        ready = ready or [min(set(range(len(evaluations))) - placed)]  # a cycle: file order
        ordered += ready
        placed |= set(ready)
    return [evaluations[i] for i in ordered]


def _input_tags(inputs: list[str], snapshot: Snapshot, own_tags: dict[str, int],
                external: Callable[[str], Entity | None] | None = None) -> dict[str, int]:
    """The tags each input would propagate to a process: what Atlas holds on it (own and propagated), else
    (about to be created) its derived tags."""
    out = {}
    for qn in inputs:
        found = snapshot.get(n.ML_DATASET, qn) or snapshot.get(n.ML_MODEL, qn) or (external(qn) if external else None)
        out[qn] = len(found.get("classifications") or []) if found is not None else own_tags.get(qn, 1)
    return out


def _entry(snapshot: Snapshot, kind: str, desired: Entity, extra: Callable[[Entity], list[str]] | None = None
           ) -> ApplyEntry:
    qualified_name = desired["attributes"]["qualifiedName"]
    actual = snapshot.get(desired["typeName"], qualified_name)
    if actual is None:
        return ApplyEntry(kind, qualified_name, "created")
    changes = differences(desired, actual) + (extra(actual) if extra else [])
    return ApplyEntry(kind, qualified_name, "updated" if changes else "unchanged", tuple(changes),
                      actual.get("guid"))


def _dataset_entry(snapshot: Snapshot, catalog: LicenseCatalog, ds: DatasetSpec,
                   consents: dict[str, ConsentRecordSpec]) -> tuple[ApplyEntry, Write]:
    """Attributes as for any entry, plus the dataset's own derived tags: they follow from the license's terms
    and the consent records too, so a change there shows here even when the dataset's attributes match."""
    lic = catalog.get(ds.license or "NOASSERTION")
    records = []
    for qn in ds.consent_records:
        found = snapshot.get(n.ML_CONSENT_RECORD, qn)
        if qn in consents:
            records.append(consents[qn])
        elif found is not None:  # an allowed external reference: the record as Atlas holds it
            records.append(em.consent_from_entity(found))
    # A consent record neither in the file nor in Atlas: its tags cannot be derived (writing fails and says so).
    kinds = DERIVED_TAG_TYPES if len(records) == len(ds.consent_records) else DERIVED_TAG_TYPES - CONSENT_TAG_TYPES
    desired = [t for t in derived_tags(ds, lic, records) if t["typeName"] in kinds]
    entity = em.dataset_entity(ds, lic)
    entry = _entry(snapshot, "dataset", entity,
                   lambda actual: ["tags"] if _own_tags(actual, kinds) != _by_type(desired) else [])
    missing = [(n.ML_CONSENT_RECORD, qn) for qn in ds.consent_records
               if qn not in consents and snapshot.get(n.ML_CONSENT_RECORD, qn) is None]
    return entry, Write(entity, desired, kinds, snapshot.get(*_key(entity)), requires=missing)


def _model_entry(snapshot: Snapshot, registry: Registry, model: ModelSpec) -> tuple[ApplyEntry, Write]:
    """A model's entry: attributes as for any entry, plus the tags its own license implies (none and left alone
    when its spec names no license). A model some run read before anyone described it was a placeholder:
    described now, its "no known license" goes (replaced by its license's tags, or dropped once written)."""
    lic = registry.catalog.get(model.license) if model.license is not None else None
    kinds = LICENSE_TAG_TYPES if model.license is not None else frozenset()
    desired = model_license_tags(model, lic)
    entity = em.model_entity(model, lic)
    existing = snapshot.get(*_key(entity))

    def changes(actual: Entity) -> list[str]:
        tags = ["tags"] if _own_tags(actual, kinds) != _by_type(desired) else []
        return tags or ([] if kinds else _placeholder_change(actual))

    drop = existing is not None and not kinds and is_placeholder(existing)
    return _entry(snapshot, "model", entity, changes), Write(entity, desired, kinds, existing,
                                                             after=registry.drop_placeholder_tag if drop else None)


def _own_tags(actual: Entity, kinds: frozenset[str]) -> dict[str, dict[str, Any]]:
    """The entity's own tags of these kinds; propagated ones (entityGuid of another entity) excluded."""
    guid = actual.get("guid")
    return _by_type([c for c in actual.get("classifications") or []
                     if c.get("typeName") in kinds and c.get("entityGuid", guid) == guid])


def _by_type(tags: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    # Atlas may list unset classification attributes as null; we never send them.
    return {t["typeName"]: {k: v for k, v in (t.get("attributes") or {}).items() if v is not None} for t in tags}


# --- comparison -----------------------------------------------------------------------------------------
def differences(desired: Entity, actual: Entity) -> list[str]:
    """Names of the attributes (and relationship attributes) of `desired` whose value Atlas does not hold.

    Only what we would write is compared: attributes we leave out (unset in the file) are not ours to
    reset, so their values in Atlas do not count as a difference.
    """
    changes = []
    for section in ("attributes", "relationshipAttributes"):
        have = actual.get(section) or {}
        changes += [name for name, value in (desired.get(section) or {}).items() if not _same(value, have.get(name))]
    return changes


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and "typeName" in value and ("uniqueAttributes" in value or "guid" in value)


def _ref_names(value: Any) -> list[str]:
    refs = value if isinstance(value, list) else [value] if value else []
    # Atlas lists relationships it has soft-deleted too; they are no longer part of the entity.
    return sorted(str((r.get("uniqueAttributes") or {}).get("qualifiedName")) for r in refs
                  if _is_ref(r) and r.get("relationshipStatus", "ACTIVE") != "DELETED"
                  and r.get("entityStatus", "ACTIVE") != "DELETED")


def _same(want: Any, have: Any) -> bool:
    if _is_ref(want) or (isinstance(want, list) and want and all(_is_ref(w) for w in want)):
        # References are compared by qualifiedName: Atlas returns guids and may order them differently.
        return _ref_names(want) == _ref_names(have)
    return bool(want == have)
