"""The governance API for code that must never fail or wait because of Atlas (training jobs, pipelines).

Each call delivers to Atlas at once when it answers quickly, and otherwise keeps the write in the durable
spool for background delivery; it returns "delivered" or "spooled". Only a write Atlas itself rejects
while answering (invalid input, an unknown license) raises; one rejected later from the spool is kept in
the spool's dead letters with the reason (`atlas-ml spool status`). For synchronous calls that raise on
every failure (CLI, CI scripts) use `atlas_mlplugin.governance.GovernanceRegistry`.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from atlas_mlplugin.delivery.deliverer import Deliverer, Outcome
from atlas_mlplugin.delivery.operations import OpKind, RetractRequest, WithdrawConsentRequest, op_of
from atlas_mlplugin.hooks.training import default_deliverer
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, TrainingRunSpec

__all__ = ["record_derivation", "record_training_run", "register_consent", "register_dataset",
           "register_license", "retract_dataset", "withdraw_consent"]


def _submit(kind: OpKind, spec: BaseModel, deliverer: Deliverer | None) -> Outcome:
    return (deliverer or default_deliverer()).submit(op_of(kind, spec))


def register_license(lic: DataLicense, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.REGISTER_LICENSE, lic, deliverer)


def register_consent(rec: ConsentRecordSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.REGISTER_CONSENT, rec, deliverer)


def register_dataset(ds: DatasetSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    # Fingerprint now: the local copy may be gone by the time a spooled write is delivered.
    return _submit(OpKind.REGISTER_DATASET, ds.fingerprinted(), deliverer)


def record_derivation(d: DerivationSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.RECORD_DERIVATION, d.model_copy(update={"outputs": [o.fingerprinted() for o in d.outputs]}),
                   deliverer)


def record_training_run(run: TrainingRunSpec, *, deliverer: Deliverer | None = None) -> Outcome:
    fingerprinted = run.model_copy(update={"outputs": [m.fingerprinted() for m in run.outputs]})
    return _submit(OpKind.RECORD_TRAINING_RUN, fingerprinted, deliverer)


def retract_dataset(qualified_name: str, reason: str, *, when: date | None = None, notice_url: str | None = None,
                    deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.RETRACT_DATASET, RetractRequest(qualified_name=qualified_name, reason=reason, when=when,
                                                     notice_url=notice_url), deliverer)


def withdraw_consent(qualified_name: str, *, when: datetime | None = None,
                     deliverer: Deliverer | None = None) -> Outcome:
    return _submit(OpKind.WITHDRAW_CONSENT, WithdrawConsentRequest(qualified_name=qualified_name, when=when), deliverer)
