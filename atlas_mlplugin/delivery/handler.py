"""How each spooled operation is applied to Atlas, through the registry.

Every operation is an idempotent upsert (or a re-derivation of tags), so delivering one twice, e.g. after
a crash between delivery and deleting its spool file, changes nothing: at-least-once delivery without
duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atlas_mlplugin.delivery.operations import OpKind, RetractRequest, WithdrawConsentRequest
from atlas_mlplugin.delivery.spool import SpoolOp
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.model import ConsentRecordSpec, DataLicense, DatasetSpec, DerivationSpec, TrainingRunSpec
from atlas_mlplugin.model.assets import NAMES_NORMALIZED

# Spooled specs were normalised when they were submitted (maybe in another working directory).
_SPOOLED = {NAMES_NORMALIZED: True}


def apply_op(registry: GovernanceRegistry, kind: str, payload: dict[str, Any]) -> None:
    try:
        known = OpKind(kind)
    except ValueError:
        raise ValueError(f"unknown spool operation {kind!r}; this version of atlas-mlplugin cannot apply it") from None
    match known:
        case OpKind.REGISTER_LICENSE:
            registry.register_license(DataLicense.model_validate(payload, context=_SPOOLED))
        case OpKind.REGISTER_CONSENT:
            registry.register_consent(ConsentRecordSpec.model_validate(payload, context=_SPOOLED))
        case OpKind.REGISTER_DATASET:
            registry.register_dataset(DatasetSpec.model_validate(payload, context=_SPOOLED))
        case OpKind.RECORD_DERIVATION:
            registry.record_derivation(DerivationSpec.model_validate(payload, context=_SPOOLED))
        case OpKind.RECORD_TRAINING_RUN:
            registry.record_training_run(TrainingRunSpec.model_validate(payload, context=_SPOOLED))
        case OpKind.RETRACT_DATASET:
            req = RetractRequest.model_validate(payload)
            registry.retract_dataset(req.qualified_name, req.reason, when=req.when, notice_url=req.notice_url)
        case OpKind.WITHDRAW_CONSENT:
            wreq = WithdrawConsentRequest.model_validate(payload)
            registry.withdraw_consent(wreq.qualified_name, when=wreq.when)


def registry_handler(registry: GovernanceRegistry) -> Callable[[SpoolOp], None]:
    """The spool's handler: apply one operation to Atlas through the registry."""

    def handle(op: SpoolOp) -> None:
        apply_op(registry, op.kind, op.payload)

    return handle
