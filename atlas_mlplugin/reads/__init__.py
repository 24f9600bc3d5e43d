"""The read side: what Atlas holds about an entity, in a bounded number of REST calls. One module for the
CLI (dataset show, lineage, impact), the release check's evidence and Python callers; the governance
registry keeps the writes.

- entities.py: one entity by qualifiedName (or a clear "register it first"), many by guid in bulk.
- tags.py: an entity's classifications, direct and propagated, each with its source and lineage path.
- lineage.py: the lineage graph around an entity; everything downstream of a dataset (impact).
- tree.py: the upstream tree of a model, with the tags each entity contributes.
"""

from atlas_mlplugin.reads.entities import count_requests, entities_by_guid, require_entity
from atlas_mlplugin.reads.lineage import ImpactedEntity, ImpactReport, impact
from atlas_mlplugin.reads.tags import TaggedEntity, tags_of, upstream_tags
from atlas_mlplugin.reads.tree import LineageNode, upstream_tree

__all__ = ["ImpactReport", "ImpactedEntity", "LineageNode", "TaggedEntity", "count_requests", "entities_by_guid",
           "impact", "require_entity", "tags_of", "upstream_tags", "upstream_tree"]
