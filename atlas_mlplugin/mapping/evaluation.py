"""An evaluation run -> Atlas entity JSON, and the lineage edges its evaluation data must not propagate over.

An `ml_evaluation_run` is a Process, so the Atlas UI draws it: the model evaluated and the evaluation
datasets go in, the certified model version comes out. Tags flow from the model evaluated to the certified
version (the same weights), but not from the evaluation data, which never enters the weights: the registry
sets `propagateTags: NONE` on those input edges (`no_propagation_relationship`). Unlike a list of blocked
tags, NONE also holds for tags the datasets get later. The release check reads the evaluation data's tags
itself (reads/evaluations.py) and weighs them as limits on the claims made with the results.
"""

from __future__ import annotations

from typing import Any

from atlas_mlplugin.mapping import names as n
from atlas_mlplugin.mapping.entities import Entity, _clean, _owned, object_id
from atlas_mlplugin.mapping.timestamps import to_millis
from atlas_mlplugin.model import EvaluationRunSpec

# The propagation an evaluation dataset's input edge gets.
NO_PROPAGATION = "NONE"


def evaluation_run_entity(run: EvaluationRunSpec, dataset_types: dict[str, str] | None = None) -> Entity:
    """`dataset_types` maps an evaluation dataset's qualifiedName to its Atlas type when it is not ml_dataset
    (a table a Spark job wrote, say)."""
    types = dataset_types or {}
    return {
        "typeName": n.ML_EVALUATION_RUN,
        "attributes": _clean({
            n.QUALIFIED_NAME: run.qualified_name,
            n.NAME: run.name,
            n.DESCRIPTION: run.description,
            "runId": run.run_id,
            "status": run.status,
            "codeRevision": run.code_revision,
            "metrics": {k: str(v) for k, v in run.metrics.items()},
            n.INPUTS: [object_id(n.ML_MODEL, run.model)]
                      + [object_id(types.get(qn, n.ML_DATASET), qn) for qn in run.datasets],
            n.OUTPUTS: [object_id(n.ML_MODEL, m.qualified_name) for m in run.outputs],
        }) | _owned({"startTime": to_millis(run.start_time), "endTime": to_millis(run.end_time)}),
    }


def no_propagation_relationship(relationship: dict[str, Any]) -> dict[str, Any]:
    """An input edge that propagates no tag at all (`PUT /v2/relationship`): an evaluation dataset's."""
    return {"guid": relationship["guid"], "typeName": relationship["typeName"], "propagateTags": NO_PROPAGATION}


def evaluation_data_edges(process: Entity) -> list[dict[str, Any]]:
    """The active input references of an evaluation run (read with its relationships) that are evaluation
    data, not the model evaluated: everything but ml_model inputs."""
    return [ref for ref in (process.get("relationshipAttributes") or {}).get(n.INPUTS) or []
            if ref.get("relationshipStatus", "ACTIVE") == "ACTIVE" and ref.get("typeName") != n.ML_MODEL]
