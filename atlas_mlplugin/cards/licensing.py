"""What a model card's license section states, read from Atlas: the release's own license, every dataset and
model upstream of it with its license, and the use restrictions their licenses require to be passed on.
`policy/render.py` turns it, with the release check's report, into the card's Markdown section."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from atlas_mlplugin import naming
from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.licenses.catalog import LicenseCatalog, UnknownLicenseError
from atlas_mlplugin.mapping.names import ML_EVALUATION_RUN, ML_MODEL, NAME, QUALIFIED_NAME
from atlas_mlplugin.reads import entities_by_guid, upstream_tags

LICENSE_ATTRIBUTE = "declaredLicense"  # on ml_dataset, and on ml_model since models carry their own license


class UpstreamWork(BaseModel):
    """A dataset or model the release was made from."""

    qualified_name: str
    name: str | None = None
    kind: Literal["dataset", "model"]
    license: str | None = Field(default=None, description="catalog id; None when Atlas records none")
    direct: bool = Field(default=False, description="read by the run that produced the release itself")
    role: Literal["training", "evaluation"] = Field(default="training", description="evaluation: read by an "
                                                    "evaluation run (a benchmark, or the model a certified "
                                                    "version was evaluated as), not trained on")

    @property
    def hf_repo_id(self) -> str | None:
        """Its Hub repo id when it is a Hub repository (hf://...), for the card's `datasets` / `base_model`."""
        prefix = naming.HF_DATASET_PREFIX if self.kind == "dataset" else naming.HF_MODEL_PREFIX
        if not self.qualified_name.startswith(prefix):
            return None
        if self.kind == "model" and self.qualified_name.startswith(naming.HF_DATASET_PREFIX):
            return None
        return self.qualified_name.removeprefix(prefix)


class UseRestriction(BaseModel):
    license: str
    text: str
    policy_url: str | None = None


class ReleaseLicensing(BaseModel):
    model: str
    license: str | None = None
    upstream: list[UpstreamWork] = Field(default_factory=list)
    use_restrictions: list[UseRestriction] = Field(default_factory=list)

    def direct(self, kind: Literal["dataset", "model"]) -> list[UpstreamWork]:
        """What the card's `datasets` / `base_model` name: read by the run that made the release, to train."""
        return [w for w in self.upstream if w.kind == kind and w.direct and w.role == "training"]


def use_restrictions(license_ids: list[str], catalog: LicenseCatalog) -> list[UseRestriction]:
    """The use restrictions (RAIL attachments, acceptable-use policies) of these licenses, one per license."""
    out: list[UseRestriction] = []
    for license_id in dict.fromkeys(license_ids):
        try:
            lic = catalog.get(license_id)
        except UnknownLicenseError:
            continue
        out += [UseRestriction(license=lic.spdx_id, text=text, policy_url=lic.use_policy_url)
                for text in lic.use_restrictions]
    return out


def release_licensing(client: AtlasClient, model: str, catalog: LicenseCatalog) -> ReleaseLicensing:
    """Read the model's upstream datasets and models (one lineage call, one bulk read) and their licenses."""
    tagged = upstream_tags(client, model, ML_MODEL)
    graph = tagged.graph
    paths = graph.paths_from(graph.root, upstream=True)
    upstream = graph.upstream_datasets()
    full = entities_by_guid(client, [graph.root, *upstream])
    works = []
    for guid in upstream:
        entity = full.get(guid) or graph.nodes.get(guid, {})
        attributes = entity.get("attributes") or {}
        path = paths.get(guid, [])
        # The process the work went into on its way to the release: an evaluation reads, it does not train.
        into = graph.nodes.get(path[1], {}).get("typeName") if len(path) > 1 else None
        works.append(UpstreamWork(
            qualified_name=str(attributes.get(QUALIFIED_NAME) or guid), name=attributes.get(NAME),
            kind="model" if entity.get("typeName") == ML_MODEL else "dataset",
            license=attributes.get(LICENSE_ATTRIBUTE), direct=len(path) == 3,
            role="evaluation" if into == ML_EVALUATION_RUN else "training"))
    works.sort(key=lambda w: (w.role, not w.direct, w.kind, w.qualified_name))
    own = ((full.get(graph.root) or tagged.entity).get("attributes") or {}).get(LICENSE_ATTRIBUTE)
    licenses = [x for x in [own, *(w.license for w in works)] if x]
    return ReleaseLicensing(model=model, license=own, upstream=works, use_restrictions=use_restrictions(licenses,
                                                                                                       catalog))
