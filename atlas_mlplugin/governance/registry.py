"""Registering licenses, datasets and training runs in Atlas, with the tags their facts imply."""

from __future__ import annotations

import logging
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.licenses import LicenseCatalog
from atlas_mlplugin.mapping import entities as em
from atlas_mlplugin.mapping.tags import DERIVED_TAG_TYPES, Classification, derived_tags
from atlas_mlplugin.model import DataLicense, DatasetSpec, TagView, TrainingRunSpec

log = logging.getLogger(__name__)


def _guid_in(response: dict[str, Any], type_name: str, qualified_name: str, placeholder: str | None) -> str | None:
    if placeholder and placeholder in (response.get("guidAssignments") or {}):
        return str(response["guidAssignments"][placeholder])
    for headers in (response.get("mutatedEntities") or {}).values():
        for header in headers:
            attrs = header.get("attributes") or {}
            if header.get("typeName") == type_name and attrs.get("qualifiedName") == qualified_name:
                return str(header["guid"])
    return None


class GovernanceRegistry:
    def __init__(self, client: AtlasClient, catalog: LicenseCatalog | None = None) -> None:
        self.client = client
        self.catalog = catalog or LicenseCatalog.from_csv()

    # --- writes ------------------------------------------------------------------------------------
    def _upsert_and_resolve(self, entities: list[dict[str, Any]], type_name: str, qualified_name: str) -> str:
        linked = em.link_within_batch(entities)
        placeholder = next((e["guid"] for e in linked if e["typeName"] == type_name
                            and e["attributes"].get("qualifiedName") == qualified_name), None)
        response = self.client.upsert_entities(linked)
        guid = _guid_in(response, type_name, qualified_name, placeholder)
        if guid is None:  # unchanged entities are not listed as mutated
            found = self.client.find_entity(type_name, qualified_name)
            if found is None:
                raise LookupError(f"{type_name} {qualified_name!r} missing right after upsert")
            guid = str(found["entity"]["guid"])
        return guid

    def register_license(self, lic: DataLicense) -> str:
        self.catalog.add(lic)
        return self._upsert_and_resolve([em.license_entity(lic)], "ml_data_license", lic.qualified_name)

    def register_dataset(self, ds: DatasetSpec) -> str:
        """Upsert the dataset and its license, then make its derived tags match its facts."""
        lic = self.catalog.get(ds.license) if ds.license else self.catalog.get("NOASSERTION")
        batch = [em.license_entity(lic), em.dataset_entity(ds, lic)]
        guid = self._upsert_and_resolve(batch, "ml_dataset", ds.qualified_name)
        self.sync_derived_tags(guid, derived_tags(ds, lic))
        return guid

    def sync_derived_tags(self, guid: str, desired: list[Classification]) -> None:
        """Add, update or remove this entity's own derived tags; propagated and manual tags stay."""
        current = {
            c["typeName"]: c for c in self.client.get_classifications(guid)
            if c["typeName"] in DERIVED_TAG_TYPES and c.get("entityGuid", guid) == guid
        }
        wanted = {c["typeName"]: c for c in desired}
        to_add = [c for name, c in wanted.items() if name not in current]
        to_update = [c for name, c in wanted.items()
                     if name in current and (current[name].get("attributes") or {}) != c["attributes"]]
        if to_add:
            self.client.add_classifications(guid, to_add)
        if to_update:
            self.client.update_classifications(guid, to_update)
        for name in current.keys() - wanted.keys():
            self.client.delete_classification(guid, name)

    def record_training_run(self, run: TrainingRunSpec, input_types: dict[str, str] | None = None) -> str:
        """Upsert the run (a Process from its input datasets to its models) and the models."""
        batch = [em.model_entity(m) for m in run.outputs]
        batch.append(em.training_run_entity(run, input_types or {}))
        return self._upsert_and_resolve(batch, "ml_training_run", run.qualified_name)

    # --- reads -------------------------------------------------------------------------------------
    def tags_of(self, qualified_name: str, type_name: str = "ml_model") -> list[TagView]:
        """Every classification on the entity, direct or propagated, with the entity it came from."""
        self.client.wait_for_pending_tasks()
        found = self.client.find_entity(type_name, qualified_name)
        if found is None:
            raise LookupError(f"no {type_name} with qualifiedName {qualified_name!r} in Atlas")
        entity = found["entity"]
        guid = entity["guid"]
        classifications = entity.get("classifications") or []
        sources = {c.get("entityGuid", guid) for c in classifications} - {guid}
        headers: dict[str, dict[str, Any]] = {}
        if sources:
            for source in self.client.get_entities(sorted(sources)).get("entities") or []:
                headers[source["guid"]] = source
        views = []
        for c in classifications:
            source_guid = c.get("entityGuid", guid)
            source = headers.get(source_guid, entity if source_guid == guid else {})
            views.append(TagView(
                type_name=c["typeName"],
                direct=source_guid == guid,
                source_guid=source_guid,
                source_qualified_name=(source.get("attributes") or {}).get("qualifiedName"),
                source_type=source.get("typeName"),
                attributes=c.get("attributes") or {},
            ))
        return sorted(views, key=lambda v: (v.type_name, v.source_qualified_name or ""))
