"""The evidence a release check needs about one model, from the read side (reads/): its tags with their
sources and lineage paths, in a bounded number of REST calls.

Absence of lineage is never a clean bill: a model with no dataset upstream at all (no training run
recorded, or a run that read nothing anyone could name) gets an `IncompleteLineage` tag of its own in the
evidence, which the default policy blocks for public releases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import INCOMPLETE_LINEAGE, ML_EVALUATION_RUN, ML_MODEL, NAME, QUALIFIED_NAME
from atlas_mlplugin.model.tags import UpstreamTag
from atlas_mlplugin.policy.model import Evidence
from atlas_mlplugin.reads import upstream_tags
from atlas_mlplugin.reads.entities import count_requests, entities_by_guid
from atlas_mlplugin.reads.evaluations import evaluation_data, training_datasets
from atlas_mlplugin.reads.lineage import Graph, read_graph

NO_RECORDED_DATA = "has no dataset recorded upstream (no training run, or a run without inputs)"


def collect_evidence(client: AtlasClient, model_qualified_name: str, *, model_type: str = ML_MODEL) -> Evidence:
    """The model's classifications, each with its source entity and the lineage path from it."""
    tagged = upstream_tags(client, model_qualified_name, model_type)
    tags = list(tagged.tags)
    # Evaluation data is not what the model was built from: weighed apart (reads/evaluations.py).
    evaluation = evaluation_data(client, tagged.graph)
    if not training_datasets(tagged.graph) and not any(t.type_name == INCOMPLETE_LINEAGE for t in tags):
        tags.append(UpstreamTag(type_name=INCOMPLETE_LINEAGE, attributes={"reason": NO_RECORDED_DATA},
                                direct=True, source_guid=tagged.guid, source_qualified_name=tagged.qualified_name,
                                source_name=tagged.name, source_type=model_type,
                                path=(tagged.qualified_name,)))
    return Evidence(model_guid=tagged.guid, model_qualified_name=model_qualified_name, model_name=tagged.name,
                    tags=tags, evaluation_tags=evaluation.tags, rest_calls=tagged.rest_calls + evaluation.rest_calls)


# --- many models at once (watch) ------------------------------------------------------------------------
# A model's tags already name their source (`entityGuid`): what the check still needs is each source's
# header and the lineage path from it. Read per model that is one lineage call each, O(N) for a retraction
# that reaches N models; read per *source* instead (one OUTPUT lineage call from the retracted dataset covers
# every model downstream of it), the calls grow with the sources the batch's models share, not the models.


@dataclass
class BulkEvidence:
    """Evidence per model guid, and what it cost."""

    evidence: dict[str, Evidence] = field(default_factory=dict)
    rest_calls: int = 0
    lineage_reads: int = 0  # lineage calls, one per shared source
    fallbacks: int = 0  # models gathered one by one (collect_evidence): nothing shared could explain them


def _own_sources(entity: dict[str, Any]) -> set[str]:
    guid = entity["guid"]
    return {c.get("entityGuid") or guid for c in entity.get("classifications") or []} - {guid}


def _certified(entity: dict[str, Any]) -> bool:
    """Whether the model is the output of an evaluation run, from its relationships: collect_evidence_many's
    callers read models with them (watch's load_models does)."""
    relationships = entity.get("relationshipAttributes") or {}
    return any((p or {}).get("typeName") == ML_EVALUATION_RUN for p in relationships.get("outputFromProcesses") or [])


def evidence_from_graphs(entity: dict[str, Any], graphs: Mapping[str, Graph],
                         headers: Mapping[str, dict[str, Any]]) -> Evidence | None:
    """The model's evidence from the OUTPUT lineage graphs of its tags' sources: the same tags, sources and
    paths collect_evidence reads from the model's own INPUT graph (a shortest path found upstream from the
    model stays inside the nodes downstream of its source, so the search gives the same path in both). None
    when the graphs cannot explain it all (a source without a graph or not reaching the model), or when no
    path shows a dataset upstream: only the model's own lineage tells whether it lacks one (IncompleteLineage).
    """
    guid = entity["guid"]
    if _certified(entity):
        # Its benchmarks' tags never reach it (mapping/evaluation.py): only its own INPUT graph shows them.
        return None
    attributes = entity.get("attributes") or {}
    qualified_name = str(attributes.get(QUALIFIED_NAME))
    tags: list[UpstreamTag] = []
    has_upstream_dataset = False
    for c in entity.get("classifications") or []:
        source = c.get("entityGuid") or guid
        if source == guid:
            header, path = entity, [qualified_name]
        else:
            graph = graphs.get(source)
            if graph is None or guid not in graph.nodes:
                return None
            found = graph.paths_from(guid, upstream=True).get(source)
            if found is None:
                return None
            header = graph.nodes.get(source) or headers.get(source) or {}
            # Lineage alternates DataSet -> Process -> DataSet: a node two hops up is a dataset.
            has_upstream_dataset = has_upstream_dataset or len(found) >= 3
            path = [(graph.nodes.get(g, {}).get("attributes") or {}).get(QUALIFIED_NAME) or g for g in found]
        header_attributes = header.get("attributes") or {}
        tags.append(UpstreamTag(
            type_name=c["typeName"], attributes=c.get("attributes") or {}, direct=source == guid,
            source_guid=source, source_qualified_name=header_attributes.get(QUALIFIED_NAME),
            source_name=header_attributes.get(NAME) or header.get("displayText"),
            source_type=header.get("typeName"), source_status=header.get("status"), path=tuple(path)))
    if not has_upstream_dataset:
        return None
    tags.sort(key=lambda t: (t.type_name, t.source_qualified_name or "", t.source_guid))
    return Evidence(model_guid=guid, model_qualified_name=qualified_name, model_name=attributes.get(NAME),
                    tags=tags)


def collect_evidence_many(client: AtlasClient, models: Sequence[dict[str, Any]]) -> BulkEvidence:
    """Evidence for many models, given as Atlas read them (a bulk read by guid, with their classifications):
    one bulk read of their tags' sources, one OUTPUT lineage read per source that two or more of them share,
    and collect_evidence (its few calls) only for a model those graphs do not explain. A retraction reaching
    300 models costs a handful of calls, not 300 lineage reads."""
    out = BulkEvidence()
    with count_requests(client) as calls:
        client.wait_for_pending_tasks()  # propagation must have settled before tags are read
        reach: dict[str, int] = {}
        for entity in models:
            for source in _own_sources(entity):
                reach[source] = reach.get(source, 0) + 1
        shared = sorted(s for s, count in reach.items() if count > 1)
        headers = entities_by_guid(client, shared)
        graphs: dict[str, Graph] = {}
        for source in shared:
            if source in headers:  # purged since: the models' own reads say what is left
                graphs[source] = read_graph(client, headers[source], direction="OUTPUT")
                out.lineage_reads += 1
        for entity in models:
            evidence = evidence_from_graphs(entity, graphs, headers)
            if evidence is None:
                qualified_name = str((entity.get("attributes") or {}).get(QUALIFIED_NAME))
                evidence = collect_evidence(client, qualified_name, model_type=entity.get("typeName") or ML_MODEL)
                out.fallbacks += 1
            out.evidence[entity["guid"]] = evidence
    out.rest_calls = calls[0]
    return out
