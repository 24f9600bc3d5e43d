"""How each spooled operation is applied to Atlas, through the registry, once our types are there.

Every operation is an idempotent upsert (or a re-derivation of tags), so delivering one twice, e.g. after
a crash between delivery and deleting its spool file, changes nothing: at-least-once delivery without
duplicates.

Our types must exist before a write can succeed. A freshly (re)started Atlas may not have them yet (the
local server applies them after start, a real one after `atlas-ml typedefs apply`), and every write would
then fail with "type does not exist", which used to dead-letter the whole spool. So `TypedefGuard` checks
them before the first write (and after Atlas was unreachable, since it may come back without them), creates
what is missing, and, when Atlas still says a type does not exist, applies them again and retries the write
once. The check is one read of the server's typedefs; it is not repeated while writes succeed.

This is the `rest` transport's handler; transport/registry.py picks a transport's handler by name (the kafka
one is transport/hooks.py) and guards it the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from atlas_mlplugin.atlas.errors import AtlasHTTPError
from atlas_mlplugin.atlas.typedefs import TypedefServer, TypedefValidationError, apply
from atlas_mlplugin.delivery.operations import OpKind, RetractRequest, WithdrawConsentRequest
from atlas_mlplugin.delivery.spool import SpoolOp
from atlas_mlplugin.delivery.transient import AtlasNotReadyError, FailureKind, classify, is_missing_type
from atlas_mlplugin.governance.registry import GovernanceRegistry
from atlas_mlplugin.model import (
    ConsentRecordSpec,
    DataLicense,
    DatasetSpec,
    DerivationSpec,
    EvaluationRunSpec,
    TrainingRunSpec,
)
from atlas_mlplugin.model.assets import NAMES_NORMALIZED
from atlas_mlplugin.scrubbing import logger

log = logger(__name__)
T = TypeVar("T")

# Spooled specs were normalised when they were submitted (maybe in another working directory).
_SPOOLED = {NAMES_NORMALIZED: True}


class TypedefGuard:
    """Makes sure our type definitions exist on the server before writes that need them (thread-safe)."""

    def __init__(self, server: TypedefServer, root: Path | None = None) -> None:
        self.server = server
        self.root = root  # None: the package's typedefs/
        self._verified = False
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Create our missing types (and update older versions of ours); a no-op once verified.

        Raises the client's error when Atlas cannot be reached, and AtlasNotReadyError when it answers but
        our typedefs cannot be applied (no permission to create types, a conflicting definition), since
        then no write of ours can succeed: the queues keep everything, in order, until that is fixed."""
        if self._verified:
            return
        with self._lock:
            if self._verified:
                return
            try:
                plan = apply(self.server, self.root, dry_run=True)
                if plan.created:
                    log.warning("Atlas lacks %d of our types (%s); creating them before delivering writes",
                                len(plan.created), ", ".join(name for _, name, _ in plan.created[:5]))
                    self._apply()
            except (TypedefValidationError, FileNotFoundError) as exc:
                raise AtlasNotReadyError(f"our type definitions cannot be applied to Atlas: {exc}; "
                                         "run `atlas-ml typedefs apply` to see why") from exc
            except AtlasHTTPError as exc:
                if classify(exc) is FailureKind.UNAVAILABLE:
                    raise
                raise AtlasNotReadyError(f"Atlas refused our type definitions: {exc}; run `atlas-ml typedefs "
                                         "apply` with a user allowed to create types") from exc
            self._verified = True

    def _apply(self) -> None:
        try:
            apply(self.server, self.root)
        except AtlasHTTPError:
            # Another process may have created the same types a moment before us (Atlas then refuses ours
            # as existing). Fine if nothing is missing now; otherwise the refusal stands.
            if apply(self.server, self.root, dry_run=True).created:
                raise

    def invalidate(self) -> None:
        """Check again before the next write (Atlas was unreachable: it may have restarted without them)."""
        self._verified = False

    def run(self, write: Callable[[], T]) -> T:
        """`write()` once our types exist; when Atlas says a type does not exist, apply them and retry once."""
        self.ensure()
        try:
            return write()
        except Exception as exc:
            if is_missing_type(exc):
                log.warning("Atlas says a type does not exist (%s); applying our typedefs and retrying",
                            str(exc).splitlines()[0])
                self.invalidate()
                self.ensure()
                return write()
            if classify(exc) is FailureKind.UNAVAILABLE:
                self.invalidate()
            raise


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
        case OpKind.RECORD_EVALUATION_RUN:
            registry.record_evaluation_run(EvaluationRunSpec.model_validate(payload, context=_SPOOLED))
        case OpKind.RETRACT_DATASET:
            req = RetractRequest.model_validate(payload)
            registry.retract_dataset(req.qualified_name, req.reason, when=req.when, notice_url=req.notice_url)
        case OpKind.WITHDRAW_CONSENT:
            wreq = WithdrawConsentRequest.model_validate(payload)
            registry.withdraw_consent(wreq.qualified_name, when=wreq.when)


def guarded(guard: TypedefGuard, handler: Callable[[SpoolOp], None]) -> Callable[[SpoolOp], None]:
    """`handler` run through `guard`: our types exist before it writes, and are applied again when missing."""

    def handle(op: SpoolOp) -> None:
        guard.run(lambda: handler(op))

    return handle


def registry_handler(registry: GovernanceRegistry, *, typedefs: TypedefGuard | None = None
                     ) -> Callable[[SpoolOp], None]:
    """The spool's handler: apply one operation to Atlas through the registry, once our types exist
    (`typedefs` defaults to a guard over the registry's client and the package's typedefs)."""
    guard = typedefs if typedefs is not None else TypedefGuard(registry.client)
    return guarded(guard, lambda op: apply_op(registry, op.kind, op.payload))
