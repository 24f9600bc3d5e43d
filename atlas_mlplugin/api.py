"""The governance API for code that must never fail or wait because of Atlas (training jobs, pipelines).

Every call returns an `Outcome` and never raises:

- "delivered": Atlas has the write;
- "spooled": the write is in the durable spool (Atlas is down, slow, or busy with writes before it) and is
  delivered in order in the background, at exit, by the next run or by `atlas-ml spool flush`;
- "rejected": the write was refused or cannot be made: Atlas refused it, its input is invalid (e.g. a
  `local_path` that does not exist), or no spool can hold it while Atlas does not take it. The reason is
  logged and, where a spool exists, the write is kept as a dead letter (`atlas-ml spool status`).

A call waits at most `ATLAS_ML_SUBMIT_WAIT` seconds (1.5 by default) for Atlas, even when Atlas accepts
connections and never answers. Local files named by `local_path` are fingerprinted (sha256) right after the
call, on a separate thread, not in the caller's. Writes that fail later, in the background, follow the
spool's rules (delivery/spool.py). For synchronous calls that raise on every failure (CLI, CI scripts) use
`atlas_mlplugin.governance.GovernanceRegistry`.

How the spooled writes reach Atlas is configured, not coded: over REST by default, or as Atlas hook
notifications on its Kafka topic with ATLAS_ML_TRANSPORT=kafka (or atlas.ml.transport=kafka in the properties
files; transport/hooks.py). With Kafka, "delivered" means Kafka acknowledged the write and Atlas applies it
moments later; retract_dataset and withdraw_consent still go over REST (they change tags of existing entities,
which a hook message cannot), and the REST connection is still read to know what exists.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from pydantic import BaseModel

from atlas_mlplugin.delivery.deliverer import Deliverer, Outcome
from atlas_mlplugin.delivery.operations import OpKind, RetractRequest, WithdrawConsentRequest, op_of
from atlas_mlplugin.hooks.training import default_deliverer
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    EvaluationRunSpec,
    TrainingRunSpec,
)
from atlas_mlplugin.scrubbing import logger

__all__ = ["Outcome", "record_derivation", "record_evaluation_run", "record_training_run", "register_consent",
           "register_dataset", "register_license", "retract_dataset", "withdraw_consent"]

log = logger(__name__)


def _submit(kind: OpKind, spec: Callable[[], BaseModel], deliverer: Deliverer | None) -> Outcome:
    try:
        # Building the request validates it: invalid input is a refused write, not an exception.
        op = op_of(kind, spec())
        return (deliverer or default_deliverer()).submit(op)
    except Exception as exc:  # noqa: BLE001 - this API never raises into the caller
        log.error("atlas-mlplugin did not send %s to Atlas: %s: %s", kind.value, type(exc).__name__, exc)
        return "rejected"


def register_license(lic: DataLicense, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.REGISTER_LICENSE, lambda: lic, deliverer)


def register_consent(rec: ConsentRecordSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.REGISTER_CONSENT, lambda: rec, deliverer)


def register_dataset(ds: DatasetSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    """Register a dataset; a `local_path` is fingerprinted off the caller's thread, right after the call."""
    return _submit(OpKind.REGISTER_DATASET, lambda: ds, deliverer)


def record_derivation(d: DerivationSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.RECORD_DERIVATION, lambda: d, deliverer)


def record_training_run(run: TrainingRunSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.RECORD_TRAINING_RUN, lambda: run, deliverer)


def record_evaluation_run(run: EvaluationRunSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    """Record an evaluation (certification): the model and its evaluation datasets in, the certified
    version(s) out. The evaluation data's tags do not reach the certified version; the release check weighs
    them as limits on the claims made with the results. Goes over REST also with ATLAS_ML_TRANSPORT=kafka
    (it changes how lineage edges propagate, which a hook message cannot)."""
    return _submit(OpKind.RECORD_EVALUATION_RUN, lambda: run, deliverer)


def retract_dataset(qualified_name: str, reason: str, *, when: date | None = None, notice_url: str | None = None,
                    deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.RETRACT_DATASET, lambda: RetractRequest(
        qualified_name=qualified_name, reason=reason, when=when, notice_url=notice_url), deliverer)


def withdraw_consent(qualified_name: str, *, when: datetime | None = None,
                     deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.WITHDRAW_CONSENT, lambda: WithdrawConsentRequest(qualified_name=qualified_name, when=when),
                   deliverer)
