"""Making Atlas match a catalog document: read what is there, then write only the entries that differ.

Entries are applied in dependency order (licenses, consent records, datasets, derivations with their
output datasets, training runs with their models). Each entry is first compared with the entity Atlas holds
(the attributes we would write, built by mapping/entities.py, and for a dataset the tags its facts imply)
and classified created / updated / unchanged; the registry is called only for created or updated ones, so
a second apply makes no writes.

apply never deletes: an entry removed from the file stays in Atlas with its lineage and history. Deleting is
a separate, explicit act outside this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.tags import CONSENT_TAG_TYPES, DERIVED_TAG_TYPES, derived_tags
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, TrainingRunSpec
from atlas_mlplugin.reads.entities import BULK_GUIDS

Action = Literal["created", "updated", "unchanged"]
Entity = dict[str, Any]


class EntityReader(Protocol):
    def find_entities(self, type_name: str, qualified_names: Iterable[str], /, *, min_ext_info: bool = True,
                      ignore_relationships: bool = True) -> dict[str, dict[str, Any]]: ...
    def get_entities(self, guids: Iterable[str], /, *, min_ext_info: bool = False,
                     ignore_relationships: bool = False) -> dict[str, Any]: ...


class Registry(Protocol):
    """What apply needs of GovernanceRegistry: upserts by qualifiedName returning the guid, and reads."""

    @property
    def client(self) -> EntityReader: ...
    @property
    def catalog(self) -> LicenseCatalog: ...
    def register_license(self, lic: DataLicense, /) -> str: ...
    def register_consent(self, rec: ConsentRecordSpec, /) -> str: ...
    def register_dataset(self, ds: DatasetSpec, /) -> str: ...
    def record_derivation(self, d: DerivationSpec, /) -> str: ...
    def record_training_run(self, run: TrainingRunSpec, /) -> str: ...


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
    writes: int = 0  # registry calls made (0 in a dry run, and when nothing changed)

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


@dataclass
class _Step:
    """One registry call and the entries it writes; the first entry is the one whose guid it returns."""

    entries: list[ApplyEntry]
    write: Callable[[], str]

    @property
    def needed(self) -> bool:
        return any(e.action != "unchanged" for e in self.entries)


def apply_catalog(doc: CatalogDocument, registry: Registry, *, dry_run: bool = False) -> ApplyReport:
    """Make Atlas match `doc`; with dry_run, only report what would change. Never deletes anything."""
    steps = _plan(doc, registry)
    report = ApplyReport(dry_run=dry_run)
    for step in steps:
        entries = step.entries
        if step.needed and not dry_run:
            guid = step.write()
            report.writes += 1
            entries = [_with_guid(entries[0], guid), *entries[1:]]
        report.entries += entries
    return report


def _with_guid(entry: ApplyEntry, guid: str) -> ApplyEntry:
    return ApplyEntry(entry.kind, entry.qualified_name, entry.action, entry.changes, guid)


# --- planning (reads only) ------------------------------------------------------------------------------
# Types whose relationships we compare (a dataset's license and consent records, a process's inputs and
# outputs): read with their relationships. The others are read without: a license's relationships are every
# dataset under it in Atlas, which made a no-op apply grow with the whole server's data.
_WITH_RELATIONSHIPS = frozenset({n.ML_DATASET, n.ML_DERIVATION, n.ML_TRAINING_RUN})


class Snapshot:
    """What Atlas holds of the entities a catalog names, read before planning in one bulk request per type
    (split only as the URL limit needs), relationships named by qualifiedName for comparison."""

    def __init__(self, reader: EntityReader, wanted: dict[str, set[str]]) -> None:
        self.found: dict[tuple[str, str], Entity] = {}
        for type_name, names in sorted(wanted.items()):
            for qn, entity in reader.find_entities(
                    type_name, sorted(names), min_ext_info=True,
                    ignore_relationships=type_name not in _WITH_RELATIONSHIPS).items():
                # A soft-deleted entity is history (Atlas leaves it out of a bulk read anyway): upserting
                # brings it back, which counts as creating it.
                if entity.get("status", "ACTIVE") != "DELETED":
                    self.found[(type_name, qn)] = dict(entity)
        self._name_related(reader)

    def get(self, type_name: str, qualified_name: str) -> Entity | None:
        return self.found.get((type_name, qualified_name))

    def _name_related(self, reader: EntityReader) -> None:
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
    return wanted


def _plan(doc: CatalogDocument, registry: Registry) -> list[_Step]:
    for lic in doc.licenses:
        # The registry resolves dataset licenses through its catalog, also when this license is unchanged;
        # and the datasets' tags below must be derived from the terms in the file.
        registry.catalog.add(lic)
    snapshot = Snapshot(registry.client, _wanted(doc, registry.catalog))
    steps: list[_Step] = []
    consents = {rec.qualified_name: rec for rec in doc.consent_records}
    for lic in doc.licenses:
        entry = _entry(snapshot, "license", em.license_entity(lic))
        steps.append(_Step([entry], partial(registry.register_license, lic)))
    for rec in doc.consent_records:
        entry = _entry(snapshot, "consent record", em.consent_entity(rec))
        steps.append(_Step([entry], partial(registry.register_consent, rec)))
    for ds in (d.fingerprinted() for d in doc.datasets):
        entry = _dataset_entry(snapshot, registry.catalog, ds, consents)
        steps.append(_Step([entry], partial(registry.register_dataset, ds)))
    for derivation in doc.derivations_in_order():
        d = derivation.model_copy(update={"outputs": [o.fingerprinted() for o in derivation.outputs]})
        entries = [_entry(snapshot, "derivation", em.derivation_entity(d))]
        entries += [_dataset_entry(snapshot, registry.catalog, out, consents) for out in d.outputs]
        steps.append(_Step(entries, partial(registry.record_derivation, d)))
    for spec in doc.resolved_training_runs():
        run = spec.model_copy(update={"outputs": [m.fingerprinted() for m in spec.outputs]})
        entries = [_entry(snapshot, "training run", em.training_run_entity(run, {}))]
        entries += [_entry(snapshot, "model", em.model_entity(m)) for m in run.outputs]
        steps.append(_Step(entries, partial(registry.record_training_run, run)))
    return steps


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
                   consents: dict[str, ConsentRecordSpec]) -> ApplyEntry:
    """Attributes as for any entry, plus the dataset's own derived tags: they follow from the license's terms
    and the consent records too, so a change there shows here even when the dataset's attributes match."""
    lic = catalog.get(ds.license or "NOASSERTION")
    records = [consents[qn] for qn in ds.consent_records if qn in consents]
    # Consent records that live only in Atlas (allowed external references) are not known here.
    kinds = DERIVED_TAG_TYPES if len(records) == len(ds.consent_records) else DERIVED_TAG_TYPES - CONSENT_TAG_TYPES
    desired = [t for t in derived_tags(ds, lic, records) if t["typeName"] in kinds]
    return _entry(snapshot, "dataset", em.dataset_entity(ds, lic),
                  lambda actual: ["tags"] if _own_tags(actual, kinds) != _by_type(desired) else [])


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
