"""Reading what a check or an impact analysis needs from Atlas, in a bounded number of REST calls.

A model's classifications already include every propagated copy, each naming its source entity
(`entityGuid`), and one lineage call returns the whole upstream graph with entity headers. So a check costs
the same few calls whether 3 or 3,000 datasets feed the model; only sources missing from the lineage graph
(e.g. outside the depth) are fetched, in bulk.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.governance.registry import require_entity
from atlas_mlplugin.policy.model import Evidence, UpstreamTag

LINEAGE_DEPTH = 64
BULK_GUIDS = 100  # guids per bulk read: keeps the URL well inside Jetty's header limit


@contextmanager
def count_requests(client: AtlasClient) -> Iterator[list[int]]:
    """Count the HTTP requests the client's session sends inside the block (retries included)."""
    counter = [0]

    def hook(response: Any, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return response

    hooks = client.session.hooks.setdefault("response", [])
    hooks.append(hook)
    try:
        yield counter
    finally:
        hooks.remove(hook)


def _qualified_name(header: dict[str, Any]) -> str | None:
    return (header.get("attributes") or {}).get("qualifiedName")


def _paths_to(root: str, edges: list[tuple[str, str]], *, upstream: bool) -> dict[str, list[str]]:
    """Shortest path between root and every node reachable from it, as guids in data-flow order."""
    neighbours: dict[str, list[str]] = {}
    for frm, to in edges:
        if upstream:
            neighbours.setdefault(to, []).append(frm)
        else:
            neighbours.setdefault(frm, []).append(to)
    paths = {root: [root]}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for nxt in sorted(neighbours.get(node, [])):
            if nxt not in paths:
                paths[nxt] = [nxt, *paths[node]] if upstream else [*paths[node], nxt]
                queue.append(nxt)
    return paths


def _entities(client: AtlasClient, guids: list[str], *, relationships: bool = False) -> dict[str, dict[str, Any]]:
    """Entities by guid, read in bulk (in chunks that keep the URL inside Jetty's limit)."""
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(guids), BULK_GUIDS):
        chunk = guids[start:start + BULK_GUIDS]
        for entity in client.get_entities(chunk, ignore_relationships=not relationships).get("entities") or []:
            out[entity["guid"]] = entity
    return out


def collect_evidence(client: AtlasClient, model_qualified_name: str, *, model_type: str = "ml_model") -> Evidence:
    """The model's classifications, each with its source entity and the lineage path from it."""
    with count_requests(client) as calls:
        client.wait_for_pending_tasks()  # propagation must have settled before tags are read
        model = require_entity(client, model_type, model_qualified_name)
        guid = model["guid"]
        lineage = client.lineage(guid, direction="INPUT", depth=LINEAGE_DEPTH)
        nodes: dict[str, dict[str, Any]] = dict(lineage.get("guidEntityMap") or {})
        edges = [(r["fromEntityId"], r["toEntityId"]) for r in lineage.get("relations") or []]
        paths = _paths_to(guid, edges, upstream=True)

        classifications = model.get("classifications") or []
        sources = {c.get("entityGuid", guid) for c in classifications}
        missing = sorted(s for s in sources if s not in nodes and s != guid)
        nodes.update(_entities(client, missing))
        nodes.setdefault(guid, model)

        tags = []
        for c in classifications:
            source = c.get("entityGuid", guid)
            header = nodes.get(source, {})
            path = paths.get(source, [source, guid] if source != guid else [guid])
            tags.append(UpstreamTag(
                type_name=c["typeName"], attributes=c.get("attributes") or {}, direct=source == guid,
                source_guid=source, source_qualified_name=_qualified_name(header),
                source_name=(header.get("attributes") or {}).get("name") or header.get("displayText"),
                source_type=header.get("typeName"), source_status=header.get("status"),
                path=tuple(_qualified_name(nodes.get(g, {})) or g for g in path),
            ))
    return Evidence(model_guid=guid, model_qualified_name=model_qualified_name,
                    model_name=(model.get("attributes") or {}).get("name"), tags=tags, rest_calls=calls[0])


# --- impact ------------------------------------------------------------------------------------------
ImpactKind = Literal["dataset", "process", "model", "release"]


class ImpactedEntity(BaseModel):
    kind: ImpactKind
    type_name: str
    qualified_name: str | None
    guid: str
    status: str | None = None
    path: list[str] = Field(default_factory=list, description="qualifiedNames from the dataset to this entity")


class ImpactReport(BaseModel):
    source: str
    source_guid: str
    affected: list[ImpactedEntity] = Field(default_factory=list)
    rest_calls: int = 0

    def of(self, kind: ImpactKind) -> list[ImpactedEntity]:
        return [a for a in self.affected if a.kind == kind]


def impact(client: AtlasClient, dataset_qualified_name: str, *, type_name: str = "ml_dataset") -> ImpactReport:
    """Everything downstream of a dataset: derived datasets, processes, models and their releases."""
    with count_requests(client) as calls:
        source = require_entity(client, type_name, dataset_qualified_name)
        guid = source["guid"]
        lineage = client.lineage(guid, direction="OUTPUT", depth=LINEAGE_DEPTH)
        nodes: dict[str, dict[str, Any]] = dict(lineage.get("guidEntityMap") or {})
        edges = [(r["fromEntityId"], r["toEntityId"]) for r in lineage.get("relations") or []]
        paths = _paths_to(guid, edges, upstream=False)

        def names(path: list[str]) -> list[str]:
            return [_qualified_name(nodes.get(g, {})) or g for g in path]

        affected: list[ImpactedEntity] = []
        models = []
        for node_guid, path in sorted(paths.items(), key=lambda item: (len(item[1]), item[0])):
            if node_guid == guid:
                continue
            header = nodes.get(node_guid, {})
            type_ = str(header.get("typeName"))
            # Lineage alternates DataSet -> Process -> DataSet, so an odd number of hops is a process.
            kind: ImpactKind = ("model" if type_ == "ml_model" else "process" if len(path) % 2 == 0 else "dataset")
            if kind == "model":
                models.append(node_guid)
            affected.append(ImpactedEntity(kind=kind, type_name=type_, qualified_name=_qualified_name(header),
                                           guid=node_guid, status=header.get("status"), path=names(path)))
        # Releases hang off models by a relationship that does not carry lineage: read them in bulk.
        full = _entities(client, models, relationships=True)
        for model_guid in models:
            for ref in (full.get(model_guid, {}).get("relationshipAttributes") or {}).get("releases") or []:
                if ref.get("relationshipStatus", "ACTIVE") != "ACTIVE":
                    continue
                affected.append(ImpactedEntity(
                    kind="release", type_name=ref.get("typeName", "ml_release"), qualified_name=ref.get("displayText"),
                    guid=ref["guid"], status=ref.get("entityStatus"),
                    path=[*names(paths[model_guid]), ref.get("displayText") or ref["guid"]]))
    return ImpactReport(source=dataset_qualified_name, source_guid=guid, affected=affected, rest_calls=calls[0])
