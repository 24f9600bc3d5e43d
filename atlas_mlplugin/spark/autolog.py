"""`autolog()`: record PySpark `Estimator.fit` / `Pipeline.fit` and model saves as training runs.

PySpark's Pipeline.fit is pure Python and posts none of the JVM's ML events, so a listener cannot see it.
The inputs come from the training DataFrame's analyzed plan leaves (plan.py: files, JDBC, catalog tables,
Delta and Iceberg tables), named by naming.py as the Spark listener names them, so they land on the same
Atlas datasets as the ETL lineage. Leaves no one can name (a checkpointed or in-memory DataFrame) are logged
and recorded as unresolved inputs, which marks the run's lineage incomplete rather than clean. The model
output is known when the model is saved; the run is then recorded again with the model (an idempotent
upsert).

A fit that starts from a trained model (a loaded PipelineModel as a stage of the new Pipeline, or a loaded model
as an estimator's parameter, e.g. an initial model) reads that model: models loaded with `Model.load(path)` are
remembered by path, named as a save of that path names its model (naming.from_path), so the new run's input is
the ml_model an earlier autologged save recorded, and the base model's tags reach the new model.

Like track_training, it never raises into the training code and never waits
on Atlas: writes go through the spool-backed deliverer, the default one (hooks/training.py default_deliverer)
unless one is given, so the configured transport (ATLAS_ML_TRANSPORT: REST or Atlas's Kafka) applies here too.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import uuid
import weakref
from datetime import datetime, timezone
from typing import Any

from atlas_mlplugin import naming
from atlas_mlplugin.delivery.deliverer import Deliverer
from atlas_mlplugin.delivery.operations import OpKind, op_of
from atlas_mlplugin.model import ModelSpec, TrainingRunSpec
from atlas_mlplugin.scrubbing import logger
from atlas_mlplugin.spark.plan import PlanSources, read_plan

log = logger(__name__)

_inside_fit: contextvars.ContextVar[bool] = contextvars.ContextVar("atlas_ml_inside_fit", default=False)
_runs: weakref.WeakKeyDictionary[Any, TrainingRunSpec] = weakref.WeakKeyDictionary()
_originals: dict[str, Any] = {}
_loaded: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()  # loaded model -> its qualifiedName
_deliverer: Deliverer | None = None


def _sources(dataset: Any, what: str) -> PlanSources:
    """The fit's inputs; what cannot be named is logged, with why, and kept as unresolved."""
    try:
        sources = read_plan(dataset)
    except Exception as exc:  # noqa: BLE001 - lineage capture must never break training
        log.debug("atlas-mlplugin: cannot read the plan of %s's DataFrame", what, exc_info=True)
        sources = PlanSources(unresolved=[f"the DataFrame's plan could not be read ({type(exc).__name__}: {exc})"])
    if sources.unresolved:
        log.warning("atlas-mlplugin: %s reads data it cannot name, so its model is marked IncompleteLineage "
                    "until its data is recorded: %s", what, "; ".join(sources.unresolved))
    return sources


def _params(estimator: Any) -> dict[str, str]:
    try:
        return {p.name: str(v) for p, v in estimator.extractParamMap().items()
                if isinstance(v, (str, int, float, bool))}
    except Exception:  # noqa: BLE001
        return {}


def _models_read(estimator: Any) -> list[str]:
    """qualifiedNames of the loaded models a fit starts from: stages of a Pipeline (nested ones too) and
    parameter values (an initial model). Models made in this process and never saved have no name: not listed."""
    found: list[str] = []
    todo = [estimator]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        with contextlib.suppress(TypeError):
            name = _loaded.get(current)
            if name is not None and current is not estimator:
                found.append(name)
                continue  # its own stages were loaded with it (under its path): the model is the input
        with contextlib.suppress(Exception):
            todo += list(current.getStages()) if hasattr(current, "getStages") else []
        with contextlib.suppress(Exception):
            todo += [v for v in current.extractParamMap().values() if not isinstance(v, (str, int, float, bool))]
        with contextlib.suppress(Exception):
            todo += list(getattr(current, "stages", None) or [])  # a PipelineModel's fitted stages
    return list(dict.fromkeys(found))


def _wrap_load(original: Any) -> Any:
    """MLReadable.load (a classmethod) that remembers a loaded model's path."""
    function = original.__func__

    @functools.wraps(function)
    def load(cls: Any, path: str) -> Any:
        instance = function(cls, path)
        try:
            from pyspark.ml.base import Model

            if isinstance(instance, Model):
                _loaded[instance] = naming.from_path(path).qualified_name
        except Exception:  # noqa: BLE001 - lineage capture must never break training
            log.debug("atlas-mlplugin: cannot remember the model loaded from %s", path, exc_info=True)
        return instance

    return classmethod(load)


def _submit(spec: TrainingRunSpec) -> None:
    try:
        deliverer = _deliverer
        if deliverer is None:
            from atlas_mlplugin.hooks.training import default_deliverer

            deliverer = default_deliverer()
        deliverer.submit(op_of(OpKind.RECORD_TRAINING_RUN, spec))
    except Exception:  # noqa: BLE001 - lineage capture must never break training
        log.exception("atlas-mlplugin could not record PySpark training run %s", spec.name)


def _wrap_fit(original: Any) -> Any:
    @functools.wraps(original)
    def fit(self: Any, dataset: Any, params: Any = None) -> Any:
        if _inside_fit.get():  # a Pipeline's stages: the Pipeline's own fit records the run
            return original(self, dataset, params)
        token = _inside_fit.set(True)
        started = datetime.now(timezone.utc)
        sources = _sources(dataset, f"{type(self).__name__}.fit")
        try:
            models = _models_read(self)
        except Exception:  # noqa: BLE001 - lineage capture must never break training
            models = []
        spec = TrainingRunSpec(run_id=uuid.uuid4().hex, name=f"{type(self).__name__}.fit", inputs=sources.names,
                               model_inputs=models, unresolved_inputs=sources.unresolved, start_time=started,
                               hyperparameters=_params(self), framework="pyspark.ml")
        try:
            model = original(self, dataset, params)
        except BaseException as exc:
            _submit(spec.model_copy(update={"status": "FAILED", "end_time": datetime.now(timezone.utc),
                                            "error_message": f"{type(exc).__name__}: {exc}"[:2000]}))
            raise
        finally:
            _inside_fit.reset(token)
        done = spec.model_copy(update={"status": "COMPLETED", "end_time": datetime.now(timezone.utc),
                                       "name": f"{type(self).__name__}.fit -> {type(model).__name__}"})
        with contextlib.suppress(TypeError, AttributeError):  # no weakref or write(): no save tracking
            _runs[model] = done
            _watch_saves(model)
        _submit(done)
        return model

    return fit


def _record_save(instance: Any, path: str) -> None:
    run = _runs.get(instance) if instance is not None else None
    if run is None:
        return
    qualified_name = naming.from_path(path).qualified_name
    model = ModelSpec(qualified_name=qualified_name, name=naming.display_name(qualified_name),
                      type_of_model=type(instance).__name__, download_location=qualified_name)
    _submit(run.model_copy(update={"outputs": [*run.outputs, model]}))


def _watch_saves(model: Any) -> None:
    """Record the model's path when it is saved, by either model.save(path) or model.write()...save(path).

    Model classes override write() and their writers override save(), so the hook goes on this instance:
    model.save(path) is self.write().save(path), and both forms go through the instance's write()."""
    original_write = model.write

    def write() -> Any:
        writer = original_write()
        original_save = writer.save

        def save(path: str) -> Any:
            result = original_save(path)
            try:
                _record_save(model, path)
            except Exception:  # noqa: BLE001 - lineage capture must never break training
                log.exception("atlas-mlplugin could not record the saved model at %s", path)
            return result

        writer.save = save
        return writer

    model.write = write


def autolog(*, deliverer: Deliverer | None = None) -> None:
    """Record every PySpark ML fit (and the saved model) from now on; idempotent."""
    from pyspark.ml.base import Estimator
    from pyspark.ml.util import MLReadable

    global _deliverer
    _deliverer = deliverer
    if _originals:
        return
    _originals["fit"] = Estimator.fit
    Estimator.fit = _wrap_fit(Estimator.fit)  # type: ignore[method-assign]
    _originals["load"] = MLReadable.__dict__["load"]
    MLReadable.load = _wrap_load(_originals["load"])  # type: ignore[method-assign, assignment]


def disable_autolog() -> None:
    from pyspark.ml.base import Estimator
    from pyspark.ml.util import MLReadable

    if _originals:
        Estimator.fit = _originals.pop("fit")  # type: ignore[method-assign]
        MLReadable.load = _originals.pop("load")  # type: ignore[method-assign]
