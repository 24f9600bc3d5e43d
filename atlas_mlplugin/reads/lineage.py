"""Lineage reads: the lineage graph around an entity (the paths in a release check's findings, the
`atlas-ml lineage` tree in tree.py) and everything downstream of a dataset (`atlas-ml impact`), each in a
few bulk calls."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import ML_DATASET, ML_MODEL, ML_RELEASE, MODEL_RELEASES, QUALIFIED_NAME
from atlas_mlplugin.reads.entities import count_requests, entities_by_guid, require_entity

LINEAGE_DEPTH = 64


@dataclass
class Graph:
    """A lineage graph around one root: entity headers by guid and (from, to) edges in data-flow order."""

    root: str
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def name_of(self, guid: str) -> str:
        return (self.nodes.get(guid, {}).get("attributes") or {}).get(QUALIFIED_NAME) or guid

    def paths_from(self, start: str, *, upstream: bool) -> dict[str, list[str]]:
        """Shortest path between `start` and every node reachable from it, as guids in data-flow order."""
        neighbours: dict[str, list[str]] = {}
        for frm, to in self.edges:
            if upstream:
                neighbours.setdefault(to, []).append(frm)
            else:
                neighbours.setdefault(frm, []).append(to)
        paths = {start: [start]}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in sorted(neighbours.get(node, [])):
                if nxt not in paths:
                    paths[nxt] = [nxt, *paths[node]] if upstream else [*paths[node], nxt]
                    queue.append(nxt)
        return paths

    def upstream_datasets(self) -> list[str]:
        """Guids of the DataSets upstream of the root (a DataSet): lineage alternates DataSet -> Process ->
        DataSet, so they are the nodes an even number of hops away."""
        return sorted(g for g, path in self.paths_from(self.root, upstream=True).items()
                      if g != self.root and len(path) % 2 == 1)


def read_graph(client: AtlasClient, entity: dict[str, Any], *, direction: Literal["INPUT", "OUTPUT"],
               depth: int = LINEAGE_DEPTH) -> Graph:
    """One lineage call; the root's own header is always in the graph, even when it has no lineage."""
    lineage = client.lineage(entity["guid"], direction=direction, depth=depth)
    graph = Graph(root=entity["guid"], nodes=dict(lineage.get("guidEntityMap") or {}),
                  edges=[(r["fromEntityId"], r["toEntityId"]) for r in lineage.get("relations") or []])
    graph.nodes.setdefault(entity["guid"], entity)
    return graph


# --- impact ----------------------------------------------------------------------------------------
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


def impact(client: AtlasClient, dataset_qualified_name: str, *, type_name: str = ML_DATASET) -> ImpactReport:
    """Everything downstream of a dataset: derived datasets, processes, models and their releases."""
    with count_requests(client) as calls:
        source = require_entity(client, type_name, dataset_qualified_name)
        graph = read_graph(client, source, direction="OUTPUT")
        paths = graph.paths_from(graph.root, upstream=False)
        affected: list[ImpactedEntity] = []
        models = []
        for node_guid, path in sorted(paths.items(), key=lambda item: (len(item[1]), item[0])):
            if node_guid == graph.root:
                continue
            header = graph.nodes.get(node_guid, {})
            type_ = str(header.get("typeName"))
            # Lineage alternates DataSet -> Process -> DataSet, so an odd number of hops is a process.
            kind: ImpactKind = ("model" if type_ == ML_MODEL else "process" if len(path) % 2 == 0 else "dataset")
            if kind == "model":
                models.append(node_guid)
            affected.append(ImpactedEntity(kind=kind, type_name=type_, qualified_name=graph.name_of(node_guid)
                                           if header else None, guid=node_guid, status=header.get("status"),
                                           path=[graph.name_of(g) for g in path]))
        # Releases hang off models by a relationship that does not carry lineage: read them in bulk.
        full = entities_by_guid(client, models, relationships=True)
        for model_guid in models:
            for ref in (full.get(model_guid, {}).get("relationshipAttributes") or {}).get(MODEL_RELEASES) or []:
                if ref.get("relationshipStatus", "ACTIVE") != "ACTIVE":
                    continue
                affected.append(ImpactedEntity(
                    kind="release", type_name=ref.get("typeName", ML_RELEASE), qualified_name=ref.get("displayText"),
                    guid=ref["guid"], status=ref.get("entityStatus"),
                    path=[*(graph.name_of(g) for g in paths[model_guid]), ref.get("displayText") or ref["guid"]]))
    return ImpactReport(source=dataset_qualified_name, source_guid=graph.root, affected=affected,
                        rest_calls=calls[0])
