"""`atlas-ml sync mlflow`: mirror an MLflow tracking server's runs, logged models and registered model
versions into Atlas, with their lineage (datasets logged with mlflow.log_input, base models).

Reading uses MLflow's own client (any tracking URI it takes: http(s) servers, sqlite:///..., databricks);
`mlflow_mapping.py` turns what it reads into training run specs; writing goes through the catalog's apply
(catalog/apply.py), which reads what Atlas holds first and writes only what differs. So a second sync writes
nothing, a run whose params or status changed is updated, and a crash half-way is repaired by the next
sync. No high-water mark is kept: MLflow has no "last changed" time for a run (a tag, a param, a registered
version or a status can change long after the run started), so a mark could skip changes; reading every
run of the chosen experiments and comparing is what keeps the result right, and the comparison is a few
bulk reads.

Runs are written in batches (sorted by start time, so the run that produced a base model is written before
the run that fine-tuned it); a batch that fails is retried run by run, so one bad run is reported and the
others go through. Syncs of one tracking URI take a file lock: two cron jobs do not interleave.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atlas_mlplugin import naming
from atlas_mlplugin.catalog.apply import ApplyEntry, apply_catalog
from atlas_mlplugin.catalog.document import CatalogDocument
from atlas_mlplugin.errors import AtlasMlError
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.scrubbing import logger, scrub_text, scrub_uri
from atlas_mlplugin.sync.mlflow_mapping import RunMapping, run_mapping

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModel, Run
    from mlflow.entities.model_registry import ModelVersion

    from atlas_mlplugin.catalog.apply import Registry

log = logger(__name__)

RUNS_PER_BATCH = 50
PAGE = 1000


class MlflowSyncError(AtlasMlError):
    """MLflow cannot be read (not installed, the tracking URI unreachable, an experiment that does not exist)."""


class SyncBusyError(AtlasMlError):
    """Another sync of the same tracking URI holds the lock."""


def mlflow_client(tracking_uri: str, registry_uri: str | None = None) -> MlflowClient:
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise MlflowSyncError("MLflow's client is not installed: pip install 'atlas-mlplugin[mlflow]'") from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


# --- the summary ------------------------------------------------------------------------------------------
@dataclass
class SyncReport:
    tracking_uri: str  # without credentials
    dry_run: bool = False
    runs_seen: int = 0
    entries: list[ApplyEntry] = field(default_factory=list)
    # By MLflow run id, as MLflow shows it:
    failed: list[tuple[str, str]] = field(default_factory=list)  # (run, why)
    incomplete: list[tuple[str, list[str]]] = field(default_factory=list)  # (run, unresolved inputs)
    evaluation: list[tuple[str, list[str]]] = field(default_factory=list)  # (run, evaluation datasets)
    notes: list[str] = field(default_factory=list)
    writes: int = 0
    version_names: set[str] = field(default_factory=set)  # qualifiedNames of registered model versions

    def kind(self, entry: ApplyEntry) -> str:
        if entry.kind == "training run":
            return "run"
        if entry.kind == "model":
            return "model version" if entry.qualified_name in self.version_names else "logged model"
        return entry.kind

    def counts(self, kind: str) -> dict[str, int]:
        chosen = [e for e in self.entries if self.kind(e) == kind]
        return {a: sum(1 for e in chosen if e.action == a) for a in ("created", "updated", "unchanged")}

    def summary(self) -> str:
        runs, logged, versions = (self.counts(k) for k in ("run", "logged model", "model version"))

        def part(label: str, c: dict[str, int]) -> str:
            return f"{label} {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged"

        head = f"runs seen {self.runs_seen}: {runs['created']} created, {runs['updated']} updated, " \
               f"{runs['unchanged']} unchanged, {len(self.failed)} failed"
        evaluations = self.counts("evaluation")
        parts = [head, part("logged models", logged), part("model versions", versions)]
        parts += [part("evaluations", evaluations)] if sum(evaluations.values()) else []
        return "; ".join([*parts, f"{len(self.incomplete)} with incomplete lineage", f"{self.writes} write requests"])

    def lines(self) -> list[str]:
        out = ["dry run: nothing was written to Atlas"] if self.dry_run else []
        out += [f"{e.action} {self.kind(e)} {e.qualified_name}" + (f" ({', '.join(e.changes)})" if e.changes else "")
                for e in self.entries if e.action != "unchanged"]
        out += [f"incomplete lineage: MLflow run {run}: {'; '.join(why)}" for run, why in self.incomplete]
        out += [f"not a training input (evaluation data): MLflow run {run}: {', '.join(names)}"
                for run, names in self.evaluation]
        out += [f"failed: MLflow run {run}: {why}" for run, why in self.failed]
        out += self.notes
        out.append(self.summary())
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri, "dry_run": self.dry_run, "writes": self.writes,
            "runs": {"seen": self.runs_seen, **self.counts("run"), "failed": len(self.failed)},
            "logged_models": self.counts("logged model"), "model_versions": self.counts("model version"),
            "evaluations": self.counts("evaluation"),
            "entries": [{"kind": self.kind(e), "qualified_name": e.qualified_name, "action": e.action,
                         "changes": list(e.changes), "guid": e.guid} for e in self.entries],
            "incomplete": [{"run": r, "unresolved_inputs": w} for r, w in self.incomplete],
            "evaluation_datasets": [{"run": r, "datasets": d} for r, d in self.evaluation],
            "failed": [{"run": r, "error": w} for r, w in self.failed],
            "notes": self.notes,
        }


# --- reading MLflow --------------------------------------------------------------------------------------
def _pages(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


@dataclass
class TrackingSnapshot:
    """What the sync reads of one tracking server: the chosen experiments' runs, their logged models, and
    the registered model versions."""

    runs: list[Run]
    logged_models: list[LoggedModel]
    versions: list[ModelVersion]
    notes: list[str]


def read_tracking(client: MlflowClient, experiments: list[str], tracking_uri: str) -> TrackingSnapshot:
    from mlflow.exceptions import MlflowException

    try:
        if experiments:
            found = []
            for name in experiments:
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    raise MlflowSyncError(f"no MLflow experiment named {name!r} on this tracking server; "
                                          "`mlflow experiments search` lists them")
                found.append(experiment)
        else:
            found = list(_pages(lambda token: client.search_experiments(max_results=PAGE, page_token=token)))
        ids = [e.experiment_id for e in found]
        runs: list[Run] = []
        for start in range(0, len(ids), 100):  # MLflow takes at most 100 experiment ids per search
            chunk = ids[start:start + 100]
            runs += _pages(lambda token, chunk=chunk: client.search_runs(chunk, max_results=PAGE, page_token=token))
    except MlflowException as exc:
        raise MlflowSyncError(scrub_text(f"cannot read MLflow at {scrub_uri(tracking_uri)}: {exc.message}; check "
                                         "--tracking-uri, that the server is up and the credentials in "
                                         "MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN")) from exc
    notes: list[str] = []
    logged: list[LoggedModel] = []
    try:
        for start in range(0, len(ids), 100):
            chunk = ids[start:start + 100]
            logged += _pages(lambda token, chunk=chunk: client.search_logged_models(
                chunk, max_results=PAGE, page_token=token))
    except MlflowException as exc:  # an MLflow 2 server: models come from the runs' history tag
        notes.append(scrub_text(f"logged models not listed by this server ({exc.error_code}); models of "
                                "MLflow 2 runs are read from their mlflow.log-model.history tag"))
    versions: list[ModelVersion] = []
    try:
        versions = list(_pages(lambda token: client.search_model_versions(max_results=PAGE, page_token=token)))
    except MlflowException as exc:
        notes.append(scrub_text(f"model registry not readable, registered versions not mirrored: {exc.message}"))
    return TrackingSnapshot(runs, logged, versions, notes)


def _resolver(client: MlflowClient, tracking_uri: str) -> Callable[[str], str | None]:
    """Resolves models:/<name>@<alias>, models:/<name>/latest and models:/<model id> through the server."""
    from mlflow.exceptions import MlflowException

    def resolve(uri: str) -> str | None:
        rest = uri[len("models:/"):].strip("/")
        try:
            if "@" in rest:
                name, alias = rest.split("@", 1)
                version = client.get_model_version_by_alias(name, alias)
                return naming.mlflow_model_version(tracking_uri, version.name, version.version)
            if rest.endswith("/latest"):
                name = rest[: -len("/latest")]
                latest = max((int(v.version) for v in client.search_model_versions(f"name = '{name}'")), default=None)
                return None if latest is None else naming.mlflow_model_version(tracking_uri, name, latest)
            if "/" not in rest:
                model = client.get_logged_model(rest)
                if model.source_run_id:
                    return naming.mlflow_logged_model(tracking_uri, model.source_run_id, model.name)
        except MlflowException:
            return None
        return None

    return resolve


def map_runs(snapshot: TrackingSnapshot, tracking_uri: str,
             resolve: Callable[[str], str | None] | None = None) -> tuple[list[RunMapping], list[tuple[str, str]]]:
    """Every run as a training run spec, oldest first; runs that cannot be mapped as (run id, why)."""
    model_ids = {m.model_id: naming.mlflow_logged_model(tracking_uri, m.source_run_id, m.name)
                 for m in snapshot.logged_models if m.source_run_id}
    logged_by_run: dict[str, list[LoggedModel]] = {}
    for m in snapshot.logged_models:
        if m.source_run_id:
            logged_by_run.setdefault(m.source_run_id, []).append(m)
    versions_by_run: dict[str, list[ModelVersion]] = {}
    for v in snapshot.versions:
        if v.run_id:
            versions_by_run.setdefault(v.run_id, []).append(v)
    mapped, failed = [], []
    for run in sorted(snapshot.runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        run_id = run.info.run_id
        try:
            mapped.append(run_mapping(run, tracking_uri=tracking_uri, logged_models=logged_by_run.get(run_id, []),
                                      model_versions=versions_by_run.get(run_id, []), resolve=resolve,
                                      model_ids=model_ids))
        except (ValueError, AtlasMlError) as exc:  # pydantic's ValidationError is a ValueError
            failed.append((run_id, scrub_text(str(exc))))
    return mapped, failed


# --- writing -----------------------------------------------------------------------------------------------
def _document(mappings: list[RunMapping]) -> CatalogDocument:
    evaluations = [e for m in mappings for e in m.evaluations]
    return CatalogDocument.model_validate({"version": 1, "training_runs": [m.spec for m in mappings],
                                           **({"evaluations": evaluations} if evaluations else {})},
                                          context={NAMES_NORMALIZED: True})


def sync_mlflow(registry: Registry, client: MlflowClient, tracking_uri: str, *, experiments: Sequence[str] = (),
                dry_run: bool = False, batch: int = RUNS_PER_BATCH,
                progress: Callable[[str], None] | None = None) -> SyncReport:
    """Mirror the runs of `experiments` (all when empty) into Atlas; see the module's doc."""
    say = progress or (lambda _: None)
    report = SyncReport(scrub_uri(tracking_uri), dry_run=dry_run)
    started = time.monotonic()
    snapshot = read_tracking(client, list(experiments), tracking_uri)
    report.runs_seen = len(snapshot.runs)
    report.notes += snapshot.notes
    say(f"read {len(snapshot.runs)} runs, {len(snapshot.logged_models)} logged models and "
        f"{len(snapshot.versions)} model versions from MLflow in {time.monotonic() - started:.1f} s")
    mapped, report.failed = map_runs(snapshot, tracking_uri, _resolver(client, tracking_uri))
    mapped = _known_licenses(mapped, registry, report)
    run_ids = {r.info.run_id for r in snapshot.runs}
    without_run = sum(1 for v in snapshot.versions if not v.run_id)
    elsewhere = sum(1 for v in snapshot.versions if v.run_id and v.run_id not in run_ids)
    if without_run:
        report.notes.append(f"{without_run} model version(s) registered without a run: not mirrored (no lineage)")
    if elsewhere:
        report.notes.append(f"{elsewhere} model version(s) of runs outside the synced experiments: not mirrored")
    for m in mapped:
        outputs = [*m.spec.outputs, *(o for e in m.evaluations for o in e.outputs)]
        report.version_names |= {o.qualified_name for o in outputs if o.version is not None}
        if m.spec.unresolved_inputs or not m.spec.inputs:
            report.incomplete.append((m.mlflow_run_id, m.spec.unresolved_inputs or ["no input dataset logged"]))
        if m.evaluation_datasets:
            report.evaluation.append((m.mlflow_run_id, m.evaluation_datasets))
    for start in range(0, len(mapped), batch):
        chunk = mapped[start:start + batch]
        _apply(registry, chunk, report, dry_run)
        if len(mapped) > batch:
            say(f"{'planned' if dry_run else 'synced'} {min(start + batch, len(mapped))}/{len(mapped)} runs")
    return report


def _known_licenses(mapped: list[RunMapping], registry: Registry, report: SyncReport) -> list[RunMapping]:
    """The runs whose models name licenses of the catalog; the others are reported as failed now, so that a
    typo in one `license` tag does not make its whole batch go run by run."""
    from atlas_mlplugin.licenses.catalog import UnknownLicenseError

    kept = []
    for m in mapped:
        try:
            for model in [*m.spec.outputs, *(o for e in m.evaluations for o in e.outputs)]:
                if model.license is not None:
                    registry.catalog.get(model.license)
        except UnknownLicenseError as exc:
            report.failed.append((m.mlflow_run_id, scrub_text(f"the MLflow tag license: {exc}")))
            continue
        kept.append(m)
    return kept


def _apply(registry: Registry, chunk: list[RunMapping], report: SyncReport, dry_run: bool) -> None:
    try:
        result = apply_catalog(_document(chunk), registry, dry_run=dry_run)
    except Exception as exc:  # noqa: BLE001 - one bad run must not stop the others: retried one by one
        if len(chunk) == 1:
            report.failed.append((chunk[0].mlflow_run_id, scrub_text(f"{type(exc).__name__}: {exc}")))
            log.warning("MLflow run %s not synced: %s", chunk[0].mlflow_run_id, exc)
            return
        for one in chunk:
            _apply(registry, [one], report, dry_run)
        return
    report.entries += result.entries
    report.writes += result.writes


# --- one sync at a time per tracking URI -------------------------------------------------------------------
def lock_path(tracking_uri: str, base: Path | None = None) -> Path:
    import platformdirs

    root = base or Path(os.environ.get("ATLAS_ML_SYNC_LOCK_DIR") or
                        Path(platformdirs.user_cache_dir("atlas-mlplugin")) / "sync-locks")
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(naming.mlflow_tracking_uri(tracking_uri).encode()).hexdigest()[:24]
    return root / f"mlflow-{digest}.lock"


@contextmanager
def sync_lock(tracking_uri: str, timeout: float | None, on_wait: Callable[[str], None] | None = None
              ) -> Iterator[None]:
    """Hold the lock of this tracking URI; SyncBusyError when another sync still holds it after `timeout`."""
    from atlas_mlplugin.filelock import exclusive

    owner = f"atlas-ml sync mlflow, pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}"
    path = lock_path(tracking_uri)
    with exclusive(path, timeout, owner=owner, on_wait=on_wait) as got:
        if not got:
            raise SyncBusyError(f"another sync of {scrub_uri(tracking_uri)} is still running "
                                f"(held by {_holder(path)}); wait for it, or give --lock-timeout "
                                "more seconds")
        yield


def _holder(path: Path) -> str:
    from atlas_mlplugin.filelock import holder_of

    return holder_of(path) or "holder unknown"
