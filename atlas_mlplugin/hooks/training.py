"""`track_training`: record any Python training code (scikit-learn, PyTorch, plain Python) in Atlas.

    with track_training("train classifier", inputs=["s3://lab/faces/v1"], params={"lr": 0.01}) as run:
        model = fit(...)
        save(model, "out/model.pt")
        run.set_model(path="out/model.pt", name="classifier")

A fine-tune names the model it starts from: `track_training(..., base_model="hf://meta-llama/Llama-3.1-8B")`
(or `run.add_input(name, model=True)`, e.g. the teacher of a distillation). The base model becomes an input of
the run, so its license terms and everything upstream of it reach the new model.

or as a decorator (`current_run()` gives the run inside). It records inputs, parameters, code revision
(git), start and end, status (FAILED when the body raises; the exception still propagates) and the model
artifact (path, sha256) as ml_training_run -> ml_model. It never raises into the training code and never
waits on a slow Atlas: what cannot be delivered now goes to the durable spool. With ATLAS_ML_TRANSPORT=kafka
(or atlas.ml.transport=kafka) the run goes to Atlas as hook notifications on its Kafka topic (transport/hooks.py).
"""

from __future__ import annotations

import contextvars
import subprocess
import threading
import uuid
from collections.abc import Callable
from contextlib import ContextDecorator
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from atlas_mlplugin import naming
from atlas_mlplugin.delivery.deliverer import Deliverer
from atlas_mlplugin.delivery.operations import OpKind, op_of
from atlas_mlplugin.delivery.spool import Spool, SpoolOp
from atlas_mlplugin.model import ModelSpec, TrainingRunSpec
from atlas_mlplugin.purposes import canonical_purpose
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)

_current: contextvars.ContextVar[TrainingRun | None] = contextvars.ContextVar("atlas_ml_run", default=None)


def current_run() -> TrainingRun | None:
    """The run being tracked in this context (for code inside a @track_training function)."""
    return _current.get()


def code_revision(directory: Path | None = None) -> str | None:
    """The git commit of the training code, with "-dirty" when it has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                              timeout=2, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=2, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


class TrainingRun:
    """What the training code tells us while it runs."""

    def __init__(self, name: str, run_id: str, inputs: list[str], params: dict[str, Any],
                 base_models: list[str] | None = None) -> None:
        self.name = name
        self.run_id = run_id
        self.inputs: list[str] = []
        self.model_inputs: list[str] = []
        for qualified_name in inputs:
            self.add_input(qualified_name)
        for qualified_name in base_models or []:
            self.add_input(qualified_name, model=True)
        self.params = {k: str(v) for k, v in params.items()}
        self.models: list[ModelSpec] = []

    def log_param(self, key: str, value: Any) -> None:
        self.params[key] = str(value)

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in params.items():
            self.log_param(key, value)

    def add_input(self, qualified_name: str, *, model: bool = False) -> None:
        """A dataset or model the run read: a qualifiedName, or a local path (relative paths are taken from the
        working directory now), named as naming.py names it, so each input is one however it is spelled.

        An input Atlas holds as an ml_model is recorded as a model wherever it is named; `model=True` (a base
        model, a teacher) records it as a model even before Atlas has it (then with no known license)."""
        qualified_name = naming.from_user(qualified_name)
        if qualified_name not in self.inputs:
            self.inputs.append(qualified_name)
        if model and qualified_name not in self.model_inputs:
            self.model_inputs.append(qualified_name)

    def set_model(self, *, path: str | Path | None = None, name: str | None = None,
                  qualified_name: str | None = None, type_of_model: str | None = None,
                  version: str | None = None) -> None:
        """The model this run produced; with a path, its sha256 is recorded when the run ends."""
        local = Path(path).resolve() if path is not None else None
        if qualified_name is None:
            qualified_name = local.as_uri() if local else f"ml-model:{name or self.name}"
        self.models.append(ModelSpec(
            qualified_name=qualified_name, name=name or (local.name if local else self.name),
            type_of_model=type_of_model, version=version,
            download_location=local.as_uri() if local else None, local_path=local,
        ))


class track_training(ContextDecorator):  # noqa: N801 - reads as a verb at the call site, like contextlib's
    def __init__(self, name: str, *, inputs: list[str] | None = None, params: dict[str, Any] | None = None,
                 purpose: str | None = None, framework: str | None = None, run_id: str | None = None,
                 base_model: str | list[str] | None = None, deliverer: Deliverer | None = None) -> None:
        """`base_model`: the model(s) this run fine-tunes or distils from (qualifiedNames, e.g. hf://org/name,
        or local paths), recorded as inputs of the run."""
        self.name = name
        self._inputs = inputs or []
        self._base_models = [base_model] if isinstance(base_model, str) else list(base_model or [])
        self._params = params or {}
        # Checked here, before training starts: a misspelt purpose found at the end would lose the run's record.
        self._purpose = canonical_purpose(purpose) if purpose is not None else None
        self._framework = framework
        self._run_id = run_id
        self._deliverer = deliverer
        self._token: contextvars.Token[TrainingRun | None] | None = None
        self._started: datetime | None = None
        self._revision: str | None = None
        self.run: TrainingRun | None = None

    def __enter__(self) -> TrainingRun:
        # A fresh run per entry, so a decorated function called twice records two runs.
        self.run = TrainingRun(self.name, self._run_id or uuid.uuid4().hex, self._inputs, self._params,
                               self._base_models)
        self._started = datetime.now(timezone.utc)
        self._revision = code_revision()  # once per run: both records name the same code
        self._token = _current.set(self.run)
        self._submit("RUNNING", None)
        return self.run

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if self._token is not None:
            _current.reset(self._token)
        if exc_type is None:
            self._submit("COMPLETED", None)
        else:
            self._submit("FAILED", f"{exc_type.__name__}: {exc}"[:2000])
        return False  # the training code's exception, if any, propagates unchanged

    def _submit(self, status: str, error: str | None) -> None:
        run = self.run
        assert run is not None
        try:
            ended = datetime.now(timezone.utc) if status != "RUNNING" else None
            # The model's sha256 is taken off this thread by the deliverer, right after the op is spooled; a run
            # that did not complete names no file to fingerprint (it may never have been written).
            models = [m if status == "COMPLETED" else m.model_copy(update={"local_path": None}) for m in run.models]
            spec = TrainingRunSpec(
                run_id=run.run_id, name=run.name, inputs=run.inputs, model_inputs=run.model_inputs, outputs=models,
                status=status,  # type: ignore[arg-type]
                start_time=self._started, end_time=ended, code_revision=self._revision,
                processing_purpose=self._purpose, hyperparameters=run.params, framework=self._framework,
                error_message=error,
            )
            deliverer = self._deliverer or default_deliverer()
            deliverer.submit(op_of(OpKind.RECORD_TRAINING_RUN, spec))
        except Exception:  # noqa: BLE001 - recording lineage must never break training
            log.exception("atlas-mlplugin could not record training run %r (%s); training goes on",
                          run.name, status)


_default: Deliverer | None = None
_default_lock = threading.Lock()


def default_deliverer() -> Deliverer:
    """One per process: the configured Atlas (or the local one), fail-fast, backed by the default spool, writing
    through the configured transport (`rest`, or `kafka`: Atlas's hook topic; transport/registry.py TRANSPORTS).

    Never raises: a configuration that names no usable Atlas still spools (delivered once it is fixed, by
    the next run or `atlas-ml spool flush`), and an unusable spool directory falls back to another one
    (spool.open_spool) or, when none can be used, to direct delivery only."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Deliverer(_default_spool(), _default_handler())
        return _default


def _default_spool() -> Spool | None:
    from atlas_mlplugin.delivery.spool import open_spool

    try:
        return open_spool()
    except OSError as exc:
        log.error("atlas-mlplugin has no usable spool directory (%s): governance writes go to Atlas directly "
                  "and are lost when it does not take them", exc)
        return None


def _default_handler() -> Callable[[SpoolOp], None]:
    try:
        from atlas_mlplugin.atlas.client import AtlasClient
        from atlas_mlplugin.atlas.connect import resolve_settings
        from atlas_mlplugin.delivery.deliverer import fail_fast
        from atlas_mlplugin.governance.registry import GovernanceRegistry
        from atlas_mlplugin.server.discovery import use_local_server
        from atlas_mlplugin.transport.registry import transport_handler
        from atlas_mlplugin.transport.settings import transport_name

        client = AtlasClient(fail_fast(resolve_settings(fallback=use_local_server)))
        # The configured transport (ATLAS_ML_TRANSPORT / atlas.ml.transport): REST, or Atlas's hook topic. The
        # kafka one still reads over REST (what exists), so it gets the same client.
        return transport_handler(transport_name(), GovernanceRegistry(client))
    except Exception as exc:  # noqa: BLE001 - e.g. an invalid ATLAS_* value: keep the writes until it is fixed
        from atlas_mlplugin.atlas.errors import ConfigError

        problem = exc if isinstance(exc, ConfigError) else ConfigError(
            f"atlas-mlplugin cannot connect to Atlas: {type(exc).__name__}: {exc}",
            hint="fix the Atlas settings (ATLAS_URL, ATLAS_USER, ...); spooled writes are delivered afterwards")
        log.error("%s; governance writes are kept in the spool until it is fixed", str(problem).splitlines()[0])

        def unconfigured(op: SpoolOp) -> None:
            raise problem  # a ConfigError keeps every op spooled, in order (delivery/transient.py)

        return unconfigured
