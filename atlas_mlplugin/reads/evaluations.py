"""The evaluation data behind a certified model: the datasets its evaluation runs were tested on, with their
tags, read for the release check (policy/gather.py).

No tag of an evaluation dataset reaches the certified model through Atlas (mapping/evaluation.py stops
propagation on those edges: the data never enters the weights). Its terms still limit the claims made with
the results, so the check reads them here: from the model upstream through evaluation runs only (a
certification of a certification counts; a training or fine-tuning run starts a new model, whose earlier
results describe other weights), each evaluation run's non-model inputs are evaluation data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import ML_EVALUATION_RUN, ML_MODEL, NAME, QUALIFIED_NAME
from atlas_mlplugin.model.tags import UpstreamTag
from atlas_mlplugin.reads.entities import count_requests, entities_by_guid
from atlas_mlplugin.reads.lineage import Graph

# Tags an officer records on one entity, never about its data.
_NOT_DATA_TAGS = frozenset({"RiskAccepted", "ReleaseVerdict"})


@dataclass
class EvaluationData:
    """The evaluation datasets upstream of a model (guid -> path in qualifiedNames, dataset first, model last),
    their tags, and the REST calls reading them took."""

    datasets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: list[UpstreamTag] = field(default_factory=list)
    rest_calls: int = 0


def evaluation_datasets(graph: Graph) -> dict[str, list[str]]:
    """Evaluation datasets upstream of the graph's root, each with its shortest path (guids, dataset first,
    root last), found by walking up through evaluation runs and the models they evaluated only."""
    inputs: dict[str, list[str]] = {}
    producers: dict[str, list[str]] = {}
    for frm, to in graph.edges:
        if (graph.nodes.get(to) or {}).get("typeName") == ML_EVALUATION_RUN:
            inputs.setdefault(to, []).append(frm)
        if (graph.nodes.get(frm) or {}).get("typeName") == ML_EVALUATION_RUN:
            producers.setdefault(to, []).append(frm)
    found: dict[str, list[str]] = {}
    paths = {graph.root: [graph.root]}
    todo = [graph.root]
    while todo:  # breadth first, so each dataset keeps its shortest path
        model = todo.pop(0)
        for run in sorted(producers.get(model, [])):
            for source in sorted(inputs.get(run, [])):
                path = [source, run, *paths[model]]
                if (graph.nodes.get(source) or {}).get("typeName") == ML_MODEL:
                    if source not in paths:
                        paths[source] = path
                        todo.append(source)
                else:
                    found.setdefault(source, path)
    return found


def training_datasets(graph: Graph) -> list[str]:
    """Guids of the datasets upstream of the root other than through an evaluation run's evaluation data:
    what the weights were built from."""
    skipped = {(frm, to) for frm, to in graph.edges
               if (graph.nodes.get(to) or {}).get("typeName") == ML_EVALUATION_RUN
               and (graph.nodes.get(frm) or {}).get("typeName") != ML_MODEL}
    kept = Graph(root=graph.root, nodes=graph.nodes, edges=[e for e in graph.edges if e not in skipped])
    return kept.upstream_datasets()


def evaluation_data(client: AtlasClient, graph: Graph) -> EvaluationData:
    """The evaluation datasets upstream of the graph's root and every tag on them (their own and those
    propagated to them), each tag with its source and the path source -> dataset -> evaluation -> model.
    One bulk read of the datasets, one more for tag sources outside the graph; none without evaluation runs."""
    found = evaluation_datasets(graph)
    if not found:
        return EvaluationData()

    def name(guid: str) -> str:
        return (nodes.get(guid, {}).get("attributes") or {}).get(QUALIFIED_NAME) or guid

    with count_requests(client) as calls:
        nodes = dict(graph.nodes)
        datasets = entities_by_guid(client, sorted(found))
        sources = {c.get("entityGuid", guid) for guid, e in datasets.items() for c in e.get("classifications") or []}
        nodes.update(entities_by_guid(client, sorted(s for s in sources if s not in nodes)))
        tags = []
        for guid, entity in sorted(datasets.items()):
            for c in entity.get("classifications") or []:
                if c["typeName"] in _NOT_DATA_TAGS:
                    continue
                source = c.get("entityGuid", guid)
                header = nodes.get(source, {})
                # Upstream of the evaluation dataset only its source is known without another lineage read.
                path = ([source] if source != guid else []) + found[guid]
                tags.append(UpstreamTag(
                    type_name=c["typeName"], attributes=c.get("attributes") or {}, direct=False,
                    source_guid=source, source_qualified_name=(header.get("attributes") or {}).get(QUALIFIED_NAME),
                    source_name=(header.get("attributes") or {}).get(NAME) or header.get("displayText"),
                    source_type=header.get("typeName"), source_status=header.get("status"),
                    path=tuple(name(g) for g in path)))
    tags.sort(key=lambda t: (t.type_name, t.source_qualified_name or "", t.source_guid))
    return EvaluationData(datasets={g: tuple(name(x) for x in p) for g, p in found.items()}, tags=tags,
                          rest_calls=calls[0])
