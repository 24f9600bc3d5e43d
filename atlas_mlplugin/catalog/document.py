"""The catalog file's content: licenses, consent records, datasets, derivations, models and training runs.

Parsing checks each entry against the domain specs (atlas_mlplugin.model); `reference_problems` then checks
what the specs cannot see alone: references between entries, duplicates, unknown licenses. Problems carry a
pydantic-style `loc` so the loader can point at the YAML line.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from atlas_mlplugin.errors import LocalPathError
from atlas_mlplugin.licenses.catalog import LicenseCatalog, UnknownLicenseError
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    EvaluationRunSpec,
    ModelSpec,
    TrainingRunSpec,
)
from atlas_mlplugin.model.assets import NAMES_NORMALIZED, local_path_problem
from atlas_mlplugin.yamlfile import Loc, loc_to_path

# Tags of the training-run output union. Pydantic puts the chosen tag into error locations; the loader
# drops it (UNION_TAGS) because it is not a key of the file. Spaces keep them from clashing with field names.
MODEL_REF_TAG = "model reference"
INLINE_MODEL_TAG = "inline model"
UNION_TAGS = frozenset({MODEL_REF_TAG, INLINE_MODEL_TAG})

_NOT_TERMS = {"source", "hf_license"}


class CatalogLicense(DataLicense):
    """A license the built-in catalog lacks: usually a custom LicenseRef-... (an SPDX id missing from
    `atlas-ml license list` works too). Built-in licenses cannot be redefined with other terms."""

    # DataLicense ignores unknown keys; in a hand-written file a typo must be an error, not a lost term.
    model_config = ConfigDict(extra="forbid")


class CatalogDerivation(DerivationSpec):
    """A derivation (relabel, filter, merge, anonymize, ...) from datasets to the datasets it outputs.
    Its outputs are declared here, inline, and not again under `datasets:`."""

    # Validating defaults lets the attestation check below run when `attestation:` is absent, so the error
    # is reported on that field rather than on the whole derivation.
    model_config = ConfigDict(validate_default=True)

    @field_validator("attestation")
    @classmethod
    def _attested_needs_attestation(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("attested") and not value:
            raise ValueError("attested: true needs an attestation saying who attested the step and how")
        return value


def _output_kind(value: Any) -> str:
    return INLINE_MODEL_TAG if isinstance(value, (dict, BaseModel)) else MODEL_REF_TAG


ModelOutput = Annotated[
    Union[Annotated[str, Tag(MODEL_REF_TAG)], Annotated[ModelSpec, Tag(INLINE_MODEL_TAG)]],  # noqa: UP007
    Discriminator(_output_kind),
]


class CatalogTrainingRun(TrainingRunSpec):
    """A training run: a Process from the datasets it read to the models it produced. Use `to_spec` to get
    the TrainingRunSpec the registry takes (outputs given by reference are resolved there)."""

    outputs: list[ModelOutput] = Field(  # type: ignore[assignment]
        default_factory=list,
        description="The models the run produced. Each item is EITHER a string, the qualified_name of an entry "
                    "under `models:`, OR a mapping describing the model inline (qualified_name, name, ...). "
                    "Declare each model once: under `models:` or inline, not both.")

    def to_spec(self, models: dict[str, ModelSpec]) -> TrainingRunSpec:
        """This run with every output a ModelSpec; `models` maps qualified_name to the `models:` entries."""
        outputs = [models[o] if isinstance(o, str) else o for o in self.outputs]
        fields = {name: getattr(self, name) for name in TrainingRunSpec.model_fields if name != "outputs"}
        # Names were normalised when the file was read (relative to it); they must not be resolved again here.
        return TrainingRunSpec.model_validate({**fields, "outputs": outputs}, context={NAMES_NORMALIZED: True})


class CatalogEvaluation(EvaluationRunSpec):
    """An evaluation (certification): a Process from the model evaluated and its evaluation datasets to the
    certified model version(s). Use `to_spec` to get the EvaluationRunSpec the registry takes."""

    outputs: list[ModelOutput] = Field(  # type: ignore[assignment]
        min_length=1,
        description="The certified model version(s). Each item is EITHER a string, the qualified_name of an entry "
                    "under `models:`, OR a mapping describing the model inline (qualified_name, name, ...).")

    def to_spec(self, models: dict[str, ModelSpec]) -> EvaluationRunSpec:
        outputs = [models[o] if isinstance(o, str) else o for o in self.outputs]
        fields = {name: getattr(self, name) for name in EvaluationRunSpec.model_fields if name != "outputs"}
        return EvaluationRunSpec.model_validate({**fields, "outputs": outputs}, context={NAMES_NORMALIZED: True})


_SECTIONS = ("licenses", "consent_records", "datasets", "derivations", "models", "training_runs", "evaluations",
             "accepted_risks")


class CatalogAcceptedRisk(BaseModel):
    """An officer's accepted risk, written to the model as its RiskAccepted tag (as `atlas-ml accept` does).
    Atlas holds one per model, so one entry per model lists every rule (and dataset) it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = Field(min_length=1, description="qualifiedName of the ml_model (in this file or already in Atlas)")
    rules: list[str] = Field(min_length=1, description="ids of the policy rules whose findings are accepted")
    datasets: list[str] = Field(default_factory=list, description="limit to findings from these source datasets "
                                                                  "(qualifiedNames); empty: any dataset")
    approver: str = Field(min_length=1, description="who accepts the risk (the accountable person)")
    reason: str | None = Field(default=None, description="why the risk is acceptable")
    ticket: str | None = Field(default=None, description="reference of the review or decision record")
    until: date = Field(description="last day (YYYY-MM-DD, UTC) on which the acceptance holds; after it the "
                                    "findings count again (the check reports the lapse)")

    @model_validator(mode="after")
    def _why(self) -> CatalogAcceptedRisk:
        if not (self.reason or self.ticket):
            raise ValueError("say why the risk is acceptable: give reason or ticket")
        return self
_SPEC_SUBCLASSES: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "licenses": (DataLicense, CatalogLicense),
    "derivations": (DerivationSpec, CatalogDerivation),
    "training_runs": (TrainingRunSpec, CatalogTrainingRun),
    "evaluations": (EvaluationRunSpec, CatalogEvaluation),
}


class CatalogDocument(BaseModel):
    """A catalog as code: `atlas-ml apply FILE` makes Atlas match it. Applying is idempotent: entries that
    already match Atlas are left alone. Removing an entry from the file deletes nothing in Atlas (history is
    kept); deleting is a separate, explicit act. Qualified names of files follow OpenLineage, e.g.
    file:///abs/path or s3://bucket/path."""

    model_config = ConfigDict(
        extra="forbid",
        title="atlas-mlplugin catalog",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    version: Literal[1] = Field(description="Format version of this file; always 1")
    licenses: list[CatalogLicense] = Field(
        default_factory=list,
        description="Licenses the built-in catalog lacks, usually custom LicenseRef-... ones. Standard SPDX "
                    "licenses such as CC-BY-4.0 come from the built-in catalog (`atlas-ml license list`) and need "
                    "no entry here; a built-in license cannot be redefined with other terms.")
    consent_records: list[ConsentRecordSpec] = Field(
        default_factory=list,
        description="Consent records; datasets refer to them by qualified_name in their consent_records")
    datasets: list[DatasetSpec] = Field(
        default_factory=list,
        description="Source datasets. A dataset's license must be built in or declared under `licenses:`; its "
                    "consent_records must be declared under `consent_records:`.")
    derivations: list[CatalogDerivation] = Field(
        default_factory=list,
        description="Transformations between datasets; their output datasets are declared inline. Inputs are "
                    "datasets of this file (under `datasets:` or outputs of another derivation).")
    models: list[ModelSpec] = Field(
        default_factory=list,
        description="Models that training runs refer to by qualified_name: in their outputs (models they "
                    "produced) or their inputs (base models they fine-tune, teachers they distil from). Every "
                    "model here must be an output or an input of a training run in this file.")
    training_runs: list[CatalogTrainingRun] = Field(
        default_factory=list,
        description="Training runs. Inputs are datasets or models of this file (a base model under `models:` "
                    "or another run's output: a fine-tune chain); outputs are models, by reference to `models:` "
                    "or inline.")
    evaluations: list[CatalogEvaluation] = Field(
        default_factory=list,
        description="Evaluations (certifications): the model evaluated (of this file, or already in Atlas with "
                    "external references allowed) and its evaluation datasets in, the certified model version(s) "
                    "out, by reference to `models:` or inline. The evaluation data's tags do not reach the "
                    "certified version; the release check weighs them as limits on claims (docs/policy.md, "
                    "\"Evaluation data\").")
    accepted_risks: list[CatalogAcceptedRisk] = Field(
        default_factory=list,
        description="Risks an officer accepted on a model (docs/policy.md, \"Accepted risk\"): `atlas-ml check` "
                    "reports the findings of these rules as ACCEPTED until the date. Rule ids are those of the "
                    "built-in policy; retracted data and withdrawn consent can never be accepted.")

    @field_validator(*_SECTIONS, mode="before")
    @classmethod
    def _section(cls, value: Any, info: ValidationInfo) -> Any:
        # An empty YAML section (`models:` with nothing under it) is null: read it as an empty list.
        if value is None:
            return []
        # Accept plain specs built in Python for sections whose item type is our stricter subclass.
        base, sub = _SPEC_SUBCLASSES.get(info.field_name or "", (None, None))
        if base is not None and isinstance(value, list):
            return [v.model_dump() if isinstance(v, base) and not isinstance(v, sub) else v for v in value]  # type: ignore[arg-type]
        return value

    # --- derived views -------------------------------------------------------------------------------
    def all_datasets(self) -> list[tuple[Loc, DatasetSpec]]:
        """Every dataset the file declares: `datasets:` entries, then derivation outputs, with their loc."""
        found: list[tuple[Loc, DatasetSpec]] = [(("datasets", i), ds) for i, ds in enumerate(self.datasets)]
        for i, d in enumerate(self.derivations):
            found += [(("derivations", i, "outputs", j), ds) for j, ds in enumerate(d.outputs)]
        return found

    def derivations_in_order(self) -> list[DerivationSpec]:
        """Derivations ordered so that one producing a dataset comes before those reading it (file order
        otherwise). Iterative: a chain of thousands of derivations must not exhaust Python's stack."""
        producer = {ds.qualified_name: i for i, d in enumerate(self.derivations) for ds in d.outputs}
        upstream = [[producer[qn] for qn in d.inputs if qn in producer] for d in self.derivations]
        done: set[int] = set()
        ordered: list[DerivationSpec] = []
        for root in range(len(self.derivations)):
            if root in done:
                continue
            path = {root}  # a cycle is a validation problem; do not loop on it here
            stack = [(root, iter(upstream[root]))]
            while stack:
                i, pending = stack[-1]
                k = next((k for k in pending if k not in done and k not in path), None)
                if k is None:
                    stack.pop()
                    path.discard(i)
                    done.add(i)
                    ordered.append(self.derivations[i])
                else:
                    path.add(k)
                    stack.append((k, iter(upstream[k])))
        return ordered

    def model_specs(self) -> dict[str, ModelSpec]:
        return {m.qualified_name: m for m in self.models}

    def resolved_training_runs(self) -> list[TrainingRunSpec]:
        """The training runs as the registry takes them, outputs given by reference replaced by the model,
        ordered so that a run producing a model comes before the runs that start from it (file order
        otherwise; a cycle is a validation problem)."""
        models = self.model_specs()
        runs = [run.to_spec(models) for run in self.training_runs]
        producer = {m.qualified_name: i for i, run in enumerate(runs) for m in run.outputs}
        upstream = [[producer[qn] for qn in run.inputs if qn in producer and producer[qn] != i]
                    for i, run in enumerate(runs)]
        ordered: list[int] = []
        done: set[int] = set()
        for root in range(len(runs)):
            stack = [(root, iter(upstream[root]))]
            path = {root}
            while stack and root not in done:
                i, pending = stack[-1]
                k = next((k for k in pending if k not in done and k not in path), None)
                if k is None:
                    stack.pop()
                    path.discard(i)
                    if i not in done:
                        done.add(i)
                        ordered.append(i)
                else:
                    path.add(k)
                    stack.append((k, iter(upstream[k])))
        return [runs[i] for i in ordered]

    def all_models(self) -> list[tuple[Loc, ModelSpec]]:
        """Every model the file declares: `models:` entries, then models written inline in runs' outputs."""
        found: list[tuple[Loc, ModelSpec]] = [(("models", i), m) for i, m in enumerate(self.models)]
        found += [(("training_runs", i, "outputs", j), m) for i, run in enumerate(self.training_runs)
                  for j, m in enumerate(run.outputs) if isinstance(m, ModelSpec)]
        return found

    def resolved_evaluations(self) -> list[EvaluationRunSpec]:
        """The evaluations as the registry takes them, outputs given by reference replaced by the model."""
        models = self.model_specs()
        return [e.to_spec(models) for e in self.evaluations]

    def resolve_paths(self, base: Path) -> CatalogDocument:
        """A copy with relative local_path values taken relative to `base` (the catalog file's folder)."""
        def fix(spec: Any) -> Any:
            path = getattr(spec, "local_path", None)
            if path is None or path.is_absolute():
                return spec
            return spec.model_copy(update={"local_path": (base / path).resolve()})

        return self.model_copy(update={
            "datasets": [fix(ds) for ds in self.datasets],
            "derivations": [d.model_copy(update={"outputs": [fix(o) for o in d.outputs]}) for d in self.derivations],
            "models": [fix(m) for m in self.models],
            "training_runs": [r.model_copy(update={"outputs": [fix(o) for o in r.outputs]})
                              for r in self.training_runs],
            "evaluations": [e.model_copy(update={"outputs": [fix(o) for o in e.outputs]}) for e in self.evaluations],
        })

    def local_path_problems(self, base: Path) -> list[Problem]:
        """A local_path to fingerprint (sha256 not given) that is missing, unreadable or an empty directory,
        relative paths taken relative to `base`; found now, so apply fails before it writes anything."""
        specs: list[tuple[Loc, DatasetSpec | ModelSpec]] = list(self.all_datasets())
        specs += [(("models", i), m) for i, m in enumerate(self.models)]
        specs += [(("training_runs", i, "outputs", j), m) for i, run in enumerate(self.training_runs)
                  for j, m in enumerate(run.outputs) if isinstance(m, ModelSpec)]
        specs += [(("evaluations", i, "outputs", j), m) for i, e in enumerate(self.evaluations)
                  for j, m in enumerate(e.outputs) if isinstance(m, ModelSpec)]
        problems = []
        for loc, spec in specs:
            if spec.local_path is None or spec.sha256:
                continue
            path = spec.local_path if spec.local_path.is_absolute() else base / spec.local_path
            problem = local_path_problem(path)
            if problem:
                message = str(LocalPathError(path, problem)).removeprefix("local_path ")  # the field is named already
                problems.append(Problem((*loc, "local_path"), message))
        return problems

    def reference_problems(self, *, catalog: LicenseCatalog | None = None, allow_external_refs: bool = False,
                           incomplete: Collection[str] = ()) -> list[Problem]:
        """What is wrong between entries (see `_References`); empty when the file is consistent. `incomplete`
        names sections some entries of which were left out (refused by validation): references into them
        are not checked, since they may name a left-out entry."""
        return _References(self, catalog or LicenseCatalog.from_csv(), allow_external_refs, incomplete).check()


@dataclass(frozen=True)
class Partial:
    """The entries of a catalog that validation accepted, when it refused others: checked as well, so that
    one reading reports every problem of the file (a wrong license beside a bad name), not one kind a run."""

    doc: CatalogDocument
    incomplete: frozenset[str]  # sections with refused entries
    kept: dict[str, list[int]]  # for those sections, the index in the file of each entry kept

    def file_loc(self, loc: Loc) -> Loc:
        """A location in `doc` as a location in the file."""
        if len(loc) >= 2 and isinstance(loc[0], str) and loc[0] in self.kept and isinstance(loc[1], int):
            return (loc[0], self.kept[loc[0]][loc[1]], *loc[2:])
        return loc


def partial_document(data: dict[str, Any], errors: list[Any], context: dict[str, Any] | None) -> Partial | None:
    """The document without the entries pydantic's `errors` point into; None when an error concerns the file
    as a whole (the version, an unknown section, a section that is no list): then nothing is checked further."""
    refused: dict[str, set[int]] = {}
    for err in errors:
        loc = err["loc"]
        if len(loc) < 2 or loc[0] not in _SECTIONS or not isinstance(loc[1], int) \
                or not isinstance(data.get(loc[0]), list):
            return None
        refused.setdefault(loc[0], set()).add(loc[1])
    kept = {section: [i for i in range(len(data[section])) if i not in bad] for section, bad in refused.items()}
    trimmed = {**data, **{section: [data[section][i] for i in index] for section, index in kept.items()}}
    try:
        doc = CatalogDocument.model_validate(trimmed, context=context)
    except ValidationError:  # not expected (entries are validated one by one), but then: nothing further
        return None
    return Partial(doc, frozenset(refused), kept)


@dataclass(frozen=True)
class Problem:
    """A cross-reference problem at `loc` (a pydantic-style location in the document)."""

    loc: Loc
    message: str
    see: Loc | None = None  # where the clashing entry is, for "duplicate" problems


def strongly_connected(edges: list[list[int]]) -> list[int]:
    """For each node of a directed graph (node i has edges to edges[i]) the id of its strongly connected
    component. Kosaraju's two passes, iterative, so any graph size and depth is fine (linear time)."""
    seen = [False] * len(edges)
    finished: list[int] = []
    for start in range(len(edges)):
        if seen[start]:
            continue
        seen[start] = True
        stack = [(start, iter(edges[start]))]
        while stack:
            node, targets = stack[-1]
            nxt = next((t for t in targets if not seen[t]), None)
            if nxt is None:
                stack.pop()
                finished.append(node)
            else:
                seen[nxt] = True
                stack.append((nxt, iter(edges[nxt])))
    reverse: list[list[int]] = [[] for _ in edges]
    for node, targets in enumerate(edges):
        for target in targets:
            reverse[target].append(node)
    component = [-1] * len(edges)
    for start in reversed(finished):
        if component[start] != -1:
            continue
        component[start] = start
        todo = [start]
        while todo:
            for source in reverse[todo.pop()]:
                if component[source] == -1:
                    component[source] = start
                    todo.append(source)
    return component


# "Did you mean" compares a wrong name with every name of the file (difflib, quadratic in the name's length):
# 2,000 wrong inputs against 2,000 datasets took 85 s. A file with that many wrong names has one mistake
# (a renamed prefix, say) that the first few hints show.
MAX_HINTS = 20


class _References:
    """Cross-reference checks, each reported at the entry or field at fault."""

    def __init__(self, doc: CatalogDocument, builtin: LicenseCatalog, allow_external: bool,
                 incomplete: Collection[str] = ()) -> None:
        self.doc = doc
        self.builtin = builtin
        self.allow_external = allow_external
        self.incomplete = frozenset(incomplete)
        self.problems: list[Problem] = []
        self.hints_left = MAX_HINTS

    def _hint(self, name: str, candidates: Collection[str]) -> str:
        """" Did you mean: a, b?" for names close to `name`, for the first MAX_HINTS wrong names."""
        if self.hints_left <= 0:
            return ""
        self.hints_left -= 1
        close = difflib.get_close_matches(name, sorted(candidates), n=3, cutoff=0.6)
        return f" Did you mean: {', '.join(close)}?" if close else ""

    def check(self) -> list[Problem]:
        licenses = self._licenses()
        self._unique([(("consent_records", i, "qualified_name"), c.qualified_name)
                      for i, c in enumerate(self.doc.consent_records)], "consent record")
        datasets = self._unique([((*loc, "qualified_name"), ds.qualified_name) for loc, ds in self.doc.all_datasets()],
                                "dataset")
        consents = {c.qualified_name for c in self.doc.consent_records}
        for loc, ds in self.doc.all_datasets():
            self._dataset(loc, ds, licenses, consents)
        self._unique([(("derivations", i, "qualified_name"), d.qualified_name)
                      for i, d in enumerate(self.doc.derivations)], "derivation")
        for i, d in enumerate(self.doc.derivations):
            self._inputs(("derivations", i, "inputs"), d.inputs, datasets)
        self._cycles()
        self._models()
        self._model_licenses(licenses)
        self._unique([(("training_runs", i, "run_id"), r.run_id) for i, r in enumerate(self.doc.training_runs)],
                     "training run")
        models = {m.qualified_name: (*loc, "qualified_name") for loc, m in self.doc.all_models()}
        for i, run in enumerate(self.doc.training_runs):
            self._run_inputs(("training_runs", i, "inputs"), run.inputs, datasets, models)
        self._run_cycles()
        self._evaluations(datasets)
        self._accepted_risks()
        return self.problems

    def _accepted_risks(self) -> None:
        from atlas_mlplugin.policy.acceptance import refusals
        from atlas_mlplugin.policy.model import Acceptance
        from atlas_mlplugin.policy.rules import load_policy

        first: dict[str, Loc] = {}
        for i, risk in enumerate(self.doc.accepted_risks):
            loc = ("accepted_risks", i, "model")
            if risk.model in first:
                self.problems.append(Problem(loc, f"a second accepted risk for model {risk.model!r}: Atlas holds one "
                                                  "per model; list all its rules in the entry at "
                                                  f"{loc_to_path(first[risk.model][:-1])}", see=first[risk.model]))
            first.setdefault(risk.model, loc)
        policy = load_policy()
        for i, risk in enumerate(self.doc.accepted_risks):
            for j, rule in enumerate(risk.rules):
                acceptance = Acceptance(rules=(rule,), approver=risk.approver, ticket="-", until=risk.until)
                # Not the expiry (today=date.min): a committed file must keep applying after an acceptance
                # lapses, and the check reports the lapse. Unknown and never-acceptable rules are refused here.
                for problem in refusals(acceptance, policy, today=date.min):
                    self.problems.append(Problem(("accepted_risks", i, "rules", j), problem))

    def _unique(self, names: list[tuple[Loc, str]], kind: str, fold: bool = False) -> dict[str, Loc]:
        first: dict[str, Loc] = {}
        for loc, name in names:
            key = name.lower() if fold else name
            if key in first:
                self.problems.append(Problem(loc, f"duplicate {kind} {name!r}: already declared at "
                                                  f"{loc_to_path(first[key][:-1])}", see=first[key]))
            else:
                first[key] = loc
        return first

    def _licenses(self) -> LicenseCatalog:
        known = LicenseCatalog(self.builtin.all())
        self._unique([(("licenses", i, "spdx_id"), lic.spdx_id) for i, lic in enumerate(self.doc.licenses)],
                     "license", fold=True)
        for i, lic in enumerate(self.doc.licenses):
            try:
                builtin = self.builtin.get(lic.spdx_id)
            except UnknownLicenseError:
                builtin = None
            # Same terms as built in is harmless; other terms would silently change every dataset using it.
            # Where the terms were read (source, the card id) is no term: a copy of a built-in row made before
            # those columns existed still has the same terms.
            if builtin is not None and lic.model_dump(exclude=_NOT_TERMS) != builtin.model_dump(exclude=_NOT_TERMS):
                self.problems.append(Problem(("licenses", i, "spdx_id"), (
                    f"{lic.spdx_id} is a built-in license and cannot be redefined with other terms here; remove "
                    "this entry, or give your terms their own LicenseRef-... id")))
            known.add(lic)
        return known

    def _dataset(self, loc: Loc, ds: DatasetSpec, licenses: LicenseCatalog, consents: set[str]) -> None:
        if ds.license is not None and "licenses" not in self.incomplete:
            try:
                licenses.get(ds.license)
            except UnknownLicenseError as exc:
                self.problems.append(Problem((*loc, "license"), str(exc)))
        for j, ref in enumerate(ds.consent_records):
            if ref not in consents and not self.allow_external and "consent_records" not in self.incomplete:
                hint = self._hint(ref, consents)
                self.problems.append(Problem((*loc, "consent_records", j), (
                    f"consent record {ref!r} is not declared under consent_records:.{hint}")))

    def _inputs(self, loc: Loc, inputs: list[str], datasets: dict[str, Loc]) -> None:
        if self.allow_external or self.incomplete & {"datasets", "derivations"}:
            return
        for j, ref in enumerate(inputs):
            if ref not in datasets:
                hint = self._hint(ref, datasets)
                self.problems.append(Problem((*loc, j), (
                    f"input {ref!r} is not a dataset of this file (under datasets: or a derivation's outputs).{hint}"
                    " To refer to a dataset already in Atlas, apply with external references allowed.")))

    def _run_inputs(self, loc: Loc, inputs: list[str], datasets: dict[str, Loc], models: dict[str, Loc]) -> None:
        """A run reads datasets and models (base models, teachers) of this file, or of Atlas when allowed."""
        if self.allow_external or self.incomplete & {"datasets", "derivations", "models", "training_runs"}:
            return
        for j, ref in enumerate(inputs):
            if ref not in datasets and ref not in models:
                hint = self._hint(ref, {*datasets, *models})
                self.problems.append(Problem((*loc, j), (
                    f"input {ref!r} is neither a dataset nor a model of this file (datasets: under datasets: or a "
                    f"derivation's outputs; models: under models: or a training run's outputs).{hint} To start "
                    "from a base model, declare it under models:; to refer to a dataset or model already in "
                    "Atlas, apply with --allow-external-refs.")))

    def _run_cycles(self) -> None:
        """A run that reads a model made by itself, or by a run that reads its outputs: a fine-tune cycle."""
        runs = self.doc.training_runs
        producer: dict[str, int] = {}
        for i, run in enumerate(runs):
            for out in run.outputs:
                producer.setdefault(out.qualified_name if isinstance(out, ModelSpec) else out, i)
        feeds: list[list[int]] = [[] for _ in runs]
        for i, run in enumerate(runs):
            for qn in run.inputs:
                if qn in producer:
                    feeds[producer[qn]].append(i)
        component = strongly_connected(feeds)
        for i, run in enumerate(runs):
            for j, qn in enumerate(run.inputs):
                k = producer.get(qn)
                if k is not None and (k == i or component[k] == component[i]):
                    self.problems.append(Problem(("training_runs", i, "inputs", j), (
                        f"input {qn!r} is produced by this training run or by one that starts from its "
                        "outputs: a cycle; a model cannot be its own ancestor")))

    def _cycles(self) -> None:
        # A derivation output that is also under datasets: is a duplicate (reported as such), not a cycle.
        declared = {ds.qualified_name for ds in self.doc.datasets}
        producer = {ds.qualified_name: i for i, d in enumerate(self.doc.derivations) for ds in d.outputs
                    if ds.qualified_name not in declared}
        # An input read from derivation k closes a cycle when k is this derivation, or when k and this one
        # reach each other: they are in one strongly connected component of the "feeds" graph.
        feeds: list[list[int]] = [[] for _ in self.doc.derivations]
        for i, d in enumerate(self.doc.derivations):
            for qn in d.inputs:
                if qn in producer:
                    feeds[producer[qn]].append(i)
        component = strongly_connected(feeds)
        for i, d in enumerate(self.doc.derivations):
            for j, qn in enumerate(d.inputs):
                k = producer.get(qn)
                if k is not None and (k == i or component[k] == component[i]):
                    self.problems.append(Problem(("derivations", i, "inputs", j), (
                        f"input {qn!r} is produced by this derivation or one that reads its outputs: a cycle")))

    def _model_licenses(self, licenses: LicenseCatalog) -> None:
        """A model's `license:` must be built in or declared under `licenses:`, as a dataset's."""
        if "licenses" in self.incomplete:
            return
        specs: list[tuple[Loc, ModelSpec]] = [(("models", i), m) for i, m in enumerate(self.doc.models)]
        specs += [(("training_runs", i, "outputs", j), m) for i, run in enumerate(self.doc.training_runs)
                  for j, m in enumerate(run.outputs) if isinstance(m, ModelSpec)]
        for loc, model in specs:
            if model.license is not None:
                try:
                    licenses.get(model.license)
                except UnknownLicenseError as exc:
                    self.problems.append(Problem((*loc, "license"), str(exc)))

    def _models(self) -> None:
        declared = self._unique([(("models", i, "qualified_name"), m.qualified_name)
                                 for i, m in enumerate(self.doc.models)], "model")
        inline: list[tuple[Loc, str]] = []
        # Models a run reads (base models, teachers) or an evaluation certifies are used, as are those runs produce.
        referenced = ({qn for run in self.doc.training_runs for qn in run.inputs}
                      | {e.model for e in self.doc.evaluations})
        producers = [("training_runs", i, run.outputs) for i, run in enumerate(self.doc.training_runs)]
        producers += [("evaluations", i, e.outputs) for i, e in enumerate(self.doc.evaluations)]
        for section, i, outputs in producers:
            for j, out in enumerate(outputs):
                if isinstance(out, ModelSpec):
                    inline.append(((section, i, "outputs", j, "qualified_name"), out.qualified_name))
                elif out in declared:
                    referenced.add(out)
                elif "models" not in self.incomplete:
                    hint = self._hint(out, declared)
                    self.problems.append(Problem((section, i, "outputs", j), (
                        f"model {out!r} is not declared under models: (write the model inline, or declare "
                        f"it there).{hint}")))
        first = dict(declared)
        for loc, qn in inline:
            if qn in first:
                self.problems.append(Problem(loc, f"duplicate model {qn!r}: already declared at "
                                                  f"{loc_to_path(first[qn][:-1])}", see=first[qn]))
            else:
                first[qn] = loc
        for i, m in enumerate(self.doc.models):
            if self.incomplete & {"training_runs", "evaluations"}:
                break  # a left-out run may be the one that produces it
            if m.qualified_name not in referenced and declared.get(m.qualified_name) == ("models", i, "qualified_name"):
                self.problems.append(Problem(("models", i), (
                    f"model {m.qualified_name!r} is neither the output nor an input of any training run or "
                    "evaluation in this file; list it in the outputs of the run that produced it, or in the inputs "
                    "of a run that starts from it (a base model)")))

    def _evaluations(self, datasets: dict[str, Loc]) -> None:
        self._unique([(("evaluations", i, "run_id"), e.run_id) for i, e in enumerate(self.doc.evaluations)],
                     "evaluation")
        models = {m.qualified_name for m in self.doc.models}
        models |= {o.qualified_name for section in (self.doc.training_runs, self.doc.evaluations) for p in section
                   for o in p.outputs if isinstance(o, ModelSpec)}
        for i, e in enumerate(self.doc.evaluations):
            self._inputs(("evaluations", i, "datasets"), e.datasets, datasets)
            if e.model not in models and not self.allow_external and not self.incomplete & {
                    "models", "training_runs", "evaluations"}:
                hint = self._hint(e.model, models)
                self.problems.append(Problem(("evaluations", i, "model"), (
                    f"model {e.model!r} is not a model of this file (under models: or a run's outputs).{hint} To "
                    "evaluate a model already in Atlas, apply with external references allowed.")))
