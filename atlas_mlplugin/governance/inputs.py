"""What a run's inputs are in Atlas: datasets, or models (a base model being fine-tuned, a teacher being
distilled). Every path that records a run (the registry, the Kafka handler, catalog apply) resolves its inputs
here, so a model named as an input becomes the same model -> run edge whichever path wrote it, and Atlas
propagates the model's tags (its license terms and everything upstream of it) to the run's outputs natively.

One bulk look-up by the common supertype `DataSet` finds inputs of every type at once (Atlas answers a
unique-attribute read of a supertype with the entities of its subtypes, each with its own typeName); inputs
the caller says are models are read as ml_model, so a placeholder dataset of the same name made earlier
cannot shadow them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from atlas_mlplugin.mapping import names as n

# Atlas's base type of everything a Process reads or writes (typedefs/00-base): ml_dataset, ml_model, ...
DATASET_SUPERTYPE = "DataSet"


class InputReader(Protocol):
    def find_entities(self, type_name: str, qualified_names: list[str], /) -> dict[str, dict[str, Any]]: ...


@dataclass
class ResolvedInputs:
    """The inputs found in Atlas (entity by qualifiedName, with its typeName) and those missing, by the type
    they are to be recorded as."""

    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_datasets: list[str] = field(default_factory=list)
    missing_models: list[str] = field(default_factory=list)
    also: dict[str, dict[str, Any]] = field(default_factory=dict)  # the `also` names found (resolve_inputs)

    @property
    def types(self) -> dict[str, str]:
        """qualifiedName -> Atlas type of every input (missing ones: the type they are recorded as)."""
        types = {qn: str(e.get("typeName") or n.ML_DATASET) for qn, e in self.found.items()}
        types |= {qn: n.ML_MODEL for qn in self.missing_models}
        return types | {qn: n.ML_DATASET for qn in self.missing_datasets}

    @property
    def models(self) -> list[str]:
        return [qn for qn, t in self.types.items() if t == n.ML_MODEL]


def input_types(names: Iterable[str], found: dict[str, dict[str, Any]], models: Collection[str] = ()
                ) -> ResolvedInputs:
    """Pure: the resolution of `names` given what a look-up `found` (by qualifiedName, with typeName) and which
    names the caller declared as models (`models`: recorded as ml_model even when Atlas has none yet)."""
    resolved = ResolvedInputs()
    for qn in dict.fromkeys(names):
        if qn in found:
            resolved.found[qn] = found[qn]
        elif qn in models:
            resolved.missing_models.append(qn)
        else:
            resolved.missing_datasets.append(qn)
    return resolved


def resolve_inputs(client: InputReader, names: Iterable[str], *, models: Collection[str] = (),
                   also: Iterable[str] = ()) -> ResolvedInputs:
    """Look the inputs up in Atlas: one bulk read by DataSet (both types at once), plus one by ml_model for
    the names declared as models. `also`: more names read in the same request (a run's outputs), returned in
    `also` when found."""
    names = list(dict.fromkeys(names))
    declared = [qn for qn in names if qn in models]
    others = [qn for qn in names if qn not in models]
    extra = [qn for qn in dict.fromkeys(also) if qn not in others]
    found: dict[str, dict[str, Any]] = {}
    if declared:
        found |= {qn: {**e, "typeName": e.get("typeName") or n.ML_MODEL}
                  for qn, e in client.find_entities(n.ML_MODEL, declared).items()}
    read = client.find_entities(DATASET_SUPERTYPE, others + extra) if others or extra else {}
    found |= {qn: e for qn, e in read.items() if qn in others}
    resolved = input_types(names, found, models)
    resolved.also = {qn: e for qn, e in read.items() if qn in set(also)} | {
        qn: e for qn, e in found.items() if qn in set(also)}
    return resolved
