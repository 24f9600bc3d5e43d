"""The evidence a release check needs about one model, from the read side (reads/): its tags with their
sources and lineage paths, in a bounded number of REST calls.

Absence of lineage is never a clean bill: a model with no dataset upstream at all (no training run
recorded, or a run that read nothing anyone could name) gets an `IncompleteLineage` tag of its own in the
evidence, which the default policy blocks for public releases.
"""

from __future__ import annotations

from atlas_mlplugin.atlas.client import AtlasClient
from atlas_mlplugin.mapping.names import INCOMPLETE_LINEAGE, ML_MODEL
from atlas_mlplugin.model.tags import UpstreamTag
from atlas_mlplugin.policy.model import Evidence
from atlas_mlplugin.reads import upstream_tags
from atlas_mlplugin.reads.evaluations import evaluation_data, training_datasets

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
