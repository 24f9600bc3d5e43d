"""The `atlas-ml lineage` tree: the datasets and runs upstream of an entity, each with the tags it is the
source of."""

from __future__ import annotations

from pydantic import BaseModel, Field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import ML_MODEL, QUALIFIED_NAME
from atlas_mlplugin.reads.tags import upstream_tags


class LineageNode(BaseModel):
    guid: str
    typeName: str | None = None  # noqa: N815 - the JSON the lineage command prints keeps Atlas's names
    qualifiedName: str | None = None  # noqa: N815
    status: str | None = None
    contributes: list[str] = Field(default_factory=list, description="tags this entity is the source of")
    upstream: list[LineageNode] = Field(default_factory=list)


def upstream_tree(client: AtlasClient, qualified_name: str, type_name: str = ML_MODEL, *,
                  depth: int = 20) -> LineageNode:
    """The datasets and runs upstream of an entity, as a tree, with the tags each contributes to it."""
    tagged = upstream_tags(client, qualified_name, type_name, depth=depth)
    graph = tagged.graph
    parents: dict[str, list[str]] = {}
    for frm, to in graph.edges:
        parents.setdefault(to, []).append(frm)
    contributed: dict[str, set[str]] = {}
    for tag in tagged.tags:
        contributed.setdefault(tag.source_guid, set()).add(tag.type_name)
    # A source the lineage graph does not reach (Atlas leaves out a run that has no inputs, and anything past
    # the depth) hangs under the root, so every tag's origin is shown.
    reached = graph.paths_from(graph.root, upstream=True)
    for source in sorted(contributed.keys() - reached.keys() - {graph.root}):
        parents.setdefault(graph.root, []).append(source)

    def node(guid: str, seen: frozenset[str]) -> LineageNode:
        header = graph.nodes.get(guid, {})
        return LineageNode(
            guid=guid, typeName=header.get("typeName"),
            qualifiedName=(header.get("attributes") or {}).get(QUALIFIED_NAME),
            status=header.get("status"), contributes=sorted(contributed.get(guid, set())),
            upstream=[node(p, seen | {guid}) for p in sorted(parents.get(guid, [])) if p not in seen],
        )

    return node(graph.root, frozenset())
