"""An entity's classifications with their sources, read in a bounded number of REST calls.

A classification list already includes every propagated copy, each naming its source entity
(`entityGuid`), and one lineage call returns the whole upstream graph with entity headers. So reading the
tags of a model costs the same few calls whether 3 or 3,000 datasets feed it; only sources missing from the
lineage graph (e.g. outside the depth, or deleted) are fetched, in bulk.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import ML_MODEL, NAME, QUALIFIED_NAME
from atlas_mlplugin.model.tags import UpstreamTag
from atlas_mlplugin.reads.entities import count_requests, entities_by_guid, require_entity
from atlas_mlplugin.reads.lineage import LINEAGE_DEPTH, Graph, read_graph

__all__ = ["TaggedEntity", "UpstreamTag", "tags_of", "upstream_tags"]


class TaggedEntity(BaseModel):
    """An entity, its tags with their sources, and its upstream lineage graph."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    entity: dict[str, Any]
    tags: list[UpstreamTag] = Field(default_factory=list)
    graph: Graph
    rest_calls: int = 0

    @property
    def guid(self) -> str:
        return str(self.entity["guid"])

    @property
    def qualified_name(self) -> str:
        return str((self.entity.get("attributes") or {}).get(QUALIFIED_NAME))

    @property
    def name(self) -> str | None:
        return (self.entity.get("attributes") or {}).get(NAME)


def _qualified_name(header: dict[str, Any]) -> str | None:
    return (header.get("attributes") or {}).get(QUALIFIED_NAME)


def upstream_tags(client: AtlasClient, qualified_name: str, type_name: str = ML_MODEL, *,
                  depth: int = LINEAGE_DEPTH) -> TaggedEntity:
    """The entity's classifications, each with its source entity and the lineage path from it (after
    pending propagation has settled)."""
    with count_requests(client) as calls:
        client.wait_for_pending_tasks()  # propagation must have settled before tags are read
        entity = require_entity(client, type_name, qualified_name)
        graph = read_graph(client, entity, direction="INPUT", depth=depth)
        classifications = entity.get("classifications") or []
        guid = entity["guid"]
        sources = {c.get("entityGuid", guid) for c in classifications}
        graph.nodes.update(entities_by_guid(client, sorted(s for s in sources if s not in graph.nodes)))
        paths = graph.paths_from(guid, upstream=True)
        tags = []
        for c in classifications:
            source = c.get("entityGuid", guid)
            header = graph.nodes.get(source, {})
            path = paths.get(source, [source, guid] if source != guid else [guid])
            tags.append(UpstreamTag(
                type_name=c["typeName"], attributes=c.get("attributes") or {}, direct=source == guid,
                source_guid=source, source_qualified_name=_qualified_name(header),
                source_name=(header.get("attributes") or {}).get(NAME) or header.get("displayText"),
                source_type=header.get("typeName"), source_status=header.get("status"),
                path=tuple(_qualified_name(graph.nodes.get(g, {})) or g for g in path),
            ))
    tags.sort(key=lambda t: (t.type_name, t.source_qualified_name or "", t.source_guid))
    return TaggedEntity(entity=entity, tags=tags, graph=graph, rest_calls=calls[0])


def tags_of(client: AtlasClient, qualified_name: str, type_name: str = ML_MODEL) -> list[UpstreamTag]:
    """Every classification on the entity, direct or propagated, with the entity it came from."""
    return upstream_tags(client, qualified_name, type_name).tags
