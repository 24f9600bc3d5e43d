"""MLflow's records -> our training run specs: pure functions over MLflow's own entity classes (Run,
DatasetInput, LoggedModel, ModelVersion), no server. `sync/mlflow.py` reads them and writes the specs.

What becomes what:
- a run -> a training run `ml-run:mlflow-<run_id>`: name, status, start/end time, params (as
  hyperparameters, secrets masked), code version (tag `mlflow.source.git.commit`), processing purpose (tag
  `processing_purpose`, a DPV purpose);
- its datasets logged with `mlflow.log_input` -> its inputs, named as Spark, the catalog and the API name
  the same path or table (naming.py). A source no name can be given to (a SQL query, a table without its
  catalog's location, code) -> an unresolved input, so the run's lineage is marked incomplete. Datasets
  logged with an evaluation context (eval, test) are not training inputs: a version registered from a model
  the run logged is that model certified on them, the output of an evaluation run (ml-eval:mlflow-<run_id>,
  with the run's metrics); without such a version they are listed in the report;
- its logged models (MLflow 3 LoggedModel, or MLflow 2's `mlflow.log-model.history` tag) and the registered
  model versions it produced -> its output models;
- base models -> more inputs: a `base_model` tag or param on the run, a logged model or a model version; a
  model version whose `source` is another model (`models:/<name>/<version>`, `runs:/...`, `hf://...`); and
  MLflow's own model inputs of a run. A model's license: its `license` tag (model version, then logged model,
  then run).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from atlas_mlplugin import naming
from atlas_mlplugin.model import EvaluationRunSpec, ModelSpec, TrainingRunSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.purposes import canonical_purposes
from atlas_mlplugin.scrubbing import MASK, scrub_text

if TYPE_CHECKING:  # MLflow is an optional extra; the mapping only reads attributes of its entities
    from mlflow.entities import DatasetInput, LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion

# Tags and params the team sets in MLflow (README, "MLflow").
BASE_MODEL_KEY = "base_model"
LICENSE_KEY = "license"
PURPOSE_KEY = "processing_purpose"
# MLflow's own keys.
CONTEXT_TAG = "mlflow.data.context"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"  # MLflow 2: the models a run logged, as JSON
# Dataset contexts that are not training: data a model was evaluated on did not shape its weights
# (docs/policy.md, evaluation runs). Anything else (training, train, validation, none) counts as training.
EVALUATION_CONTEXTS = frozenset({"eval", "evaluation", "test", "testing"})

_HF_HUB = ("https://huggingface.co/", "https://hf.co/", "https://www.huggingface.co/")  # a Hub model's page
_STATUS = {"RUNNING": "RUNNING", "SCHEDULED": "RUNNING", "FINISHED": "COMPLETED", "FAILED": "FAILED",
           "KILLED": "ABORTED"}


@dataclass(frozen=True)
class DatasetRef:
    """One dataset a run logged: its Atlas name, or why it has none."""

    label: str  # what MLflow calls it, for messages
    context: str | None
    qualified_name: str | None = None
    unresolved: str | None = None


@dataclass
class RunMapping:
    """A run as a training run spec, and what could not be mirrored (for the summary)."""

    mlflow_run_id: str  # as MLflow shows it (the spec's run_id is mlflow-<it>)
    spec: TrainingRunSpec
    evaluation_datasets: list[str] = field(default_factory=list)  # evaluation data not mirrored, for the report
    evaluations: list[EvaluationRunSpec] = field(default_factory=list)


# A function giving the qualifiedName of a model named by an MLflow model URI (models:/name@alias,
# models:/m-<id>), which needs the server; None when it cannot be resolved.
ModelResolver = Callable[[str], str | None]


def millis_to_datetime(millis: int | None) -> datetime | None:
    return None if not millis else datetime.fromtimestamp(millis / 1000, tz=timezone.utc)


def dataset_ref(dataset_input: DatasetInput) -> DatasetRef:
    """The Atlas name of a dataset logged with mlflow.log_input, from its source (MLflow's
    DatasetSource JSON: a uri, url, path or table), or why it cannot be named."""
    dataset = dataset_input.dataset
    tags = {t.key: t.value for t in dataset_input.tags or []}
    context = tags.get(CONTEXT_TAG)
    label = f"MLflow dataset {dataset.name!r} (source type {dataset.source_type})"
    try:
        source = json.loads(dataset.source or "{}")
    except json.JSONDecodeError:
        source = {}
    if not isinstance(source, dict):
        source = {}

    def named(qualified_name: str) -> DatasetRef:
        return DatasetRef(label, context, qualified_name=qualified_name)

    def unresolved(why: str) -> DatasetRef:
        return DatasetRef(label, context, unresolved=scrub_text(f"{label}: {why}"))

    kind = (dataset.source_type or "").lower()
    if kind in ("hugging_face", "huggingface"):
        repo = source.get("path")
        if isinstance(repo, str) and repo.strip():
            return named(naming.hf_dataset(repo))
        return unresolved("no repository id")
    for key in ("uri", "url", "path"):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            return named(naming.from_user(value))
    if source.get("table") or source.get("delta_table_name"):
        return unresolved("a table named without its catalog's location; log the table's path, or register "
                          "the run's inputs with `atlas-ml apply`")
    if source.get("sql"):
        return unresolved("a SQL query, which names no single dataset")
    return unresolved("a source with no path, URI or URL (e.g. data built in code)")


def hyperparameters(params: Mapping[str, str]) -> dict[str, str]:
    """A run's params with secret values masked: a param called `db_password` must not reach Atlas."""
    out = {}
    for key, value in params.items():
        text = f"{key}={value}"
        scrubbed = scrub_text(text)
        out[key] = MASK if scrubbed != text else value
    return out


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def model_uri_name(uri: str, tracking_uri: str, resolve: ModelResolver | None = None) -> str | None:
    """The qualifiedName of a model named by a base_model value or a version's source: `models:/<name>/<version>`,
    `runs:/<run_id>/<path>`, `hf://<repo>`, a models:/ alias or id (through `resolve`), else the name as
    given (an ml_model already in Atlas). None for an empty value."""
    uri = uri.strip()
    if not uri:
        return None
    if uri.startswith("models:/"):
        rest = uri[len("models:/"):].strip("/")
        parts = rest.split("/")
        if len(parts) == 2 and "@" not in rest and parts[1].isdigit():
            return naming.mlflow_model_version(tracking_uri, parts[0], parts[1])
        return resolve(uri) if resolve is not None else None
    if uri.startswith("runs:/"):
        run_id, _, path = uri[len("runs:/"):].strip("/").partition("/")
        return naming.mlflow_logged_model(tracking_uri, run_id, path) if run_id and path else None
    if uri.lower().startswith((naming.HF_MODEL_PREFIX, *_HF_HUB)):
        return naming.hf_model(uri)  # named as `atlas-ml import card` names the Hub's models
    return naming.from_user(uri)


def _license(*tag_sets: Mapping[str, str]) -> str | None:
    for tags in tag_sets:
        value = (tags.get(LICENSE_KEY) or "").strip()
        if value:
            return value
    return None


def _model_spec(qualified_name: str, name: str, *, license_id: str | None, **fields: Any) -> ModelSpec:
    # No license tag: None, which leaves the license Atlas holds for the model as it is.
    values: dict[str, Any] = {"qualified_name": qualified_name, "name": name, "license": license_id, **fields}
    return ModelSpec.model_validate({k: v for k, v in values.items() if v is not None},
                                    context={NAMES_NORMALIZED: True})


def _logged_models_of(run: Run, logged: Iterable[LoggedModel]) -> list[tuple[str, str | None, dict[str, str],
                                                                             dict[str, str], str | None]]:
    """(artifact path, model type, tags, params, model id) of each model the run logged: MLflow 3 logged
    models, then MLflow 2's history tag for models the first do not list."""
    found = [(m.name, m.model_type, dict(m.tags or {}), dict(m.params or {}), m.model_id) for m in logged]
    known = {f[0] for f in found}
    try:
        history = json.loads(run.data.tags.get(LOG_MODEL_HISTORY_TAG) or "[]")
    except json.JSONDecodeError:
        history = []
    for entry in history if isinstance(history, list) else []:
        path = entry.get("artifact_path") if isinstance(entry, dict) else None
        if isinstance(path, str) and path and path not in known:
            known.add(path)
            flavors = entry.get("flavors") or {}
            flavor = next((f for f in flavors if f != "python_function"), None) or next(iter(flavors), None)
            found.append((path, flavor, {}, {}, None))
    return found


def run_mapping(run: Run, *, tracking_uri: str, logged_models: Iterable[LoggedModel] = (),
                model_versions: Iterable[ModelVersion] = (), resolve: ModelResolver | None = None,
                model_ids: Mapping[str, str] | None = None) -> RunMapping:
    """The training run spec of one MLflow run. `logged_models` and `model_versions` are those whose source
    run is this one; `model_ids` maps logged model ids to their qualifiedNames (for model inputs and version
    sources); `resolve` resolves the model URIs that need the server."""
    info, data = run.info, run.data
    tags = dict(data.tags or {})
    params = dict(data.params or {})
    ids = dict(model_ids or {})

    def model_name(uri: str) -> str | None:
        if uri.startswith("models:/") and uri[len("models:/"):].strip("/") in ids:
            return ids[uri[len("models:/"):].strip("/")]
        return model_uri_name(uri, tracking_uri, resolve)

    inputs: list[str] = []
    unresolved: list[str] = []
    evaluation: list[str] = []
    evaluation_data: list[str] = []  # evaluation datasets with a name
    for dataset_input in (run.inputs.dataset_inputs if run.inputs else None) or []:
        ref = dataset_ref(dataset_input)
        if (ref.context or "").lower() in EVALUATION_CONTEXTS:
            evaluation.append(ref.qualified_name or ref.label)
            if ref.qualified_name is not None:
                evaluation_data.append(ref.qualified_name)
        elif ref.qualified_name is not None:
            inputs.append(ref.qualified_name)
        elif ref.unresolved is not None:
            unresolved.append(ref.unresolved)

    bases: list[str] = []

    def base(value: str, where: str) -> None:
        name = model_name(value)
        if name is None:
            unresolved.append(scrub_text(f"base model {value!r} ({where}) could not be resolved in MLflow"))
        else:
            bases.append(name)

    for value in _split(tags.get(BASE_MODEL_KEY)) + _split(params.get(BASE_MODEL_KEY)):
        base(value, f"{BASE_MODEL_KEY} of the run")
    for model_input in (getattr(run.inputs, "model_inputs", None) or []) if run.inputs else []:
        base(f"models:/{model_input.model_id}", "a model input of the run")

    outputs: list[ModelSpec] = []
    logged_licenses: dict[str, str | None] = {}  # this run's logged models: qualifiedName -> license
    for path, model_type, m_tags, m_params, model_id in _logged_models_of(run, logged_models):
        qualified_name = naming.mlflow_logged_model(tracking_uri, info.run_id, path)
        if model_id:
            ids[model_id] = qualified_name
        logged_licenses[qualified_name] = _license(m_tags, tags)
        for value in _split(m_tags.get(BASE_MODEL_KEY)) + _split(m_params.get(BASE_MODEL_KEY)):
            base(value, f"{BASE_MODEL_KEY} of logged model {path!r}")
        where = f"models:/{model_id}" if model_id else f"runs:/{info.run_id}/{path}"
        outputs.append(_model_spec(qualified_name, path, license_id=logged_licenses[qualified_name],
                                   type_of_model=model_type, download_location=where,
                                   description=f"Logged by MLflow run {info.run_id}"))
    # A version registered from a model this run logged and evaluated on named evaluation data is that model,
    # certified: the output of an evaluation run (model + evaluation datasets -> version), not of the training.
    certified: dict[str, list[ModelSpec]] = {}
    for version in model_versions:
        v_tags = dict(version.tags or {})
        label = f"model version {version.name}/{version.version}"
        for value in _split(v_tags.get(BASE_MODEL_KEY)):
            base(value, f"{BASE_MODEL_KEY} of {label}")
        source = (version.source or "").strip()
        registered_from = model_name(source) if source.startswith(("models:/", "runs:/", "hf://")) else None
        if registered_from is not None:
            # Registered from another model (a copied or derived version): its base. The run's own logged
            # model is an output, and outputs are dropped from the inputs below.
            bases.append(registered_from)
        version_spec = _model_spec(
            naming.mlflow_model_version(tracking_uri, version.name, version.version), version.name,
            license_id=_license(v_tags) or logged_licenses.get(registered_from or "") or _license(tags),
            version=str(version.version), download_location=f"models:/{version.name}/{version.version}",
            description=scrub_text(version.description) if version.description else None)
        if evaluation_data and registered_from in logged_licenses:
            certified.setdefault(str(registered_from), []).append(version_spec)
        else:
            outputs.append(version_spec)
    produced = {m.qualified_name for m in outputs} | {m.qualified_name for v in certified.values() for m in v}
    base_inputs = list(dict.fromkeys(b for b in bases if b not in produced))
    inputs += base_inputs
    purpose = (tags.get(PURPOSE_KEY) or "").strip() or None
    if purpose is not None:  # the spec below skips the vocabulary check (its names are normalised already)
        purpose = canonical_purposes([purpose])[0]
    spec = TrainingRunSpec.model_validate({
        "run_id": naming.mlflow_run_id(info.run_id),
        "name": info.run_name or info.run_id,
        "inputs": list(dict.fromkeys(inputs)),
        "unresolved_inputs": list(dict.fromkeys(unresolved)),
        "outputs": outputs,
        "status": _STATUS.get(str(info.status).upper(), "RUNNING"),
        "start_time": millis_to_datetime(info.start_time),
        "end_time": millis_to_datetime(info.end_time),
        "code_revision": tags.get(GIT_COMMIT_TAG) or None,
        "processing_purpose": purpose,
        "hyperparameters": hyperparameters(params),
        "framework": "mlflow",
        # A base model Atlas does not hold yet is recorded as a model (with no known license), not as a dataset.
        "model_inputs": base_inputs,
    }, context={NAMES_NORMALIZED: True})
    evaluations = [EvaluationRunSpec.model_validate({
        "run_id": naming.mlflow_run_id(info.run_id) + (f"-{i}" if i else ""),
        "name": f"{info.run_name or info.run_id} (evaluation)",
        "model": model, "datasets": list(dict.fromkeys(evaluation_data)), "outputs": versions,
        "metrics": dict(data.metrics or {}), "status": spec.status, "start_time": spec.start_time,
        "end_time": spec.end_time, "code_revision": spec.code_revision,
    }, context={NAMES_NORMALIZED: True}) for i, (model, versions) in enumerate(certified.items())]
    return RunMapping(info.run_id, spec, evaluation_datasets=[] if evaluations else evaluation,
                      evaluations=evaluations)
